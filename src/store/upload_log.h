// UploadLog: the crash-safe list of uploads the Paired store still owes the
// slow store.
//
// A Put appends a "blob queued" record and returns only once it is durable;
// when the upload is confirmed a "done" record follows. A blob-data record is
// a blob-queued record that also carries the blob's bytes: the Paired store
// writes the fast copy of a single Put without syncing it and relies on the
// log's copy until the fast store has been synced (see "Blob data" below).
// At open the log is replayed and every queued entry without a done record
// is pending again, so no acknowledged blob is ever left behind by a crash.
// The log is compacted (rewritten with only the pending entries) when done
// records dominate or blob data piles up, so it does not grow without bound.
//
// The file is a sequence of 64-byte records (and padded payloads), each with
// a checksum; upload_log_record.h has the format, upload_log_replay.h the
// rules by which a file's records are read back.
//
// Pending entries = queued records (blob-queued, blob-data, ref-queued,
// pack-queued, blob-deleting: a delete in progress, see AppendDeletes) with
// no done/lost record for their seq.
// blob-lost marks an upload abandoned because the fast copy vanished; it is
// kept through compaction so fsck can report the blob (see Lost()).
//
// Crash safety: appends are write(2)s at the end of the file followed by an
// fdatasync shared by concurrent callers (group commit); AppendBlob/AppendRef
// return once their record is durable. Done and lost records are written
// without waiting (losing one only repeats an idempotent upload) and become
// durable with the next sync. Replay checks every 64-byte slot: a record with
// a bad magic, version, type, checksum, or a truncated payload is not data. Bad
// records at the tail (a torn write of an unacknowledged batch) are dropped and
// the file is truncated to the last good record (LOG_WARN); bad records with
// good ones after them (media corruption) are skipped with a LOG_ERROR and the
// log is rewritten at once. A file whose first four bytes are neither the
// magic nor zeros is refused with EBADMSG (it is not an upload log; nothing is
// truncated). Compaction writes the pending entries to
// "<path>.compact", fdatasyncs it, renames it over the log and fsyncs the
// directory, so the log is always either the old or the new file.
//
// Blob data: AppendBlobData queues a blob and keeps its bytes in the log. The
// caller makes the blob's fast copy visible only after that (MarkPublished)
// and never syncs it itself. Compact is the checkpoint: it calls
// options.sync_published (a syncfs of the fast store; not under the log's
// lock, so appends go on meanwhile) and, if that succeeds, drops the bytes of
// every entry published before the call. If the sync fails, every published
// entry is suspect and keeps its bytes until it is settled: a failed
// writeback is reported only once, so a later sync that succeeds says
// nothing about them. A settled entry's bytes go at the next compaction,
// synced or not: its upload is done (the slow copy backs it; a damaged fast
// copy fails its SHA-256 check on read and is fetched again). Open marks
// every entry unpublished again (the caller rewrites the fast copies
// durably, then publishes them). Blob data triggers compaction past
// options.compact_data_bytes.
//
// A blob-data header carries its own check, so replay trusts its length: a
// torn or damaged payload is stepped over whole, never parsed as records
// (blob bytes are user data and may look like records). A damaged one with
// good records after it stays pending, without its data; one at the tail is
// part of the torn tail.
//
// Errors: a failed fdatasync makes the log fail every later append with EIO
// (its on-disk state is unknown; reopen to recover from the file). A failed
// write is rolled back by truncation. Appends after Close are ESHUTDOWN.
//
// Thread-safety: all methods are safe for concurrent calls. Locks: mu_ (file
// offset, in-memory pending set) is held only for write(2)s and bookkeeping,
// never across fdatasync, which runs under the GroupCommit protocol.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/status.h"
#include "base/group_commit.h"
#include "base/unique_fd.h"
#include "store/pointer.h"
#include "store/upload_log_record.h"

namespace amberfs {

struct UploadLogOptions {
  // Compact when the file holds at least this many records and fewer than a
  // quarter of them are pending entries.
  uint64_t compact_min_records = 4096;
  // Compact when the file holds more than this many bytes of blob data.
  uint64_t compact_data_bytes = 64 << 20;
  // Makes every published blob durable in the fast store; called by Compact
  // (not under the log's lock) before it drops blob data. Unset: blob data found at Open is kept until
  // its entry is settled, and AppendBlobData refuses (EINVAL).
  std::function<Status()> sync_published;
};

struct UploadLogStats {
  uint64_t pending = 0;       // entries not settled
  uint64_t file_records = 0;  // records in the file (not counting payload slots)
  uint64_t data_bytes = 0;    // blob data in the file (padded payloads)
  uint64_t compactions = 0;
};

// What a read-only look at a log file finds (UploadLog::Scan, for fsck).
struct UploadLogScan {
  std::vector<UploadEntry> pending;  // seq order
  std::map<Pointer, std::vector<uint8_t>> carried;  // bytes of pending blob-data entries
  std::vector<Pointer> lost;
  uint64_t records = 0;          // good records
  uint64_t corrupt_records = 0;  // bad 64-byte slots with good records after them
  uint64_t torn_tail_bytes = 0;  // bad bytes after the last good record (a torn write)
};

class UploadLog {
 public:
  static constexpr size_t kRecordSize = kUploadRecordSize;
  static constexpr size_t kMaxRefData = kUploadMaxRefData;
  static constexpr size_t kMaxBlobData = kUploadMaxBlobData;

