// The pack format's codec: many blobs in one file or object, a table of
// where each lies, and a trailer at the end (docs/FORMATS.md, "Packs").
//
//   [blob 0][pad][blob 1][pad] ... [blob n-1] [table] [trailer: 64]
//
// Entry (48 bytes): blob id (32, SHA-256, never null), offset from the
// pack's start (u64), length (u32, at most kMaxBlobBytes), flags (u32:
// bits 0..1 the blob's kind, other bits 0).
// Trailer (64 bytes): magic "AMBRPACK", version u32, flags u32 = 0, entry
// count u32 (1..kMaxPackEntries), table bytes u32, table offset u64 (= pack
// size - 64 - table bytes), xxh3-64 of the table's bytes u64, 16 zero bytes,
// xxh3-64 of trailer bytes 0..55. Integers little-endian. Bytes between
// blobs (the writer's alignment padding) are zero.
//   Version 1: the table is the n entries in the clear; table bytes is 0
//   (read as 48 n).
//   Version 2 (encrypted volumes): the table is the n entries sealed by a
//   PackTableCodec (pack_table_codec.h) bound to PackTableBinding(n, table
//   offset), so the clear trailer cannot be altered either; table bytes is
//   the sealed length, 48 n + at most kMaxPackTableSealBytes. Opening it
//   needs the volume's key: without a codec, decoding the table is EACCES
//   (the trailer, the sizes and the name still check).
//
// Name: a pack is named by the SHA-256 of its tail (table and trailer,
// PackName). The table holds every blob's SHA-256, offset and length and
// the gaps are zero, so the name fixes every byte of the pack, like a hash
// of the whole, while costing a hash of 48 bytes per blob instead of a
// second pass over the data (a writer appends from many threads at once;
// hashing 16 MiB in order would serialize them). A sealed table fixes the
// entries as well: changing one changes the sealed bytes or fails the tag.
//
// Decoding is strict: any field out of place is EBADMSG with a message
// naming the pack (`what`) and the field, never a guess and never a crash,
// whatever the bytes. Entries must lie in increasing, non-overlapping order
// within [0, table offset); ids are unique. A pack is at most kMaxPackBytes,
// so every offset and length fits the blob index's 32-bit fields.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "amberfs/status.h"
#include "store/pack_table_codec.h"
#include "store/pointer.h"

namespace amberfs {

inline constexpr size_t kPackEntrySize = 48;
inline constexpr size_t kPackTrailerSize = 64;
inline constexpr uint32_t kPackVersion = 1;        // a table in the clear
inline constexpr uint32_t kSealedPackVersion = 2;  // a sealed table
inline constexpr uint32_t kMaxPackEntries = 1u << 18;
inline constexpr uint64_t kMaxPackBytes = uint64_t{1} << 30;
// The kind bits of an entry's flags.
inline constexpr uint32_t kPackKindMask = 3;
enum class PackBlobKind : uint32_t { kUnknown = 0, kChunk = 1, kIndexNode = 2, kRecord = 3 };

struct PackEntry {
  Pointer id;
  uint64_t offset = 0;
  uint32_t length = 0;
  uint32_t flags = 0;
  friend bool operator==(const PackEntry&, const PackEntry&) = default;
};

struct PackTrailer {
  uint32_t version = kPackVersion;
  uint32_t entry_count = 0;
  uint32_t table_bytes = 0;  // the table's stored size: 48 n in version 1
  uint64_t table_offset = 0;
  uint64_t table_checksum = 0;
};

// Bytes the table and trailer of a pack of n blobs take in the clear
// (version 1); a sealed one takes at most kMaxPackTableSealBytes more.
inline uint64_t PackTailSize(uint64_t n) { return n * kPackEntrySize + kPackTrailerSize; }
// The tail's size as a decoded trailer says (either version).
inline uint64_t PackTailSize(const PackTrailer& t) { return uint64_t{t.table_bytes} + kPackTrailerSize; }
// What a version 2 table is sealed for: the clear trailer's claims about it.
std::string PackTableBinding(uint32_t entry_count, uint64_t table_offset);

// The table and trailer for entries (in offset order), to append after the
// blobs, whose end is data_end. The caller keeps the rules above (PackWriter
// does); EncodePackTail does not check them.
std::vector<uint8_t> EncodePackTail(std::span<const PackEntry> entries, uint64_t data_end);
// The same with the table sealed by sealer (version 2).
Result<std::vector<uint8_t>> EncodeSealedPackTail(std::span<const PackEntry> entries, uint64_t data_end,
                                                  const PackTableCodec& sealer);

// The trailer: the last kPackTrailerSize bytes of a pack of pack_size bytes.
Result<PackTrailer> DecodePackTrailer(std::span<const uint8_t> trailer, uint64_t pack_size,
                                      const std::string& what);
// The table (trailer.table_bytes at trailer.table_offset), checked against
// the trailer's checksum and the rules above; a sealed one opened with
// opener (EACCES without one, or from the opener: another volume's key).
Result<std::vector<PackEntry>> DecodePackTable(const PackTrailer& trailer, std::span<const uint8_t> table,
                                               const std::string& what, const PackTableCodec* opener = nullptr);
// The trailer of a whole pack held in memory (its last kPackTrailerSize
// bytes; a shorter pack is EBADMSG).
Result<PackTrailer> DecodeTrailerOfPack(std::span<const uint8_t> pack, const std::string& what);
// Trailer and table of a whole pack held in memory.
Result<std::vector<PackEntry>> DecodePack(std::span<const uint8_t> pack, const std::string& what,
                                          const PackTableCodec* opener = nullptr);
// The pack's name: SHA-256 of its tail (the table and trailer bytes).
Pointer PackName(std::span<const uint8_t> tail);
// Every blob's SHA-256 against its id and every gap's bytes against zero
// (EBADMSG naming the first bad blob or gap); entries must come from
// decoding this pack.
Status VerifyPackBlobs(std::span<const uint8_t> pack, std::span<const PackEntry> entries, const std::string& what);

}  // namespace amberfs
