// Pack files: PackWriter appends blobs to a new pack in a directory and
// seals it under its name; PackReader reads a sealed pack's table and its
// blobs. The format is pack_format.h's.
//
// PackWriter: Create opens a temp file (MakeTempName) in dir. Append places
// a blob whose size is a multiple of options.align at the next multiple of
// it (zeros between), any other blob right after the previous one (a
// compressed or sealed blob: padding it would waste most of a block), and
// writes it with no sync. Where the filesystem allows O_DIRECT, appends are
// copied into 1 MiB segments (kPackSegmentBytes) and each segment, once every
// byte of it is in, is written with O_DIRECT by the writer's own flusher
// thread: no page-cache copy, which cost more CPU than SHA-256 on the test
// VM, and no append waiting on the disk (one may be a writer's
// copy-before-write during a snapshot). Past 64 queued segments over all
// packs an append writes the segment it filled itself. The last, partial
// segment is written through the page cache by the flusher once the pack is
// set aside (StartWriteOut) and no append runs, or by Seal.
// Without O_DIRECT every blob is written through the page cache at once.
// Appends may run concurrently: each reserves its range (and the zeros
// before an aligned blob) under a short lock and copies outside it. An id appended before is not
// written again (Append returns its entry). A blob that would take the pack
// past kMaxPackBytes is EFBIG (seal this pack and start another); full()
// says the pack has reached options.target_bytes, the caller's cue to seal.
// Seal waits for the appends in flight, writes the table and trailer,
// fdatasyncs the file and renames it to dir/<name hex>; it does NOT fsync
// dir: the caller does that once for all the packs it sealed (a batch: one
// directory fsync), and until then the name may vanish in a crash. After a
// failed append or seal every later call fails with that error; a writer
// destroyed unsealed removes its temp file.
//
// PackReader: Open reads and checks the trailer and table (EBADMSG on any
// damage; with a non-null expected name also the name, which is the SHA-256
// of the tail); a sealed table is opened with `tables` (EACCES without). Read returns one blob, verified against its SHA-256
// (EBADMSG naming the blob and the pack); VerifyAll checks every blob and
// every gap (fsck --read-data). ReadPackedBlob reads a blob at a known
// location without the table (what the blob index gives).
//
// Errors: I/O errors keep their errno, with the path in the message; a
// missing pack is ENOENT.
// Thread-safety: PackWriter's Append may run concurrently (and with size(),
// full()); Seal only once no Append runs. PackReader is safe for concurrent
// calls (pread on one fd).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "amberfs/status.h"
#include "base/aligned_buffer.h"
#include "base/unique_fd.h"
#include "store/pack_format.h"
#include "store/pointer.h"

namespace amberfs {

// PackWriter's staging unit for O_DIRECT writes.
inline constexpr uint64_t kPackSegmentBytes = uint64_t{1} << 20;

struct PackWriterOptions {
  // full() once the blobs take this many bytes (a blob larger than what is
  // left still goes in; the pack is then larger).
  uint64_t target_bytes = uint64_t{16} << 20;
  // Each blob starts at a multiple of this (a power of two, 1..65536).
  uint32_t align = 4096;
  // An encrypted volume's: Seal writes the table sealed (pack version 2).
  std::shared_ptr<const PackTableCodec> tables;
};

struct SealedPack {
  Pointer name;   // SHA-256 of the tail; the file is dir/<name hex>
  uint64_t size = 0;
  std::vector<PackEntry> entries;  // in offset order
};

class PackWriter {
 public:
  static Result<std::unique_ptr<PackWriter>> Create(const std::string& dir, PackWriterOptions options = {});
  ~PackWriter();
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  // The caller vouches that id is the SHA-256 of data (it has just hashed
  // it); readers verify. EINVAL: null id, a blob over kMaxBlobBytes, flags
  // beyond the kind bits. EFBIG: the pack has no room for it.
  Result<PackEntry> Append(const Pointer& id, std::span<const uint8_t> data, uint32_t flags = 0);
  // A hint for a pack set aside to be sealed later: start writing out what
  // the page cache holds of it now, so Seal's fdatasync finds little left to
  // do. Never fails (an I/O error shows up at Seal); may run with Appends.
  void StartWriteOut();
  Result<SealedPack> Seal();

