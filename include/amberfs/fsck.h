// Fsck: check an amberfs volume and its stores; repair what is safe.
//
// RunFsck(options) looks at one volume directory (see volume_create.h for the
// layout; the change tracker's state is VOLDIR/changes and the upload log
// VOLDIR/upload.log) and returns an FsckReport: every problem found, each of
// one class, and counts and sizes of what was looked at. It checks, in order:
//   volume     config parses and is consistent, the image exists with the
//              config's size, the lock (mounted?) and the unclean marker
//   catalog    every entry parses; its record blob exists, decodes, names the
//              entry, belongs to this volume and has its geometry; parents
//   packs      every fast-store pack decodes (trailer, table, name; with
//              the whole of read_data every blob and gap is verified, and
//              its blobs are not read again), the blob index and the pack
//              tables agree both ways, an evicted pack is in the slow store
//              (when it is available); after the upload log, with slow:
//              every slow index object decodes and has its pack object,
//              and a pack object without index object is a leak
//   trees      every index node and chunk blob a snapshot reaches exists (in
//              the fast store, else the slow store), has the right size, and
//              nodes parse; with read_data every reached blob (or a random
//              read_data_percent of them) is read and its SHA-256 checked,
//              on every core
//   upload log every record is sound; pending blobs exist in the fast store;
//              abandoned (lost) uploads that a snapshot needs; with slow:
//              every reached blob not pending is in the slow store, and the
//              slow store's snapshot refs point at complete snapshots
//   changes    the change-tracker file is sound, and for chunks not marked
//              changed the image equals the latest snapshot (skipped while
//              mounted: the mount's cache may hold newer data)
//   orphans    fast-store blobs no snapshot reaches (leaks: no harm to data)
// A check never stops at the first problem; a later check that depends on an
// earlier one that failed is skipped and says so in the report.
//
// Read-only unless options.repair. Read-only really means it: nothing in
// VOLDIR or the stores is created, removed or rewritten (no library Open that
// recovers a file is called). With repair, the volume lock is taken first (the
// volume must not be mounted: EBUSY), and only these repairs are made:
//   - a corrupt fast-store copy is removed when the slow store holds a good
//     one (it is fetched again on demand), and a blob missing from the fast
//     store but held by the slow store needs nothing;
//   - a corrupt catalog entry is rewritten from the slow store's ref of the
//     same name when that ref names a sound record of this volume;
//   - the upload log is rewritten without its corrupt records, every reached
//     blob that is in the fast store but neither in the slow store nor pending
//     is queued again, and pending uploads of blobs that are gone are settled;
//   - chunks whose image differs from the latest snapshot are marked changed
//     (a corrupt change-tracker page is rewritten as "all changed");
//   - orphan blobs are removed from the fast store, but only when every
//     catalog entry and record was readable (an unreadable one may reach them)
//     and they are not pending upload;
//   - with drop_broken, catalog entries that cannot be read, or whose tree
//     misses blobs that no store holds, are removed (the snapshot is lost
//     already; this makes the rest usable).
// Nothing a snapshot still needs is ever removed: only orphans and copies
// that have a good copy elsewhere. The image and the config are never
// changed; a missing or wrong-size image is reported, not guessed at.
//
// Errors: RunFsck returns a Status only for operational failures (the volume
// directory cannot be read, the lock cannot be taken for repair, a store
// cannot be opened for repair); everything wrong with the volume is in the
// report. ExitCode() maps the report to fsck(8) codes.
//
// Thread-safety: RunFsck is re-entrant; it runs worker threads internally and
// calls options.progress from the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "amberfs/status.h"

