// The automatic-snapshot thread (see auto_snapshots.h).
#include "volume/auto_snapshots.h"

#include <ctime>
#include <string>
#include <vector>

#include "amberfs/log.h"
#include "snapshot/snapshotter.h"

namespace amberfs {
namespace {

uint64_t WallClockNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

AutoSnapshots::AutoSnapshots(Snapshotter* snapshotter, std::chrono::seconds interval, RetentionPolicy keep)
    : snapshotter_(snapshotter), interval_(interval), keep_(keep) {
  stats_.interval = interval;
}

AutoSnapshots::~AutoSnapshots() { Stop(); }

void AutoSnapshots::Start() {
  LOG_INFO("automatic snapshots every %s, keeping %s", FormatSnapshotInterval(interval_).c_str(),
           keep_.empty() ? "all of them" : FormatRetentionPolicy(keep_).c_str());
  thread_ = std::thread([this] { Run(); });
}

void AutoSnapshots::Stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

AutoSnapshotStats AutoSnapshots::Stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void AutoSnapshots::Run() {
  // Ticks are due at start + k*interval; a tick that overran skips the
  // instants it missed instead of running them back to back.
  auto due = std::chrono::steady_clock::now() + interval_;
  while (true) {
    {
      std::unique_lock lk(mu_);
      if (wake_.wait_until(lk, due, [this] { return stopping_; })) return;
    }
    Tick();
    const auto now = std::chrono::steady_clock::now();
    while (due <= now) due += interval_;
  }
}

void AutoSnapshots::Tick() {
  const std::string name = AutoSnapshotName(WallClockNs());
  Result<SnapshotReply> reply = snapshotter_->Snapshot(name);
  {
    std::lock_guard lk(mu_);
    ++(reply.ok() ? stats_.snapshots_ok : stats_.snapshots_failed);
  }
  if (reply.ok()) {
    LOG_INFO("automatic snapshot %s: %llu chunks, %llu new blobs, %.1f ms", name.c_str(),
             (unsigned long long)reply->chunks_captured, (unsigned long long)reply->new_blobs,
             reply->duration.count() / 1e6);
  } else {
    LOG_ERROR("automatic snapshot %s failed (tried again in %s): %s", name.c_str(),
              FormatSnapshotInterval(interval_).c_str(), reply.status().ToString().c_str());
  }
  // Retention runs whether or not this snapshot succeeded: a failed delete of
  // the previous tick is retried here.
  ApplyRetention();
}

void AutoSnapshots::ApplyRetention() {
  if (keep_.empty()) return;
  Result<std::vector<SnapshotInfo>> listed = snapshotter_->List();
  if (!listed.ok()) {
    LOG_ERROR("automatic snapshots: cannot list snapshots for retention: %s", listed.status().ToString().c_str());
    std::lock_guard lk(mu_);
    ++stats_.forget_failures;
    return;
  }
  std::vector<TimedSnapshot> automatic;
  for (const SnapshotInfo& s : *listed) {
    if (IsAutoSnapshotName(s.name)) automatic.push_back({s.name, s.created_ns});
  }
  const std::vector<std::string> forget = SnapshotsToForget(std::move(automatic), keep_);
  uint64_t deleted = 0;
  // Oldest first: if a delete fails midway, what remains is the newest.
  for (auto it = forget.rbegin(); it != forget.rend(); ++it) {
    Status st = snapshotter_->Delete(*it);
    std::lock_guard lk(mu_);
    if (st.ok()) {
      ++deleted;
      ++stats_.forgotten;
    } else {
      ++stats_.forget_failures;
      LOG_ERROR("automatic snapshots: retention could not delete %s (tried again next time): %s", it->c_str(),
                st.ToString().c_str());
    }
  }
  if (deleted != 0) {
    LOG_INFO("automatic snapshots: retention (%s) deleted %llu", FormatRetentionPolicy(keep_).c_str(),
             (unsigned long long)deleted);
    gc_pending_ = true;
  }
  if (!gc_pending_) return;
  Result<GcReply> gc = snapshotter_->Gc();
  std::lock_guard lk(mu_);
  if (gc.ok()) {
    gc_pending_ = false;
    ++stats_.gcs;
  } else {
    ++stats_.gc_failures;
    LOG_ERROR("automatic snapshots: gc after retention failed (tried again next time): %s",
              gc.status().ToString().c_str());
  }
}

}  // namespace amberfs
