// ChangeTracker: which chunks changed since the last committed snapshot,
// crash-safe (the "changes marked before data" invariant).
//
// The volume is cut into chunks of chunk_size bytes (fixed at mkfs, a power of
// two, default 64 KiB); chunk i covers [i*chunk_size, (i+1)*chunk_size) and
// the last chunk may be partial. The tracker keeps one bit per chunk in
// memory and in a file in VOLDIR, and hangs off the Conductor as its
// ChangeObserver:
//
//   WillChange(offset, length) marks the chunks the range touches, in memory.
//     A chunk marked already costs one acquire load (no store, no lock); the
//     first mark of a chunk costs a few atomic read-modify-writes. A range
//     outside the volume is EINVAL and marks nothing.
//   BeforeImageWrite() makes every mark taken so far durable before the
//     Conductor lets changed data reach the image. When nothing new was
//     marked since the last durable write it returns after a few atomic
//     loads. Otherwise it writes the changed pages of the file with one
//     pwrite and one fdatasync; concurrent callers share that round (group
//     commit, base/group_commit.h): a caller returns when a round that
//     started after it arrived has finished, with that round's status.
//
// Snapshot protocol. There are two sets: the active set, where WillChange
// marks, and, while a snapshot is being taken, the captured set.
//   BeginCapture() swaps the active set out as the captured set and starts an
//     empty active set (EBUSY if a capture is open already). No I/O: the file
//     holds the union of both sets, which does not change. The caller decides
//     the capture instant: a WillChange that overlaps BeginCapture may mark
//     either set, so the snapshot layer holds writers at a brief barrier
//     around it, as it must anyway for point-in-time capture.
//   CommitCapture() drops the captured set and writes the result durably
//     (EINVAL without an open capture). Until it returns, a crash leaves both
//     sets marked in the file, so nothing is lost; a crash after the snapshot
//     entered the catalog but before CommitCapture only makes the next
//     snapshot re-read chunks it did not need to (they dedupe).
//     The caller must make the captured writes durable in the image first
//     (Conductor::Flush after BeginCapture's barrier): a write marked before
//     the capture may still be dirty in the cache, and if a crash lost it
//     after its mark was dropped, the image would differ from the snapshot
//     with nothing marked to say so.
//   AbortCapture() merges the captured set back into the active set (EINVAL
//     without an open capture). No I/O.
//   On Open, a capture that was open when the process died is gone: its
//   marks are in the file as part of the union, i.e. in the active set.
//
// On-disk format (for man/amberfs.5). All integers are little-endian. The
// file is a sequence of 4096-byte pages; page 0 is the header, pages 1..P hold
// the bitmap of the union of the active and captured sets.
//   Header page (written once, at Create, by temp file + fsync + rename):
//     0   8  magic "AMBRCHNG"
//     8   4  version (1)
//     12  4  page size (4096)
//     16  8  chunk size in bytes
//     24  8  chunk count
//     32  8  bitmap page count P = ceil(chunk count / 32512)
//     40  8  xxh3-64 of bytes 0..39
//     48..4095 zero
//   Bitmap page p (1 <= p <= P), at file offset p*4096:
//     0   4  magic "CHPG"
//     4   4  page number p
//     8   8  generation (the write round that last wrote the page; rounds
//            count up for the life of the file)
//     16  4  number of valid bits in this page (32512, less in the last page)
//     20  4  zero
//     24  8  xxh3-64 of the whole 4096-byte page with bytes 24..31 zeroed
//     32  4064  bitmap: 508 little-endian 64-bit words; bit b of word w is
//            chunk (p-1)*32512 + w*64 + b. Bits at or past the chunk count
//            are zero.
//   A round writes only the pages that differ from what the file holds (one
//   pwrite over the span from the first to the last such page), then
//   fdatasyncs. Recovery is conservative: a bitmap page that is missing, has
//   a bad magic, page number or checksum, or a bit past the chunk count is
//   taken as "every chunk of this page changed" (logged, counted in
//   OpenReport, and rewritten at once). Torn writes therefore only ever add
//   chunks to the next snapshot. A bad header is EBADMSG: the caller knows
//   the geometry from the volume config and may Create afresh and MarkAll.
//
// Errors: EINVAL for bad arguments or a geometry that differs from the file's;
// EBADMSG for a corrupt header; EEXIST from Create if the file exists; I/O
// errors as Status with the path. A failed round leaves the in-memory marks as
// they are and the next BeforeImageWrite retries them.
//
// Thread-safety and lock order: every method may be called from any thread.
// WillChange takes no lock. capture_mu_ serialises Begin/Commit/Abort/MarkAll
// and the write round's scan of the bitmaps. Write rounds run one at a time
// under the GroupCommit, whose lock is never held while capture_mu_ is taken
// or I/O is done.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "amberfs/status.h"
#include "base/aligned_buffer.h"
#include "base/group_commit.h"
#include "base/unique_fd.h"
#include "cache/conductor.h"

