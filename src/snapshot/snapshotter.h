// Snapshotter: point-in-time snapshots of a volume, reading them, rollback,
// delete, gc and drain. It keeps the invariants "changes marked before data",
// "point-in-time snapshots", "blobs before refs", "verified blobs" and "slow
// store first on delete".
//
// Parts (none owned; the Volume owns them and they must outlive this object):
// the Conductor, the ChangeTracker (which chunks changed since the last
// committed snapshot), a PairedStore (fast = VOLDIR/fast, slow = the volume's
// URL) and the Catalog. Wiring, in this order:
//   snap = Snapshotter::Open(tracker, paired, catalog, options);
//   conductor options.observer = snap->observer();  // copy-before-write, then the tracker
//   conductor = Conductor::Open(...);  snap->Attach(conductor);
// and every write and discard of the volume goes through snap->Write and
// snap->Discard (not the Conductor directly): they hold the write barrier
// (write_barrier.h).
//
// Capture protocol (`Snapshot`):
//   1. Under the write barrier held exclusively (it waits for the writes in
//      flight, then blocks new ones for a few microseconds, never for I/O):
//      ChangeTracker::BeginCapture, the capture set C is copied into a
//      per-chunk state array (pending), and the capture becomes visible to the
//      copy-before-write observer. That instant is the snapshot's time.
//   2. Capture workers claim pending chunks of C (pending -> claimed, a CAS),
//      read them with Conductor::ReadAtUncached (the scan does not fill the
//      cache), mark each done as soon as its old bytes are in the worker's
//      buffer, hash them on every core (ChunkHasher), and Put each distinct
//      non-null blob into the snapshot's PutBatch in parallel (one the fast
//      store holds already is not written again but is still queued for
//      upload: its slow copy may have been swept).
//      A writer whose range touches a pending chunk of C saves the old 4 KiB
//      blocks its write covers (SaveBlocks) before its write proceeds; the
//      chunk stays pending, and its claimer lays those blocks over what it
//      reads (ClaimWithSaved; workers take such chunks first). A write
//      covering the whole chunk, a clone's, or one finding cow memory full
//      claims the chunk and copies all of it (CopyChunk: to memory up to
//      cow_memory_bytes, else hashed and Put inline). A writer meeting a
//      chunk claimed by someone else waits for it to be done (read). Chunks
//      outside C are unchanged since the base snapshot and need no copy.
//      A failure in a writer's copy never fails the write: it fails the
//      snapshot.
//   3. IndexTree::Update(base root, captured chunks) (null pointers for
//      all-zero chunks), the record blob (snapshot_record.h; parent = base),
//      Conductor::Flush (the tracker's rule before CommitCapture), the
//      catalog entry (the commit point), the base file, CommitCapture, and
//      finally the ref volumes/<uuid>/snapshots/<name> queued behind every
//      blob in the PairedStore (uploaded only once all its blobs are there).
//   Any failure before the catalog entry: AbortCapture (the marks return to
//   the active set, so the next snapshot includes those chunks), nothing in
//   the catalog; blobs already stored are left for gc. A catalog write that
//   fails once the entry is in place (its directory fsync) removes the entry
//   again. From the entry to the ref, SnapshotRefs's lock is held; a ref that
//   cannot be queued is queued later by SnapshotRefs (snapshot_refs.h),
//   which also checks every catalog entry against the slow store's refs at
//   Open; Drain verifies first and fails rather than report done without.
//
// Base: the record of the last committed snapshot (VOLDIR/snapshot-base; its
// format is in snapshot_pointers.h). The tracker's marks are relative to it,
// so a snapshot is Update(base root, marked chunks); rollback diffs against
// it; gc keeps its blobs even after `delete` of that snapshot. Absent means
// "no snapshot yet": the base root is null (the empty volume).
//
// Slow-store refs written here (names in volume_layout.h):
//   volumes/<uuid>/config           a copy of VOLDIR/config, on first use
//   volumes/<uuid>/snapshots/<name> the record pointer (snapshot_pointers.h)
//
// Rollback(name): first the rollback intent (rollback_intent.h) is made
// durable and, under the barrier closed, writes of the volume start to be
// refused (EROFS), so no write can race the rollback. Then every chunk in
// IndexTree::Diff(base root, target root) or marked in the tracker is
// rewritten from the target's blob (or discarded when null) through the
// barrier, then Flush, then the intent is removed and writes are accepted
// again. Those writes mark the tracker as any write does, so the next
// snapshot stays correct against the base, and so a rollback cut off by a
// crash or an error is redone over the same chunks. A rollback that failed
// leaves the intent and keeps refusing writes, snapshots, delete and gc
// (EBUSY) until a rollback succeeds or the next open finishes it
// (ResumeRollback, called once after Attach, before serving): a write
// acknowledged after a failed rollback would otherwise be undone by that redo.
//
// Reading snapshots: OpenSnapshot resolves a name to its record once; reads
// through the handle keep reading that snapshot even after its name is
// deleted and taken again (the record cache is keyed by record pointer).
//
// Delete of the snapshot that is the base first publishes the base ref
// (volumes/<uuid>/base, waiting until it is in the slow store), so that the
// next snapshot's unchanged chunks stay marked for every volume's gc.
//
// Gc: marks every blob reachable from each catalog entry, the base, and each
// snapshot and base ref of every volume in the slow store (volumes/*/snapshots/*, read
// from the slow store itself); sweeps unmarked blobs present in the slow
// store, then the ones present only in the fast store, through
// PairedStore::DeleteBlobs (slow copy first, then fast; none sent to the slow
// store for fast-only ones), then PairedStore::ReclaimDeleted: the fast
// store's packs left with no live blob are removed now, not at the next
// mount (GcReply::freed_fast_bytes). What the slow store holds comes from its
// listing, never a request per blob. Gc runs under the operation lock, so no
// snapshot is in progress. Other volumes sharing the slow store: gc first
// writes locks/gc/<uuid> and fails with EBUSY, sweeping nothing, while any
// other volume holds locks/upload/<uuid> (it has uploads pending, perhaps
// for a snapshot whose ref is not published yet), and looks again after
// marking, before sweeping (a volume writes its marker before it deletes a
// ref while uploads are pending); see slow_store_locks.h. The gc marker is
// refreshed during a long sweep and removed at the end.
//
// Full file system: delete and gc must work when VOLDIR's file system is
// full, since they are how a user frees space. When one fails with ENOSPC,
// it releases a slice of options.space_reserve (space_reserve.h) and tries
// again, while slices last; gc makes the reserve whole again when it is done.
// The delete of the snapshot that is the base is the exception: it first
// needs the base ref in the slow store, which waits for every pending upload
// (a slow store on the same full file system has no room for them), so it
// fails with ENOSPC, changing nothing, and says to delete other snapshots and
// run gc first.
//
// A clone's origin snapshot (options.pinned_snapshot) cannot be deleted
// while chunks of the clone are still remote: their blobs are reached only
// through it (EBUSY, saying to hydrate first).
//
// Errors: EBUSY when another snapshot, rollback or gc runs (one at a time);
// EINVAL for a bad name; EEXIST for a taken name; ENOENT for an unknown
// snapshot; store, tracker and Conductor errors pass through annotated.
//
// Thread-safety and lock order: every method may be called from any thread.
//   op_mu_ (snapshot/rollback/gc/delete; try-locked, EBUSY)
//     -> barrier (WriteBarrier::Closed only around BeginCapture and
//        detaching a capture)
//       -> CaptureState::mu (claim waits, the writer stash)
//   read_mu_ (record and chunk caches) is a leaf, never held across I/O.
//   No lock of this module is held while calling into a store, except that
//   a writer holds the barrier shared for its whole WriteAt/Discard.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/snapshot_info.h"
#include "amberfs/status.h"
#include "base/lru.h"
#include "base/progress.h"
#include "base/space_reserve.h"
#include "cache/conductor.h"
#include "snapshot/catalog.h"
#include "snapshot/change_tracker.h"
#include "snapshot/chunk_hasher.h"
#include "snapshot/volume_codec.h"
#include "snapshot/index_tree.h"
#include "snapshot/repack.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/snapshot_refs.h"
#include "snapshot/write_barrier.h"
#include "store/paired_store.h"

