// Blob index segments: immutable files of index entries sorted by blob id,
// with a Bloom filter and one fence per 4 KiB page (docs/FORMATS.md, "Blob
// index"). One of BlobIndex's parts (blob_index.h).
//
// SegmentWriter writes one from entries given in strictly increasing id
// order (EINVAL otherwise), into a temp file in its directory; Finish writes
// the header last, fdatasyncs and renames the file to its final path (the
// caller fsyncs the directory, e.g. by writing the manifest). A writer
// destroyed unfinished removes its temp file.
//
// Segment::Open reads the header and the sections after the pages (pack
// table, fences, filter) and checks them: EBADMSG on any damage, including a
// file of the wrong size. It keeps only those in memory (about 1.4 bytes a
// blob at 10 filter bits a blob); Lookup checks the filter, binary-searches
// the fences and reads one page with pread, checking its checksum (EBADMSG
// if bad). Cursor reads every entry in order (merges, listings).
//
// Thread-safety: a Segment is immutable; Lookup and Cursors may run
// concurrently. A SegmentWriter is used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "amberfs/status.h"
#include "base/unique_fd.h"
#include "store/blob_index_format.h"

namespace amberfs {

class SegmentWriter {
 public:
  // max_entries: at most this many Adds (sizes the filter).
  static Result<std::unique_ptr<SegmentWriter>> Create(const std::string& dir, uint64_t max_entries,
                                                       uint32_t bloom_bits_per_entry);
  ~SegmentWriter();
  SegmentWriter(const SegmentWriter&) = delete;
  SegmentWriter& operator=(const SegmentWriter&) = delete;

  Status Add(const IndexUpdate& entry);
  // Returns the entry count.
  Result<uint64_t> Finish(const std::string& final_path);

 private:
  SegmentWriter(std::string temp, uint64_t max_entries, uint64_t bloom_words, uint32_t probes);
  Status FlushPages(bool all);

  const std::string temp_;
  const uint64_t max_entries_;
  const uint32_t probes_;
  UniqueFd fd_;
  bool finished_ = false;
  uint64_t count_ = 0;
  Pointer last_;
  std::vector<uint8_t> pages_;  // whole pages not yet written, then the current one
  uint64_t pages_written_ = 0;
  std::vector<uint64_t> bloom_;
  std::vector<uint8_t> fences_;  // the first 8 bytes of each page's first id
  std::vector<Pointer> packs_;
  std::unordered_map<Pointer, uint32_t> pack_index_;
};

class Segment {
 public:
  static Result<std::shared_ptr<Segment>> Open(const std::string& path);

  // The segment's entry for blob (a tombstone has removed set), or nullopt.
  Result<std::optional<IndexUpdate>> Lookup(const Pointer& blob) const;
  uint64_t entries() const { return header_.entry_count; }
  // Bytes this object keeps in memory.
  size_t ResidentBytes() const;
  const std::string& path() const { return path_; }

  // Reads the entries in id order, a few pages at a time.
  class Cursor {
   public:
    explicit Cursor(const Segment* segment) : segment_(segment) {}
    // Moves to the next entry; false at the end.
    Result<bool> Next();
    const IndexUpdate& current() const { return current_; }

   private:
    const Segment* segment_;
    std::vector<uint8_t> buffer_;
    uint64_t buffer_first_page_ = 0, index_ = 0;
    IndexUpdate current_;
  };

 private:
  Segment(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  Status Load();
  // Checks one page's checksum; decodes entry i of it.
  Status CheckPage(const uint8_t* page, uint64_t page_no) const;
  Result<IndexUpdate> EntryOf(const uint8_t* page, uint64_t page_no, size_t i) const;
  size_t EntriesOnPage(uint64_t page_no) const;
  bool MayContain(const Pointer& blob) const;

  const std::string path_;
  const UniqueFd fd_;
  SegmentHeader header_;
  std::vector<Pointer> packs_;
  std::vector<uint64_t> fences_;
  std::vector<uint64_t> bloom_;
};

}  // namespace amberfs