namespace amberfs {

// fsck(8) exit codes.
inline constexpr int kFsckOk = 0;
inline constexpr int kFsckCorrected = 1;
inline constexpr int kFsckUncorrected = 4;
inline constexpr int kFsckOperational = 8;
inline constexpr int kFsckUsage = 16;

enum class FsckClass {
  kConfig,        // config missing, corrupt or inconsistent
  kImage,         // image missing, unreadable or of the wrong size
  kCatalog,       // catalog entry or snapshot record unreadable or inconsistent
  kMissingBlob,   // a reached blob held by no store
  kCorruptBlob,   // a reached blob of the wrong size or whose SHA-256 differs
  kBadIndexNode,  // an index node that does not parse
  kUploadLog,     // upload-log records, pending or lost uploads
  kSlowStore,     // slow store: blobs not uploaded, refs to incomplete snapshots
  kChangeTracking,  // change-tracker file, or an unmarked chunk that differs
  kPack,          // a fast-store pack that does not decode or verify, or the blob index disagrees with the packs
  kLeak,          // orphan blob (no harm to data)
  kNote,          // worth knowing, not a problem (unclean shutdown, ...)
};
inline constexpr int kFsckClassCount = 12;

// Short stable identifier ("missing-blob") and a plural label for summaries.
const char* FsckClassId(FsckClass c);
const char* FsckClassLabel(FsckClass c);

struct FsckProblem {
  FsckClass cls = FsckClass::kNote;
  std::string object;   // what it is about: a file, a blob's hex, "snapshot NAME"
  std::string message;  // one line
  uint64_t bytes = 0;   // space concerned, when known (leaks, missing blobs)
  bool repaired = false;
};

struct FsckCounts {
  uint64_t snapshots = 0;
  uint64_t index_nodes = 0;     // distinct nodes reached
  uint64_t chunk_blobs = 0;     // distinct chunk blobs reached
  uint64_t referenced_bytes = 0;  // bytes of the distinct blobs reached
  uint64_t fast_blobs = 0;      // blobs in the fast store
  uint64_t blobs_read = 0;      // with read_data
  uint64_t bytes_read = 0;
  uint64_t chunks_compared = 0;  // unmarked chunks compared with the image
  uint64_t chunks_marked = 0;    // chunks the change tracker holds as changed
  uint64_t chunks_remote = 0;    // a clone's chunks still only in the slow store (not compared)
  uint64_t pending_uploads = 0;
  uint64_t slow_blobs_listed = 0;  // blobs in the slow store's listing, when it was listed
  uint64_t slow_requests = 0;      // requests sent to the slow store (S3: HTTP, retries included)
  uint64_t fast_packs = 0;         // pack files in the fast store checked (trailer, table, name)
  uint64_t fast_packs_read = 0;    // of them, read whole and verified (read_data)
  uint64_t pack_bytes_read = 0;    // bytes those reads took
  uint64_t evicted_packs = 0;      // packs the blob index names that the fast store has evicted
  uint64_t dead_pack_bytes = 0;    // dead blobs in packs with live ones: reclaimable by a repack
  uint64_t slow_packs = 0;         // pack index objects in the slow store (slow)
  uint64_t slow_pack_objects = 0;  // pack objects in the slow store (slow)
};

struct FsckReport {
  std::string voldir;
  std::string uuid;
  uint64_t volume_size = 0;
  uint32_t chunk_size = 0;
  bool mounted = false;   // another process holds the volume lock
  bool repair = false;    // repairs were allowed
  std::vector<FsckProblem> problems;
  std::vector<std::string> skipped;  // checks not run, and why
  FsckCounts counts;
  double seconds = 0;

  uint64_t Count(FsckClass c, bool repaired) const;
  // Errors are every class but kLeak and kNote; leaks count when strict.
  uint64_t Errors(bool strict, bool repaired) const;
  int ExitCode(bool strict) const;
};

struct FsckOptions {
  std::string voldir;
  bool repair = false;       // -y
  bool drop_broken = false;  // --drop-broken (with repair)
  bool read_data = false;    // --read-data
  double read_data_percent = 100;  // --read-data-subset=N%
  uint64_t sample_seed = 0;        // 0: random
  bool slow = false;         // --slow
  int threads = 0;           // hashing threads; 0: one per core
  std::string s3_credentials;
  std::string key_file;      // --key-file: an encrypted volume's passphrase
  // Progress of the long phases, from the calling thread; may be empty.
  std::function<void(const char* phase, uint64_t done, uint64_t total)> progress;
};

Result<FsckReport> RunFsck(const FsckOptions& options);

// qemu-img-check-like text: one line per problem, a summary line per class
// with counts and sizes, totals, then what was checked.
std::string RenderFsckText(const FsckReport& report, bool strict);
// One JSON object (see fsck.amberfs(8)).
std::string RenderFsckJson(const FsckReport& report, bool strict);

}  // namespace amberfs