namespace amberfs {

struct SnapshotterOptions {
  std::string voldir;
  std::string volume_uuid;  // text form, as in the volume config
  uint64_t volume_size = 0;
  uint32_t chunk_size = 0;
  uint32_t fanout = IndexGeometry::kDefaultFanout;
  std::string config_text;  // published as volumes/<uuid>/config; empty = not published
  // Read+encode+Put workers of a capture, each encoding its own chunks; 0:
  // one per core (they are CPU-bound: Puts only copy, pack_file.h).
  int capture_threads = 0;
  int hash_threads = -1;    // ChunkHasher pool (-1: cores - 1)
  uint64_t cow_memory_bytes = 64ull << 20;  // writers' old copies held in memory (a volume: max(this, cache/4))
  size_t read_cache_chunks = 32;            // ReadSnapshot's chunk cache
  // Room for delete's and gc's writes on a full file system (not owned;
  // nullptr: none). See "Full file system" above.
  SpaceReserve* space_reserve = nullptr;
  // gc repacks a pack once more than this share of its bytes is dead (repack.h).
  double repack_threshold = kDefaultRepackThreshold;
  // How long gc waits for its repacked packs to reach the slow store before
  // it deletes the old ones there (those it did not wait for go at a later gc).
  std::chrono::milliseconds repack_upload_wait{std::chrono::minutes(10)};
  // The snapshot Delete refuses (EBUSY), "" for none: a clone's origin while
  // some of its chunks are still remote (hydrator.h). Called under op_mu_.
  std::function<std::string()> pinned_snapshot;
  // Whether a chunk is a clone's remote chunk (hydrator.h): a snapshot keeps
  // the base's pointer for it without reading the image. Null: none is.
  std::function<bool(uint64_t chunk)> is_remote;
  // How blobs and refs are stored: compressed, encrypted (volume_codec.h).
  VolumeCodec codec;
  // An encrypted volume's key object, published as volumes/<uuid>/key with
  // the config (empty: not encrypted).
  std::vector<uint8_t> key_object;
};

struct SnapshotReply {
  std::string name;
  Pointer record;
  Pointer root;
  uint64_t chunks_captured = 0;  // chunks read and hashed
  uint64_t cow_chunks = 0;       // of those, copied whole by writers before their write
  uint64_t cow_blocks = 0;       // 4 KiB blocks writers saved of chunks the capture read later
  uint64_t new_blobs = 0;        // blobs Put (chunks, index nodes, the record)
  uint64_t bytes_stored = 0;     // bytes of those blobs as stored (compressed, sealed)
  uint64_t bytes_logical = 0;    // the same blobs' plaintext bytes
  std::chrono::nanoseconds duration{0};
  std::chrono::nanoseconds barrier{0};  // how long writers were held at the capture instant
  std::string ToString() const;  // one line per field, "key value"
};

struct RollbackReply {
  std::string name;
  uint64_t chunks_written = 0;
  uint64_t chunks_discarded = 0;
  std::chrono::nanoseconds duration{0};
  std::string ToString() const;
};

struct GcReply {
  uint64_t reachable = 0;  // distinct blobs marked
  uint64_t deleted_slow = 0;
  uint64_t deleted_fast = 0;
  uint64_t repacked_packs = 0;    // packs whose live blobs gc copied into new packs
  uint64_t repacked_bytes = 0;    // the bytes it copied
  uint64_t freed_slow_bytes = 0;  // packs removed from the slow store (dead, or repacked)
  uint64_t freed_fast_bytes = 0;  // packs removed from the fast store (their every blob deleted)
  uint64_t snapshots_of_other_volumes = 0;
  std::chrono::nanoseconds duration{0};
  std::string ToString() const;
};

struct SnapshotterStats {
  uint64_t snapshots = 0;         // committed by this process
  uint64_t snapshot_failures = 0;
  uint64_t chunks_captured = 0;
  uint64_t cow_chunks = 0;
  uint64_t cow_blocks = 0;
  uint64_t new_blobs = 0;
  uint64_t bytes_stored = 0;
  uint64_t bytes_logical = 0;
  uint64_t last_duration_ns = 0;
  uint64_t last_barrier_ns = 0;  // writers held at the last snapshot's capture instant
  uint64_t rollbacks = 0;
  uint64_t deletes = 0;
  uint64_t gcs = 0;
  uint64_t gc_deleted = 0;
  uint64_t ref_errors = 0;        // refs that could not be queued (logged, retried)
  bool refs_verified = false;     // every catalog snapshot's ref is in the slow store or queued
  uint64_t refs_requeued = 0;     // refs found missing and queued (snapshot_refs.h)
  std::string unfinished_rollback;  // the target of a rollback that has not finished ("" = none)
  // The instant of the newest snapshot committed (unix ns; from the catalog at
  // Open, then each commit); 0 when the volume has none.
  uint64_t last_success_ns = 0;
  // The running (or last) run of each long operation: snapshot and rollback
  // count chunks, gc the unreachable blobs it deletes, drain uploads.
  OperationProgress::Figures snapshot_progress, rollback_progress, gc_progress, drain_progress;
  PairedStats store;              // upload queue depth and errors
};

class Snapshotter {
 public:
  static Result<std::unique_ptr<Snapshotter>> Open(ChangeTracker* tracker, PairedStore* store, Catalog* catalog,
                                                   const SnapshotterOptions& options);
  ~Snapshotter();
  Snapshotter(const Snapshotter&) = delete;
  Snapshotter& operator=(const Snapshotter&) = delete;

