// amberctl list: the snapshots of a volume from its catalog, mounted or not
// (amberfs/snapshot_listing.h does the reading and says what each figure
// means). Three forms:
//   table   NAME, CREATED (UTC), LOGICAL, STORED, UNIQUE, UPLOADED; a figure
//           that is unknown is "?" and a note under the table says why
//   --json  one object: {"volume": ..., "snapshots": [{...}, ...]}, sizes in
//           bytes, unknown figures null
//   --names the names alone, one a line (no tree walk, no slow store: what
//           shell completion uses)
#pragma once

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "amberctl_util.h"
#include "amberfs/snapshot_listing.h"

namespace amberctl {

enum class ListFormat { kTable, kJson, kNames };

inline std::string JsonNumber(const std::optional<uint64_t>& v) { return v ? std::to_string(*v) : "null"; }

inline void PrintListJson(const std::string& voldir, const std::vector<amberfs::SnapshotListing>& list) {
  std::printf("{\"volume\": %s, \"snapshots\": [", JsonString(voldir).c_str());
  for (size_t i = 0; i < list.size(); ++i) {
    const amberfs::SnapshotListing& s = list[i];
    std::string uploaded = s.uploaded ? (*s.uploaded ? "true" : "false") : "null";
    std::printf(
        "%s\n  {\"name\": %s, \"created\": %s, \"created_ns\": %llu, \"record\": %s, \"logical_bytes\": %s, "
        "\"stored_bytes\": %s, \"unique_bytes\": %s, \"uploaded\": %s, \"problem\": %s}",
        i ? "," : "", JsonString(s.name).c_str(), JsonString(UtcTime(s.created_ns)).c_str(),
        static_cast<unsigned long long>(s.created_ns), JsonString(s.record).c_str(), JsonNumber(s.logical_bytes).c_str(),
        JsonNumber(s.stored_bytes).c_str(), JsonNumber(s.unique_bytes).c_str(), uploaded.c_str(),
        s.problem.empty() ? "null" : JsonString(s.problem).c_str());
  }
  std::printf("%s]}\n", list.empty() ? "" : "\n");
}

inline void PrintListTable(const std::vector<amberfs::SnapshotListing>& list) {
  if (list.empty()) {
    std::printf("no snapshots\n");
    return;
  }
  size_t width = 4;
  for (const auto& s : list) width = std::max(width, s.name.size());
  auto size = [](const std::optional<uint64_t>& v) { return v ? HumanBytes(*v) : std::string("?"); };
  std::printf("%-*s  %-20s  %10s  %10s  %10s  %s\n", static_cast<int>(width), "NAME", "CREATED (UTC)", "LOGICAL",
              "STORED", "UNIQUE", "UPLOADED");
  std::vector<std::string> notes;
  for (const auto& s : list) {
    const char* uploaded = s.uploaded ? (*s.uploaded ? "yes" : "no") : "?";
    std::printf("%-*s  %-20s  %10s  %10s  %10s  %s\n", static_cast<int>(width), s.name.c_str(),
                UtcTime(s.created_ns).c_str(), size(s.logical_bytes).c_str(), size(s.stored_bytes).c_str(),
                size(s.unique_bytes).c_str(), uploaded);
    if (!s.problem.empty()) notes.push_back(s.name + ": " + s.problem);
  }
  for (const std::string& n : notes) std::printf("note: %s\n", n.c_str());
}

inline int RunList(const std::string& voldir, ListFormat format, const std::string& s3_credentials,
                   const std::string& key_file) {
  amberfs::ListSnapshotsOptions o;
  o.sizes = o.uploads = format != ListFormat::kNames;
  o.s3_credentials = s3_credentials;
  o.key_file = key_file;
  auto list = amberfs::ListVolumeSnapshots(voldir, o);
  if (!list.ok()) return Fail(list.status().message());
  switch (format) {
    case ListFormat::kNames:
      for (const auto& s : *list) std::printf("%s\n", s.name.c_str());
      break;
    case ListFormat::kJson: PrintListJson(voldir, *list); break;
    case ListFormat::kTable: PrintListTable(*list); break;
  }
  return kExitOk;
}

}  // namespace amberctl
