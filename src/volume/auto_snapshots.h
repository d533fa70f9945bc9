// AutoSnapshots: the thread behind the `snapshot_interval=` and `keep=` mount
// options of a read-write volume.
//
// Every interval (on the monotonic clock; the first one interval after
// Start) it takes a snapshot named AutoSnapshotName(now) (amberfs/retention.h),
// then applies the retention policy to the automatic snapshots only (a name a
// user gave is never touched: the ctl refuses automatic names), deleting what
// the policy does not keep, oldest first, and then runs gc if it deleted
// anything (or the last such gc failed). gc runs at most once per interval by
// construction: one tick runs
// at a time, and a tick that overruns its interval delays the next rather than
// stacking ticks up.
//
// Nothing here blocks writers beyond what any snapshot does (the capture
// barrier). A failed snapshot, delete or gc (the slow store is down, the disk
// is full, a user's rollback holds the snapshotter: EBUSY) is logged, counted
// and tried again at the next tick; it never stops the thread.
//
// Stop() (and the destructor) wakes the thread and waits for the tick that is
// running, so a volume closes with the policy applied to every automatic
// snapshot it took. It must run before the Snapshotter is closed.
//
// Thread-safety: Stats() from any thread; Start/Stop from the owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "amberfs/retention.h"

namespace amberfs {

class Snapshotter;

struct AutoSnapshotStats {
  std::chrono::seconds interval{0};
  uint64_t snapshots_ok = 0;
  uint64_t snapshots_failed = 0;
  uint64_t forgotten = 0;        // automatic snapshots deleted by retention
  uint64_t forget_failures = 0;  // deletes (or the listing before them) that failed
  uint64_t gcs = 0;
  uint64_t gc_failures = 0;
};

class AutoSnapshots {
 public:
  // Takes no ownership; `snapshotter` must outlive Stop().
  AutoSnapshots(Snapshotter* snapshotter, std::chrono::seconds interval, RetentionPolicy keep);
  ~AutoSnapshots();
  AutoSnapshots(const AutoSnapshots&) = delete;
  AutoSnapshots& operator=(const AutoSnapshots&) = delete;

  void Start();
  void Stop();
  AutoSnapshotStats Stats() const;

 private:
  void Run();
  void Tick();
  void ApplyRetention();

  Snapshotter* const snapshotter_;
  const std::chrono::seconds interval_;
  const RetentionPolicy keep_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  AutoSnapshotStats stats_;
  bool gc_pending_ = false;  // a retention delete whose gc has not succeeded yet (the thread's own)
  std::thread thread_;
};

}  // namespace amberfs