  // The Conductor's observer: copy-before-write, then the tracker.
  ChangeObserver* observer();
  // Must be called once, before any other method below.
  void Attach(Conductor* conductor);

  // The volume's write path (holds the barrier shared).
  Status Write(const void* buf, size_t length, uint64_t offset);
  Status Discard(uint64_t offset, uint64_t length);

  // name empty: the default (UTC time).
  Result<SnapshotReply> Snapshot(std::string name);
  Result<RollbackReply> Rollback(std::string_view name);
  Status Delete(std::string_view name);
  Result<GcReply> Gc();
  Status Drain(std::chrono::milliseconds timeout = std::chrono::milliseconds::max());

  // The snapshot that has this name now (ENOENT if none).
  Result<SnapshotHandle> OpenSnapshot(std::string_view name);
  // Reads [off, off+len) of a snapshot; the range must lie inside the
  // snapshot, whose size is its record's (less than the volume's for a
  // snapshot taken before the volume grew).
  Status ReadSnapshot(const SnapshotHandle& snapshot, void* buf, size_t length, uint64_t offset);
  Status ReadSnapshot(std::string_view name, void* buf, size_t length, uint64_t offset);
  // Finishes a rollback that a crash or an error left unfinished, if any.
  Status ResumeRollback();
  // The catalog's snapshots with each one's size (from its record).
  Result<std::vector<SnapshotInfo>> List();
  SnapshotterStats Stats() const;
  uint64_t volume_size() const { return options_.volume_size; }