  // Opens (creating if missing) and replays the log at path.
  static Result<std::unique_ptr<UploadLog>> Open(const std::string& path, UploadLogOptions options = {});
  ~UploadLog();

  // Replays the log at path without changing anything (Open would drop a
  // torn tail and rewrite around corrupt records). ENOENT if absent, EBADMSG
  // if the file is not an upload log.
  static Result<UploadLogScan> Scan(const std::string& path);

  // Pending entries, in seq order.
  std::vector<UploadEntry> Pending() const;
  // Blobs whose uploads were abandoned (blob-lost records), for fsck.
  std::vector<Pointer> Lost() const;

  // Queue an upload; returns its seq once the record is durable.
  Result<uint64_t> AppendBlob(const Pointer& key);
  // Queue uploads of many blobs with one write and one sync; returns their
  // seqs (consecutive, in the order of keys) once every record is durable.
  // On an error none of them is pending.
  Result<std::vector<uint64_t>> AppendBlobs(std::span<const Pointer> keys);
  // Queue uploads of sealed packs of the fast store (pack-queued records,
  // one write and one sync), as AppendBlobs.
  Result<std::vector<uint64_t>> AppendPacks(std::span<const Pointer> names);
  // Queue an upload of a blob whose bytes go into the log too (see "Blob
  // data"); returns its seq once the record is durable. The entry stays
  // unpublished until MarkPublished. EINVAL over kMaxBlobData or without
  // options.sync_published.
  Result<uint64_t> AppendBlobData(const Pointer& key, std::span<const uint8_t> data);
  // The fast copy of blob-data entry seq is in place: compaction may drop the
  // log's copy once sync_published succeeds. A no-op for other entries.
  void MarkPublished(uint64_t seq);
  // The bytes a pending blob-data entry carries (ENOENT if it carries none).
  Result<std::vector<uint8_t>> ReadData(uint64_t seq);
  Result<uint64_t> AppendRef(std::string_view name, std::span<const uint8_t> data);
  // A delete of each of keys is starting (blob-deleting records, one write
  // and one sync); returns their seqs once durable. Settle each with
  // MarkDone once the delete is over, done or not.
  Result<std::vector<uint64_t>> AppendDeletes(std::span<const Pointer> keys);
  // Settle a pending entry (durable with the next sync); may compact.
  Status MarkDone(uint64_t seq);
  Status MarkLost(uint64_t seq);
  // Makes every record appended so far durable.
  Status Sync();
  // Rewrites the log with only the pending (and lost) entries. With blob data
  // published since the last checkpoint, first calls sync_published (without
  // the log's lock) and, if it succeeds, drops their bytes; if it fails they
  // are kept until settled (see "Blob data").
  Status Compact();

  UploadLogStats Stats() const;
  // Stats().data_bytes without the log's lock (for a check on every Put).
  uint64_t DataBytes() const { return data_bytes_.load(std::memory_order_relaxed); }
  const std::string& path() const { return path_; }

 private:
  UploadLog(std::string path, UploadLogOptions options) : path_(std::move(path)), options_(options) {}
  Status Replay(bool* rewrite);
  // Appends one keyed record (blob-queued or blob-deleting) per key, synced.
  Result<std::vector<uint64_t>> AppendKeyed(UploadRecordType type, std::span<const Pointer> keys);
  // Writes records at the end of the file; caller holds mu_.
  Status AppendLocked(const std::vector<uint8_t>& bytes, uint64_t records);
  Status Settle(uint64_t seq, UploadRecordType type);
  Status CompactLocked();
  Status SyncShared();
  // The compaction heuristics: settled records dominate, or blob data piles up.
  bool WantsCompactionLocked() const;
  // Compacts (with its checkpoint) if the heuristics say so; errors are logged.
  void CompactIfWanted();

  const std::string path_;
  const UploadLogOptions options_;
  GroupCommit commit_;

  mutable std::mutex mu_;
  std::shared_ptr<UniqueFd> fd_;  // replaced by compaction; a sync holds its own reference
  uint64_t end_ = 0;              // file size in bytes
  uint64_t next_seq_ = 1;
  std::map<uint64_t, UploadEntry> pending_;
  std::map<uint64_t, Pointer> lost_;
  struct DataRecord {
    uint64_t offset = 0;  // of the record's header in the file
    uint32_t length = 0;  // payload bytes
    // When MarkPublished came (0: not yet); the bytes may go once a
    // checkpoint's sync covers it (synced_gen_ >= published_gen).
    uint64_t published_gen = 0;
    bool suspect = false;  // a sync after its publication failed: kept until settled
  };
  std::map<uint64_t, DataRecord> data_;  // pending blob-data entries
  uint64_t publish_gen_ = 0;             // the last published_gen handed out
  uint64_t synced_gen_ = 0;              // publications a checkpoint has dealt with
  bool checkpointing_ = false;           // a Compact is syncing the fast store
  uint64_t records_ = 0;                 // records (headers) in the file
  // Padded blob-data payloads in the file; written under mu_, read without it.
  std::atomic<uint64_t> data_bytes_{0};
  // After a failed compaction, wait for this many records or this much data.
  uint64_t compact_retry_records_ = 0, data_retry_at_ = 0;
  uint64_t compactions_ = 0;
  Status failed_;  // sticky after a failed fdatasync
};

}  // namespace amberfs