namespace amberfs {

struct ChangeTrackerOpenReport {
  uint64_t bad_pages = 0;  // bitmap pages recovered as "all changed"
};

struct ChangeTrackerStats {
  uint64_t rounds = 0;         // write rounds run (each at most one pwrite + fdatasync)
  uint64_t pages_written = 0;  // bitmap pages written
  uint64_t syncs = 0;          // fdatasync calls
};

class ChangeTracker final : public ChangeObserver {
 public:
  static constexpr uint32_t kPageSize = 4096;
  static constexpr uint32_t kPageHeaderSize = 32;
  static constexpr uint64_t kChunksPerPage = (kPageSize - kPageHeaderSize) * 8;  // 32512

  enum class Set { kActive, kCaptured, kEither };

  // The geometry every tracker accepts (Create and Open check it): volume_size
  // > 0, chunk_size a power of two in [4 KiB, 1 GiB]; EINVAL saying why. The
  // volume config's rules include this one (VolumeConfig::Validate calls it),
  // so mkfs never makes a volume that a mount refuses.
  static Status CheckGeometry(uint64_t volume_size, uint32_t chunk_size);

  // Creates the state file with no chunk marked. chunk_size must be a power of
  // two in [4 KiB, 1 GiB]; volume_size > 0. EEXIST if path exists.
  static Result<std::unique_ptr<ChangeTracker>> Create(const std::string& path, uint64_t volume_size,
                                                       uint32_t chunk_size);
  // Opens an existing state file; the geometry must match (EINVAL otherwise).
  static Result<std::unique_ptr<ChangeTracker>> Open(const std::string& path, uint64_t volume_size,
                                                     uint32_t chunk_size,
                                                     ChangeTrackerOpenReport* report = nullptr);
  // Opens for inspection only (fsck): damaged pages are reported and read as
  // "all changed" but not rewritten, and nothing is ever written; marking,
  // Sync and the capture calls fail (the file is open read-only).
  static Result<std::unique_ptr<ChangeTracker>> OpenReadOnly(const std::string& path, uint64_t volume_size,
                                                             uint32_t chunk_size,
                                                             ChangeTrackerOpenReport* report = nullptr);
  ~ChangeTracker() override;
  ChangeTracker(const ChangeTracker&) = delete;
  ChangeTracker& operator=(const ChangeTracker&) = delete;

  Status WillChange(uint64_t offset, uint64_t length) override;
  Status BeforeImageWrite() override;

  // Runs a write round now, even if nothing looks new (used after repair).
  Status Sync();
  // Marks every chunk (a volume whose state is unknown) and makes it durable.
  Status MarkAll();

  Status BeginCapture();
  Status CommitCapture();
  Status AbortCapture();
  bool capturing() const;

  bool IsMarked(uint64_t chunk, Set set) const;
  uint64_t CountMarked(Set set) const;
  // Calls fn for each marked chunk of the set in ascending order; stops at and
  // returns fn's first error. kCaptured is empty without an open capture.
  Status ForEachMarked(Set set, const std::function<Status(uint64_t chunk)>& fn) const;
  std::vector<uint64_t> Marked(Set set) const;

  uint64_t chunk_count() const { return chunk_count_; }
  uint32_t chunk_size() const { return chunk_size_; }
  ChangeTrackerStats Stats() const;

 private:
  using Word = std::atomic<uint64_t>;
  ChangeTracker(std::string path, UniqueFd fd, uint64_t volume_size, uint32_t chunk_size);

  static Result<std::unique_ptr<ChangeTracker>> OpenMode(const std::string& path, uint64_t volume_size,
                                                         uint32_t chunk_size, ChangeTrackerOpenReport* report,
                                                         bool read_only);
  Status ReadAndRecover(ChangeTrackerOpenReport* report);
  Status WriteRound();
  bool LooksClean() const;
  void SetBits(Word* set, uint64_t first, uint64_t last);
  Word* CapturedSet() const;  // requires capture_mu_; null without a capture

  const std::string path_;
  UniqueFd fd_;
  const uint64_t volume_size_;
  const uint32_t chunk_size_;
  const uint64_t chunk_count_;
  const uint64_t words_;
  const uint64_t pages_;
  bool read_only_ = false;

  std::unique_ptr<Word[]> sets_[2];
  std::atomic<Word*> active_;

  // See the ordering argument in change_tracker.cc.
  std::atomic<uint64_t> mark_epoch_{0};
  std::atomic<uint64_t> durable_epoch_{0};
  std::atomic<uint32_t> marking_{0};

  mutable std::mutex capture_mu_;
  bool capturing_ = false;  // guarded by capture_mu_

  // Write-round state, owned by the round leader (one at a time).
  std::vector<uint64_t> on_disk_;  // the bitmap words the file holds
  AlignedBuffer staging_;
  uint64_t generation_ = 0;

  GroupCommit write_rounds_;  // runs WriteRound for every caller of Sync

  std::atomic<uint64_t> stat_rounds_{0}, stat_pages_{0}, stat_syncs_{0};
};

}  // namespace amberfs