  class CowObserver;
  struct CaptureState;

 private:
  Snapshotter(ChangeTracker* tracker, PairedStore* store, Catalog* catalog, const SnapshotterOptions& options,
              IndexGeometry geometry);

  Status PublishConfig();
  Status LoadBase();
  // Gc and Delete with op_mu_ held (gc.cc, snapshotter.cc).
  Result<GcReply> GcLocked();
  Status DeleteLocked(const std::string& name, const CatalogEntry& entry);
  // Capture steps (capture.cc), in the order CaptureLocked runs them.
  Result<SnapshotReply> CaptureLocked(const std::string& name);
  Status BeginCaptureInstant(CaptureState* cs, uint64_t* created_ns, std::vector<uint64_t>* chunks);
  Status CaptureChunks(CaptureState* cs, const std::vector<uint64_t>& chunks);
  void DetachCapture();
  Status PublishRefOnce(const std::string& ref, std::span<const uint8_t> want, bool sealed);
  Result<Pointer> StoreRecord(const std::string& name, uint64_t created_ns, const Pointer& root, PutBatch* batch,
                              SnapshotReply* reply);
  void AfterCommit(const std::string& name, const Pointer& record, const Pointer& root);
  // After a failed catalog Add: removes the entry if it is there anyway.
  void DropFailedEntry(const std::string& name, const Pointer& record);
  Status CaptureWorker(CaptureState* cs, const std::vector<uint64_t>& chunks, std::atomic<size_t>* cursor);
  // Hashes, dedups and stores one batch of chunk bytes; records the pointers.
  // here: encode on this thread (a capture worker, a writer's copy), not on
  // the hasher's pool.
  Status StoreChunks(CaptureState* cs, const std::vector<ChunkBytes>& batch, bool here = false);
  // Copy-before-write: the old blocks [lo, hi) of pending chunk c (len
  // bytes) covers, kept for its claimer; false when that is not enough (the
  // write covers all of it, cow memory is full, the chunk is claimed, a
  // clone) and CopyChunk must claim and copy the chunk.
  bool SaveBlocks(CaptureState* cs, uint64_t c, uint64_t len, uint64_t lo, uint64_t hi);
  void CopyChunk(CaptureState* cs, uint64_t c, uint64_t len);
  // Stores up to max_chunks of the writers' stashed copies, then frees their
  // share of cow_memory_bytes.
  Status StoreStashed(CaptureState* cs, size_t max_chunks, bool here = false);
  Status CopyBeforeWrite(uint64_t offset, uint64_t length);
  Result<SnapshotRecord> LoadRecord(const Pointer& record);
  // The record behind a pointer, through the record cache.
  Result<std::shared_ptr<const SnapshotRecord>> CachedRecord(const Pointer& record);
  // The catalog entry of `name` and its record.
  Result<std::pair<CatalogEntry, std::shared_ptr<const SnapshotRecord>>> RecordOf(std::string_view name);
  // Rollback steps (rollback.cc).
  // OK unless a rollback runs or failed; then `err` with a message saying so.
  Status RefuseWhileRollbackUnfinished(int err = EBUSY) const;
  Status BeginRollback(const std::string& name, const Pointer& record);
  Status ApplyRollback(const std::string& name, const SnapshotRecord& target, RollbackReply* reply);
  Status EndRollback();
  Status RollbackWrite(const void* buf, size_t length, uint64_t offset);
  Status RollbackDiscard(uint64_t offset, uint64_t length);
  Result<std::shared_ptr<const std::vector<uint8_t>>> ChunkBlob(const Pointer& ptr);