  uint64_t size() const;     // where the blobs end so far
  bool full() const { return size() >= options_.target_bytes; }
  size_t blob_count() const;
  bool empty() const { return blob_count() == 0; }
  const std::string& dir() const { return dir_; }

 private:
  PackWriter(std::string dir, std::string temp, PackWriterOptions options)
      : dir_(std::move(dir)), temp_(std::move(temp)), options_(options) {}
  Status WriteBlob(uint64_t offset, std::span<const uint8_t> data);

  // One kPackSegmentBytes piece of the file being filled by appends.
  struct Segment {
    AlignedBuffer buffer;
    uint64_t filled = 0;  // bytes copied in so far
  };
  // Writes a segment's first `bytes` (O_DIRECT when that is all of it) and
  // gives its buffer back.
  Status WriteSegment(uint64_t index, AlignedBuffer buffer, uint64_t bytes);
  // The segments still held (only the last can be partial once no append
  // runs); from now on appends write through the page cache at once.
  std::map<uint64_t, Segment> TakeSegmentsLocked();
  Status WriteTaken(std::map<uint64_t, Segment> taken, uint64_t end);
  void FlusherLoop();
  void StopFlusher();

  const std::string dir_, temp_;
  const PackWriterOptions options_;
  UniqueFd fd_;         // buffered writes, the tail, fdatasync
  UniqueFd direct_fd_;  // O_DIRECT, or invalid where the filesystem refuses it
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;  // in_flight_ reached 0
  uint64_t end_ = 0;
  int in_flight_ = 0;
  bool staging_ = false;    // appends go through segments_ (direct_fd_ valid, not yet taken)
  bool set_aside_ = false;  // StartWriteOut was called: take the segments once idle
  std::map<uint64_t, Segment> segments_;  // by index (offset / kPackSegmentBytes)
  std::map<uint64_t, Segment> ready_;     // full segments queued for the flusher
  int pending_writes_ = 0;                // queued or being written by the flusher
  bool stop_ = false;
  std::condition_variable work_cv_;       // for the flusher
  std::vector<PackEntry> entries_;
  std::unordered_map<Pointer, size_t> index_;  // id -> entries_ slot
  Status failed_;
  bool sealed_ = false;
  std::thread flusher_;  // with O_DIRECT only; last, so it stops before the rest goes
};

// Reads the blob id of `length` bytes at offset of the open pack `fd` and
// checks its SHA-256; `what` names the pack in errors.
Result<std::vector<uint8_t>> ReadPackedBlob(int fd, const std::string& what, const Pointer& id, uint64_t offset,
                                            uint32_t length);

class PackReader {
 public:
  // expected_name: the name the pack is stored under (null: not checked).
  static Result<std::unique_ptr<PackReader>> Open(const std::string& path, const Pointer& expected_name = Pointer(),
                                                  const PackTableCodec* tables = nullptr);

  const std::vector<PackEntry>& entries() const { return entries_; }
  const Pointer& name() const { return name_; }
  uint64_t size() const { return size_; }
  Result<std::vector<uint8_t>> Read(const PackEntry& entry) const;
  // ENOENT if the pack has no such blob.
  Result<std::vector<uint8_t>> Read(const Pointer& id) const;
  Status VerifyAll() const;

 private:
  PackReader(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  Status Load(const Pointer& expected_name, const PackTableCodec* tables);

  const std::string path_;
  const UniqueFd fd_;
  uint64_t size_ = 0;
  uint64_t blobs_end_ = 0;  // the table's offset
  Pointer name_;
  std::vector<PackEntry> entries_;
  std::vector<uint32_t> by_id_;  // entry slots sorted by id
};

}  // namespace amberfs
