// The blob index's on-disk records (docs/FORMATS.md, "Blob index"): index
// entries, log records, segment headers and the manifest. Pure codecs; the
// files are blob_index_segment.h's and blob_index.h's.
//
// Index entry (48 bytes): blob id (32), pack u32 (an index into the
// enclosing record's or segment's pack table; kRemovedPack = a tombstone),
// offset u32, length u32, flags u32 (the pack entry's kind bits).
//
// Log record: magic "AMBL", version u8 = 1, 3 zero bytes, entry count u32
// (1..kMaxLogRecordEntries), pack count u32 (0..entry count), xxh3-64 of
// bytes 0..15 followed by the payload; payload = pack table (32 bytes a
// pack), entries (48 bytes each). A tombstone has offset, length and flags
// 0; the packs are unique and listed in the order entries first use them
// (one encoding per record).
//
// Segment header (64 bytes): magic "AMBRBIDX", version u32 = 1, Bloom
// probes u32 (1..16), entry count u64, pack count u32, zero u32, Bloom
// words u64, xxh3-64 of the sections after the pages u64, zero u64, xxh3-64
// of bytes 0..55.
//
// Manifest: text lines "amberfs-blob-index 1", "log <16 hex>", "seg <16
// hex> <entries>" per segment (oldest first), "next <16 hex>", "checksum
// <16 hex>" (xxh3-64 of every byte before that line).
//
// Decoders are strict: anything out of place is EBADMSG (or, for a log
// record, "no record here": the caller treats it as a torn tail).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "amberfs/status.h"
#include "store/pointer.h"

namespace amberfs {

// Where a blob is: its pack, and its range in the pack.
struct BlobLocation {
  Pointer pack;
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t flags = 0;
  friend bool operator==(const BlobLocation&, const BlobLocation&) = default;
};

// One change to the index: a blob is at `where`, or (removed) is gone.
struct IndexUpdate {
  Pointer blob;
  bool removed = false;
  BlobLocation where;  // unused when removed
};

inline constexpr size_t kIndexEntrySize = 48;
inline constexpr uint32_t kRemovedPack = 0xffffffffu;
inline constexpr size_t kLogRecordHeaderSize = 24;
inline constexpr uint32_t kMaxLogRecordEntries = 1u << 20;
inline constexpr size_t kSegmentHeaderSize = 64;
inline constexpr size_t kSegmentPageSize = 4096;
inline constexpr size_t kEntriesPerPage = 85;  // 85 x 48 = 4080, then checksum and 8 zero bytes
inline constexpr uint32_t kMaxBloomProbes = 16;

// An entry as stored: the pack as an index into a table.
struct RawIndexEntry {
  Pointer blob;
  uint32_t pack = kRemovedPack;
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t flags = 0;
  bool removed() const { return pack == kRemovedPack; }
};

void EncodeIndexEntry(const RawIndexEntry& e, uint8_t* out);
RawIndexEntry DecodeIndexEntryBytes(const uint8_t* in);
// Whether a decoded entry keeps the rules (non-null id, known flags, a
// tombstone's fields zero, a pack index below pack_count, range within a
// pack's limit).
bool ValidIndexEntry(const RawIndexEntry& e, uint32_t pack_count);
// Whether updates may be committed: non-null blob and pack ids, lengths at
// most kMaxBlobBytes, ranges within kMaxPackBytes, known flags; EINVAL
// naming the first bad one. At most kMaxLogRecordEntries of them.
Status CheckIndexUpdates(std::span<const IndexUpdate> updates);

std::vector<uint8_t> EncodeIndexLogRecord(std::span<const IndexUpdate> updates);
struct DecodedLogRecord {
  std::vector<IndexUpdate> updates;
  size_t length = 0;  // bytes the record takes
};
// The valid record at the start of bytes, if there is one.
std::optional<DecodedLogRecord> DecodeIndexLogRecord(std::span<const uint8_t> bytes);

struct SegmentHeader {
  uint32_t bloom_probes = 0;
  uint64_t entry_count = 0;
  uint32_t pack_count = 0;
  uint64_t bloom_words = 0;
  uint64_t meta_checksum = 0;
  uint64_t PageCount() const { return (entry_count + kEntriesPerPage - 1) / kEntriesPerPage; }
  // Bytes of the pack table, fences and Bloom filter after the pages.
  uint64_t MetaBytes() const { return uint64_t{pack_count} * 32 + PageCount() * 8 + bloom_words * 8; }
  uint64_t FileSize() const { return kSegmentPageSize * (1 + PageCount()) + MetaBytes(); }
};
std::vector<uint8_t> EncodeSegmentHeader(const SegmentHeader& h);
Result<SegmentHeader> DecodeSegmentHeader(std::span<const uint8_t> bytes, const std::string& what);

// The big-endian u64 of an id's first 8 bytes: orders as ids do.
uint64_t IdPrefix(const Pointer& id);
// Bloom filter probes of an id over `bits` bits.
uint64_t BloomBit(const Pointer& id, uint32_t probe, uint64_t bits);

struct IndexManifest {
  uint64_t log = 0;  // number of the live log file
  struct Segment {
    uint64_t number = 0;
    uint64_t entries = 0;
  };
  std::vector<Segment> segments;  // oldest first
  uint64_t next = 0;              // the next file number to hand out
};
std::string EncodeIndexManifest(const IndexManifest& m);
Result<IndexManifest> ParseIndexManifest(std::string_view text, const std::string& what);

}  // namespace amberfs
