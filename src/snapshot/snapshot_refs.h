// SnapshotRefs: every snapshot in the catalog gets its ref,
// volumes/<uuid>/snapshots/<name>, into the slow store (see snapshotter.h).
//
// A snapshot is committed by its catalog entry; its ref is queued in the
// PairedStore right after (Publish). What may come between: a crash (the
// entry is durable, the ref was never queued), a queueing that fails (the
// upload log refuses), an entry left behind by a catalog write that failed
// (see CaptureLocked). So the set of refs is verified against the catalog:
//
//   Verify: lists the slow store's refs of this volume (one listing), then,
//   holding the lock, lists the catalog and the PairedStore's pending ref
//   uploads, and queues the ref of every entry that is in neither (the
//   value its catalog entry gives). OK once nothing is missing.
//
// The set starts unverified (each mount: a crash may have come between an
// entry and its ref) and becomes unverified again at any failure above
// (MarkUnverified). While unverified a background thread retries Verify,
// every second at first and then at doubling waits up to a minute (the slow
// store may be down at mount), and drain runs Verify itself first (the
// Snapshotter's Drain fails rather than say "done" with a ref unqueued).
//
// Lock(): held by whoever changes the catalog together with refs (a
// snapshot's commit from its catalog entry to its Publish, a delete from its
// ref delete to its catalog removal), so that Verify never queues the ref of
// a snapshot being deleted, nor twice the ref of one being committed.
//
// Thread-safety: every method is safe for concurrent calls. Lock order:
// verify_mu_ -> mu_ (Lock()) -> the PairedStore's and Catalog's own locks;
// state_mu_ is a leaf. The destructor stops the thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "amberfs/status.h"
#include "snapshot/catalog.h"
#include "snapshot/volume_codec.h"
#include "store/paired_store.h"

namespace amberfs {

class SnapshotRefs {
 public:
  // codec seals the ref values (volume_codec.h).
  SnapshotRefs(PairedStore* store, Catalog* catalog, std::string volume_uuid, VolumeCodec codec);
  ~SnapshotRefs();
  SnapshotRefs(const SnapshotRefs&) = delete;
  SnapshotRefs& operator=(const SnapshotRefs&) = delete;

  // Starts the background verification (the set is unverified until then).
  void Start();
  std::unique_lock<std::mutex> Lock() { return std::unique_lock<std::mutex>(mu_); }

  // Queues the ref of committed snapshot `name`; the caller holds Lock(). A
  // failure is logged and marks the set unverified (retried).
  Status Publish(const std::string& name, const Pointer& record);
  void MarkUnverified(const Status& why);
  // See above; OK at once if verified.
  Status Verify();

  bool verified() const;
  uint64_t requeued() const;  // refs Verify found missing and queued

 private:
  Status VerifyOnce();
  void Loop();

  PairedStore* const store_;
  Catalog* const catalog_;
  const std::string uuid_;
  const VolumeCodec codec_;

  std::mutex mu_;         // Lock()
  std::mutex verify_mu_;  // one Verify at a time
  mutable std::mutex state_mu_;
  std::condition_variable wake_;
  bool stop_ = false;       // guarded by state_mu_
  bool verified_ = false;   // guarded by state_mu_
  uint64_t generation_ = 0;  // MarkUnverified calls; guarded by state_mu_
  uint64_t requeued_ = 0;    // guarded by state_mu_
  std::thread thread_;
};

}  // namespace amberfs
