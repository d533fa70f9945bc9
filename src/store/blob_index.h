// BlobIndex: the persistent map blob id -> (pack, offset, length, flags) of
// a store kept in packs (docs/DESIGN.md "Packs", docs/FORMATS.md "Blob
// index").
//
// Bounded memory for tens of millions of blobs: entries live on disk in
// immutable sorted segments (blob_index_segment.h), of which memory holds a
// Bloom filter and one fence per 4 KiB page (~1.4 bytes a blob); recent
// batches live in an append-only log, replayed at Open into a memtable of at
// most options.memtable_entries entries (then flushed into a segment).
//
// Commit(updates) makes a batch durable with one write and one fdatasync of
// the log, then applies it; a later update of a blob wins over an earlier
// one (a removal is a tombstone). It returns once the batch is durable; if
// the memtable is then full it is flushed (and segments merged) before
// Commit returns; a failed flush is logged and retried at the next Commit
// (the batch is durable in the log either way).
//
// Flush: the memtable is written as a new segment (temp file, fdatasync,
// rename), a new empty log is created, then the MANIFEST is replaced
// atomically (WriteFileAtomic: the directory fsync makes the segment and the
// log durable too), then the old log is removed. Merge: when the newest
// segment holds at least as many entries as the one before it, the newest
// run of segments whose older neighbour is no bigger than their sum is
// merged into one (a binary counter: O(log n) segments, each entry
// rewritten O(log n) times); tombstones are dropped when the run includes
// the oldest segment. Flushes and merges run on the committing thread.
//
// Crash safety: the MANIFEST names the live segments and log; everything
// else in the directory (a segment or log of an interrupted flush or merge,
// a temp file, a replaced file) is removed at Open. A torn log tail (a batch
// whose Commit did not return) is truncated at Open with a LOG_WARN. A
// directory with index files but no MANIFEST, a damaged MANIFEST or segment
// is EBADMSG: the index is a cache of the packs' tables, to be rebuilt from
// them (fsck), never guessed.
//
// Errors: after a failed write or fdatasync of the log every later Commit
// fails (EIO, naming the first error) until the index is reopened: the log's
// state on disk is unknown. Lookup of a missing blob is ENOENT; a damaged
// page found by a lookup is EBADMSG.
//
// Read-only (options.read_only): Open reads the MANIFEST, the segments and
// the log as they are (a torn tail is ignored, not truncated); it never
// writes, so a guest may open an index a running mount owns (a flush racing
// the open is ENOENT for a file the new MANIFEST no longer names: open
// again).
//
// Thread-safety: every method is safe for concurrent calls. Lookups run in
// parallel with each other and with a Commit (they take a shared lock only
// to read the memtable and the segment list); Commits, flushes and merges
// run one at a time (commit_mu_). Lock order: commit_mu_ -> state_mu_.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "amberfs/status.h"
#include "base/unique_fd.h"
#include "store/blob_index_format.h"
#include "store/blob_index_segment.h"

namespace amberfs {

struct BlobIndexOptions {
  uint64_t memtable_entries = uint64_t{1} << 16;  // flush past this many
  uint32_t bloom_bits_per_entry = 10;             // ~1 % false positives
  // A guest's view (fsck without repair, a listing beside a mount): nothing
  // is created, removed, truncated or flushed; a missing directory or
  // MANIFEST is an empty index; Commit and Flush are EROFS.
  bool read_only = false;
};

struct BlobIndexStats {
  uint64_t segment_entries = 0;   // entries in segments (tombstones and shadowed ones included)
  uint64_t memtable_entries = 0;
  uint64_t segments = 0;
  uint64_t log_bytes = 0;
  uint64_t flushes = 0, merges = 0;  // since Open
  uint64_t torn_tail_bytes = 0;      // dropped from the log at Open
  size_t resident_bytes = 0;         // memory held for segments and memtable (estimate)
};

class BlobIndex {
 public:
  static Result<std::unique_ptr<BlobIndex>> Open(const std::string& dir, BlobIndexOptions options = {});

  Result<BlobLocation> Lookup(const Pointer& blob) const;
  Result<bool> Contains(const Pointer& blob) const;
  Status Commit(std::span<const IndexUpdate> updates);
  Status Flush();
  // Every live entry in id order; stops at and returns fn's first error.
  Status ForEach(const std::function<Status(const Pointer&, const BlobLocation&)>& fn) const;
  BlobIndexStats Stats() const;

 private:
  using SegmentList = std::vector<std::shared_ptr<Segment>>;  // oldest first
  BlobIndex(std::string dir, BlobIndexOptions options) : dir_(std::move(dir)), options_(options) {}
  Status Load();
  Status LoadReadOnly();
  Status CreateFresh();
  Status RemoveUnnamedFiles();
  Status ReplayLog();
  Status FlushLocked();
  Status MergeIfDueLocked();
  Status MergeLocked(size_t first);
  // Writes the manifest m, then installs segments and (if log_fd is valid) the new log.
  Status InstallLocked(const IndexManifest& m, std::shared_ptr<const SegmentList> segments, UniqueFd log_fd,
                       bool clear_memtable);
  std::string SegmentPath(uint64_t n) const;
  std::string LogPath(uint64_t n) const;

  const std::string dir_;
  const BlobIndexOptions options_;

  std::mutex commit_mu_;  // one Commit, Flush or merge at a time
  IndexManifest manifest_;
  UniqueFd log_fd_;
  std::atomic<uint64_t> log_end_{0};  // written under commit_mu_; read by Stats too
  Status failed_;  // sticky after a failed log write or sync

  mutable std::shared_mutex state_mu_;
  std::unordered_map<Pointer, IndexUpdate> memtable_;
  std::shared_ptr<const SegmentList> segments_ = std::make_shared<const SegmentList>();
  BlobIndexStats counters_;  // flushes, merges, torn tail
};

}  // namespace amberfs
