// Shared state of one fsck run, passed from check to check (see fsck.h).
//
// Each check module reads what earlier ones found and adds problems and
// repair plans; repair.cc carries the plans out at the end, all at once,
// so every check sees the volume as it was found. A plan names the problems
// it settles; they are marked repaired only when it succeeds.
//
// Not thread-safe: one Context per run, used by the calling thread
// (worker threads in the data read get their own slices and report back).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "snapshot/catalog.h"
#include "store/disk_store.h"
#include "store/packed_disk_store.h"
#include "store/listed_blobs.h"
#include "amberfs/fsck.h"
#include "amberfs/text_format.h"
#include "store/pointer.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_codec.h"
#include "snapshot/volume_layout.h"
#include "store/store.h"
#include "store/upload_log.h"
#include "amberfs/volume_config.h"
#include "volume/volume_lock.h"

namespace amberfs::fsck {

enum class Where { kUnknown, kFast, kSlowOnly, kNowhere };

struct ReachedBlob {
  BlobKind kind = BlobKind::kChunk;
  bool is_record = false;
  uint64_t expected_size = 0;  // 0: unknown (records)
  Where where = Where::kUnknown;
  bool fast_bad = false;  // the fast copy is damaged (size or hash)
  bool unusable = false;  // no good copy anywhere: snapshots reaching it are broken
  int problem = -1;       // the problem reported for it, if any
};

struct Snapshot {
  CatalogEntry entry;
  std::optional<SnapshotRecord> record;  // absent if unreadable
  bool broken = false;  // some blob it reaches has no good copy
  std::vector<size_t> problems;  // problems of its entry or record
  bool base_only = false;  // the base's record, not in the catalog (deleted)
};

// The upload log as found on disk.
struct LogScan {
  bool present = false;
  UploadLogScan scan;
  std::set<Pointer> pending_blobs;
  std::set<Pointer> lost;
  // The bytes the log carries for key (a single Put's blob whose fast copy
  // the next open restores if a crash lost it; ScanUploadLog keeps only
  // bytes that match their key); null if none.
  const std::vector<uint8_t>* Carried(const Pointer& key) const {
    auto it = scan.carried.find(key);
    return it != scan.carried.end() ? &it->second : nullptr;
  }
};

struct RepairPlan {
  struct Item {
    std::vector<size_t> problems;
  };
  struct RefetchFast : Item {
    Pointer key;
  };
  struct RewriteEntry : Item {
    CatalogEntry entry;
  };
  struct MarkChunks : Item {
    std::vector<uint64_t> chunks;
  };
  std::vector<RefetchFast> refetch;  // corrupt fast copy, good slow copy
  std::vector<RewriteEntry> rewrite_entries;
  struct Drop : Item {
    std::string name;  // the catalog file
  };
  std::vector<Drop> drop_entries;
  bool drop_settles_blobs = false;  // dropping every broken snapshot settles the unusable blobs
  Item rewrite_log;  // corrupt log records: reopen (UploadLog drops them)
  struct Requeue {
    Pointer key;
    size_t problem;
    bool replace_slow = false;  // the slow copy is damaged: delete it first
  };
  std::vector<Requeue> requeue;
  struct Settle {
    uint64_t seq;
    size_t problem;
    bool lost;  // the blob is in no store (else the slow store has it: done)
  };
  std::vector<Settle> settle;  // pending uploads whose fast copy is gone
  MarkChunks mark;
  bool create_tracker = false;
  bool mark_all = false;  // the tracker is recreated without a comparison: mark every chunk
  std::optional<Pointer> new_base;  // rewrite the base file (null: remove it)
  std::vector<size_t> new_base_problems;
  Item rewrite_tracker;  // corrupt bitmap pages
  std::vector<std::pair<Pointer, size_t>> orphans;
};

struct Context {
  Context(const FsckOptions& o, FsckReport& r) : opt(o), report(r) {}

  const FsckOptions& opt;
  FsckReport& report;
  std::string voldir;

  std::optional<VolumeConfig> config;
  VolumeCodec codec;  // how blobs and refs are stored (snapshot/volume_codec.h)
  std::shared_ptr<const PackTableCodec> pack_tables;  // codec.PackTables(): null unless encrypted
  bool image_ok = false;
  std::optional<VolumeLock> lock;  // held for the whole run when repairing

  std::unique_ptr<PackedDiskStore> fast;  // null if VOLDIR/fast is missing
  std::unique_ptr<Store> slow;      // null if it cannot be opened
  std::string slow_error;
  // What the slow store holds, from one listing, once SlowHas needs it (at
  // once with --slow, else after kSlowContainsBeforeListing single checks).
  std::optional<ListedBlobs> slow_listed;
  bool slow_listing_failed = false;
  uint64_t slow_contains_asked = 0;
  static constexpr uint64_t kSlowContainsBeforeListing = 64;