  ChangeTracker* const tracker_;
  PairedStore* const store_;
  Catalog* const catalog_;
  const SnapshotterOptions options_;
  const IndexGeometry geo_;
  VolumeUuid uuid_{};
  Conductor* conductor_ = nullptr;
  std::unique_ptr<CowObserver> observer_;
  IndexTree tree_;
  ChunkHasher hasher_;

  std::unique_ptr<SnapshotRefs> refs_;  // the refs of the catalog's snapshots

  std::mutex op_mu_;
  // Guarded by op_mu_:
  Pointer base_record_;
  Pointer base_root_;
  uint32_t base_depth_ = 0;  // base_root_'s tree depth (less than geo_'s if the volume grew since)
  bool config_published_ = false;

  WriteBarrier barrier_;
  // Loaded by writers while they hold a WriteBarrier::Writer; changed only
  // under WriteBarrier::Closed.
  std::atomic<CaptureState*> capture_{nullptr};

  // Set while a rollback runs or after one failed: writes are refused.
  std::atomic<bool> rollback_unfinished_{false};

  mutable std::mutex read_mu_;
  std::map<Pointer, std::shared_ptr<const SnapshotRecord>> records_;
  LruCache<Pointer, std::shared_ptr<const std::vector<uint8_t>>> chunk_cache_;

  mutable std::mutex stats_mu_;
  SnapshotterStats stats_;

  OperationProgress snapshot_progress_, rollback_progress_, gc_progress_;
  // Drains may overlap: progress counts uploads from the first one's start.
  struct DrainWatch {
    std::mutex mu;
    int running = 0;             // guarded by mu
    uint64_t base_uploaded = 0;  // guarded by mu
    OperationProgress::Figures last;  // guarded by mu
  };
  mutable DrainWatch drain_watch_;
  OperationProgress::Figures DrainFigures(const PairedStats& now) const;
};

}  // namespace amberfs
