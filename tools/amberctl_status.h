// amberctl status: a human summary of MNT/stats (Prometheus text, see
// docs/FORMATS.md "stats metrics") and of who has the volume.
//
// The summary names what it finds and leaves out what the stats do not have
// (a read-only mount has no snapshot metrics). An operation under way
// (amberfs_operation_running 1) gets a line with its done and goal figures.
#pragma once

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "amberctl_util.h"
#include "amberfs/snapshot_listing.h"
#include "amberfs/status.h"
#include "amberfs/volume_holder.h"

namespace amberctl {

struct Sample {
  std::string name;
  std::string labels;  // the text between the braces, "" if none
  double value = 0;
};

class Stats {
 public:
  static amberfs::Result<Stats> Read(const std::string& path) {
    std::ifstream in(path);
    if (!in) return amberfs::Status::FromErrno(errno, "open " + path);
    Stats s;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      size_t name_end = line.find_first_of("{ ");
      size_t value_at = line.rfind(' ');
      if (name_end == std::string::npos || value_at == std::string::npos) continue;
      Sample sample;
      sample.name = line.substr(0, name_end);
      if (line[name_end] == '{') sample.labels = line.substr(name_end + 1, line.find('}') - name_end - 1);
      sample.value = std::strtod(line.c_str() + value_at + 1, nullptr);
      s.samples_.push_back(std::move(sample));
    }
    return s;
  }

  std::optional<double> Get(const std::string& name, const std::string& label = "") const {
    for (const Sample& s : samples_) {
      if (s.name == name && (label.empty() || s.labels.find(label) != std::string::npos)) return s.value;
    }
    return std::nullopt;
  }
  const Sample* First(const std::string& name) const {
    for (const Sample& s : samples_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }
  const std::vector<Sample>& samples() const { return samples_; }

 private:
  std::vector<Sample> samples_;
};

inline std::string Count(std::optional<double> v) {
  return v ? std::to_string(static_cast<unsigned long long>(std::llround(*v))) : "?";
}
inline std::string Bytes(std::optional<double> v) {
  return v ? HumanBytes(static_cast<uint64_t>(std::llround(*v))) : "?";
}
// A label's value in a label text: key="value".
inline std::string LabelValue(const std::string& labels, const std::string& key) {
  size_t at = labels.find(key + "=\"");
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  return labels.substr(at, labels.find('"', at) - at);
}

inline void PrintStatsLines(const Stats& st) {
  auto line = [](const char* what, const std::string& text) { std::printf("%-12s %s\n", what, text.c_str()); };
  auto hits = st.Get("amberfs_cache_hits_total"), misses = st.Get("amberfs_cache_misses_total");
  std::string ratio = "-";
  if (hits && misses && *hits + *misses > 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f%%", 100 * *hits / (*hits + *misses));
    ratio = buf;
  }
  line("cache", Bytes(st.Get("amberfs_cache_bytes")) + " of " + Bytes(st.Get("amberfs_cache_budget_bytes")) +
                    ", hit ratio " + ratio + " (" + Count(hits) + " hits, " + Count(misses) + " misses)");
  line("dirty", Bytes(st.Get("amberfs_dirty_bytes")) + " (cap " + Bytes(st.Get("amberfs_dirty_max_bytes")) + "), " +
                    Count(st.Get("amberfs_throttled_writes_total")) + " writes throttled");
  line("write-back", Bytes(st.Get("amberfs_writeback_bytes_total")) + " in " +
                         Count(st.Get("amberfs_writeback_requests_total")) + " requests, " +
                         Count(st.Get("amberfs_fsyncs_total")) + " fsyncs");
  const Sample* io = st.First("amberfs_io_backend_info");
  if (io) {
    std::string reason = LabelValue(io->labels, "fallback_reason");
    line("io", LabelValue(io->labels, "backend") + (reason.empty() ? "" : " (fallback: " + reason + ")"));
  }
  line("errors", "write-back " + Count(st.Get("amberfs_errors_total", "kind=\"writeback\"")) + ", fsync " +
                     Count(st.Get("amberfs_errors_total", "kind=\"fsync\"")) + ", FUSE requests " +
                     Count(st.Get("amberfs_fuse_errors_total")) + ", ctl " + Count(st.Get("amberfs_ctl_errors_total")));
  if (st.Get("amberfs_snapshots_total")) {
    std::string text = Count(st.Get("amberfs_snapshots_total")) + " taken since the mount, " +
                       Count(st.Get("amberfs_snapshot_failures_total")) + " failed";
    auto took = st.Get("amberfs_snapshot_last_duration_seconds");
    auto held = st.Get("amberfs_snapshot_last_barrier_seconds");
    if (took && *took > 0) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "; the last took %.3f s, writers held %.6f s", *took, held ? *held : 0.0);
      text += buf;
    }
    line("snapshots", text);
    line("uploads", Count(st.Get("amberfs_upload_pending")) + " pending, " + Count(st.Get("amberfs_uploaded_total")) +
                        " done, " + Count(st.Get("amberfs_upload_errors_total")) + " errors (retried), " +
                        Count(st.Get("amberfs_upload_lost_total")) + " lost; fast store " +
                        Bytes(st.Get("amberfs_fast_store_bytes")));
  }
  for (const Sample& s : st.samples()) {
    if (s.name != "amberfs_operation_running" || s.value != 1) continue;
    const std::string op = "operation=\"" + LabelValue(s.labels, "operation") + "\"";
    line("in progress", LabelValue(s.labels, "operation") + ": " + Count(st.Get("amberfs_operation_done", op)) +
                            " of " + Count(st.Get("amberfs_operation_goal", op)));
  }
}

// The catalog line: how many snapshots, the newest one (no tree walk).
inline void PrintCatalogLine(const std::string& voldir) {
  amberfs::ListSnapshotsOptions o;
  o.sizes = false;
  o.uploads = false;
  auto list = amberfs::ListVolumeSnapshots(voldir, o);
  std::string text;
  if (!list.ok()) text = "unreadable: " + list.status().message();
  else if (list->empty()) text = "no snapshots";
  else text = std::to_string(list->size()) + ", the newest " + list->back().name + " at " + UtcTime(list->back().created_ns);
  std::printf("%-12s %s\n", "catalog", text.c_str());
}

inline int RunStatus(const std::string& voldir, const std::string& mnt) {
  auto holder = amberfs::FindVolumeHolder(voldir);
  std::string who = holder.ok() && *holder ? ", daemon pid " + std::to_string((*holder)->pid) : "";
  if (mnt.empty()) {
    std::printf("%-12s %s, not mounted%s\n", "volume", voldir.c_str(),
                holder.ok() && *holder ? (" (held by: " + (*holder)->what + ")").c_str() : "");
    PrintCatalogLine(voldir);
    return kExitOk;
  }
  auto st = Stats::Read(mnt + "/stats");
  if (!st.ok()) return Fail(st.status().message());
  struct stat vs;
  const bool ro = ::stat((mnt + "/volume").c_str(), &vs) == 0 && (vs.st_mode & 0200) == 0;
  std::printf("%-12s %s, %s, mounted at %s%s%s\n", "volume", voldir.c_str(),
              Bytes(st->Get("amberfs_volume_size_bytes")).c_str(), mnt.c_str(), ro ? " read-only" : "", who.c_str());
  PrintStatsLines(*st);
  PrintCatalogLine(voldir);
  return kExitOk;
}

}  // namespace amberctl