  std::vector<Snapshot> snapshots;  // readable catalog entries, by creation time
  bool catalog_complete = true;     // every entry and record was read
  Pointer base;                     // null: no snapshot yet
  bool base_ok = true;              // the base file was readable
  std::unordered_map<Pointer, ReachedBlob> reached;
  std::unordered_map<Pointer, bool> node_broken;  // walked nodes: reaches an unusable blob?

  // Fast packs read whole and verified (--read-data): ReadData does not read
  // their blobs again.
  std::unordered_set<Pointer> verified_packs;
  // The packs whose index object the slow store lists, from one listing of
  // index/ (SlowIndexedPacks), once a check needs it.
  std::optional<std::unordered_set<Pointer>> slow_indexed_packs;

  LogScan log;
  std::set<Pointer> noted_carried;
  RepairPlan plan;

  size_t Problem(FsckClass cls, std::string object, std::string message, uint64_t bytes = 0);
  void Skip(std::string what) { report.skipped.push_back(std::move(what)); }
  void Progress(const char* phase, uint64_t done, uint64_t total) const {
    if (opt.progress) opt.progress(phase, done, total);
  }
  std::string Path(const char* name) const { return VolumePath(voldir, name); }
  // Is the blob in the slow store? (false if there is none, or it failed.)
  // Answered from a listing of the store (see slow_listed), so that checking
  // N blobs costs N/1000 requests, not N.
  bool SlowHas(const Pointer& key);
  // The packs whose index object the slow store lists (one ListObjects of
  // index/, kept); null if there is no slow store or the listing failed
  // (slow_error says why).
  const std::unordered_set<Pointer>* SlowIndexedPacks();
  // A fast copy that is missing or damaged but carried by the upload log:
  // a note (the next open restores it), not a problem.
  void NoteCarried(const Pointer& key, const std::string& what, const std::string& state) {
    if (!noted_carried.insert(key).second) return;  // once per blob
    Problem(FsckClass::kNote, key.Hex(),
            what + ": the fast copy is " + state + ", but the upload log carries the blob (the next open restores it)");
  }
};

// The checks, in the order RunFsck runs them. Each returns a Status only for
// an operational failure.
Status CheckVolume(Context& ctx);
Status OpenStores(Context& ctx);
Status CheckCatalog(Context& ctx);
Status CheckTrees(Context& ctx);
Status ReadData(Context& ctx);
Status ScanUploadLog(Context& ctx);   // before the trees
Status CheckUploadLog(Context& ctx);  // after them
Status CheckSlowStore(Context& ctx);
// The slow store's volumes/<uuid>/config and key (slow_volume_objects.cc),
// from CheckSlowStore; slow_has_snapshots: it lists a snapshot ref.
void CheckSlowVolumeObjects(Context& ctx, bool slow_has_snapshots);
Status CheckChanges(Context& ctx);
Status CheckFastPacks(Context& ctx);  // before the trees (packs.cc)
Status CheckSlowPacks(Context& ctx);  // with --slow, after CheckSlowStore (slow_pack_objects.cc)
Status CheckOrphans(Context& ctx);
Status Repair(Context& ctx);
// Walks every readable snapshot's tree, filling reached and Snapshot::broken;
// quiet re-walks (after ReadData found more damage) report nothing new.
void WalkSnapshots(Context& ctx, bool quiet);
// Reports the damaged snapshots, and plans their removal with drop_broken.
void PlanDrops(Context& ctx);

// Helpers shared by modules.
// Calls job(0) .. job(count - 1) on ctx.opt.threads workers (0: one per
// core), each index once, and returns when all are done; meanwhile the
// calling thread reports progress as `phase` (so the callback never runs on
// a worker). job must be thread-safe: it may touch only its own slot of
// what the caller prepared, or atomics.
void ForEachOnWorkers(const Context& ctx, const char* phase, size_t count, const std::function<void(size_t)>& job);
// Reads a reached blob from the fast store, else the slow store, recording in
// info where a good copy is and (unless quiet) reporting a missing or damaged
// one as a problem, with a repair plan when the slow copy is good. An error
// means no good copy was found.
Result<std::vector<uint8_t>> FetchBlob(Context& ctx, const Pointer& key, ReachedBlob* info, const std::string& what,
                                       bool quiet = false);
// A slow-store snapshot ref's record pointer (32 raw bytes or 64 hex digits).
std::string Short(const Pointer& p);  // first 16 hex digits, for messages
Status WriteBaseFile(const std::string& voldir, const Pointer& record);  // null: remove it

}  // namespace amberfs::fsck
