// Pack codec: see pack_format.h and docs/FORMATS.md ("Packs").
#include "store/pack_format.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "base/byte_order.h"
#include "store/store.h"

namespace amberfs {
namespace {

constexpr char kMagic[8] = {'A', 'M', 'B', 'R', 'P', 'A', 'C', 'K'};

Status Corrupt(const std::string& what, const std::string& why) {
  return Status::Error(EBADMSG, "pack " + what + " is corrupt: " + why);
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

}  // namespace

std::vector<uint8_t> EncodePackTail(std::span<const PackEntry> entries, uint64_t data_end) {
  std::vector<uint8_t> out(PackTailSize(entries.size()), 0);
  uint8_t* p = out.data();
  for (const PackEntry& e : entries) {
    std::memcpy(p, e.id.bytes().data(), Pointer::kSize);
    PutLE64(p + 32, e.offset);
    PutLE32(p + 40, e.length);
    PutLE32(p + 44, e.flags);
    p += kPackEntrySize;
  }
  const size_t table_bytes = entries.size() * kPackEntrySize;
  std::memcpy(p, kMagic, sizeof kMagic);
  PutLE32(p + 8, kPackVersion);
  PutLE32(p + 16, static_cast<uint32_t>(entries.size()));
  PutLE64(p + 24, data_end);
  PutLE64(p + 32, XXH3_64bits(out.data(), table_bytes));
  PutLE64(p + 56, XXH3_64bits(p, 56));
  return out;
}

Result<PackTrailer> DecodePackTrailer(std::span<const uint8_t> t, uint64_t pack_size, const std::string& what) {
  if (t.size() != kPackTrailerSize || pack_size < kPackTrailerSize)
    return Corrupt(what, std::to_string(pack_size) + " bytes, too short for a trailer");
  if (pack_size > kMaxPackBytes)
    return Corrupt(what, std::to_string(pack_size) + " bytes, more than a pack may have (" +
                             std::to_string(kMaxPackBytes) + ")");
  const uint8_t* p = t.data();
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) return Corrupt(what, "no AMBRPACK trailer at its end");
  if (GetLE64(p + 56) != XXH3_64bits(p, 56)) return Corrupt(what, "trailer checksum mismatch");
  const uint32_t version = GetLE32(p + 8);
  if (version != kPackVersion)
    return Corrupt(what, "format version " + std::to_string(version) + ", this amberfs reads version " +
                             std::to_string(kPackVersion));
  if (GetLE32(p + 12) != 0 || GetLE32(p + 20) != 0 || !AllZero(p + 40, 16))
    return Corrupt(what, "reserved trailer fields are not zero");
  PackTrailer tr;
  tr.entry_count = GetLE32(p + 16);
  tr.table_offset = GetLE64(p + 24);
  tr.table_checksum = GetLE64(p + 32);
  if (tr.entry_count == 0 || tr.entry_count > kMaxPackEntries)
    return Corrupt(what, "entry count " + std::to_string(tr.entry_count) + " out of range");
  if (PackTailSize(tr.entry_count) > pack_size || tr.table_offset != pack_size - PackTailSize(tr.entry_count))
    return Corrupt(what, "table offset " + std::to_string(tr.table_offset) + " does not fit " +
                             std::to_string(tr.entry_count) + " entries in " + std::to_string(pack_size) + " bytes");
  return tr;
}

Result<std::vector<PackEntry>> DecodePackTable(const PackTrailer& tr, std::span<const uint8_t> table,
                                               const std::string& what) {
  if (table.size() != uint64_t{tr.entry_count} * kPackEntrySize)
    return Corrupt(what, "table of " + std::to_string(table.size()) + " bytes for " +
                             std::to_string(tr.entry_count) + " entries");
  if (XXH3_64bits(table.data(), table.size()) != tr.table_checksum) return Corrupt(what, "table checksum mismatch");
  std::vector<PackEntry> entries(tr.entry_count);
  uint64_t end = 0;
  for (uint32_t i = 0; i < tr.entry_count; ++i) {
    const uint8_t* p = table.data() + size_t{i} * kPackEntrySize;
    PackEntry& e = entries[i];
    e.id = Pointer::FromBytes(p);
    e.offset = GetLE64(p + 32);
    e.length = GetLE32(p + 40);
    e.flags = GetLE32(p + 44);
    const std::string at = "entry " + std::to_string(i) + " (blob " + e.id.Hex() + ")";
    if (e.id.IsNull()) return Corrupt(what, "entry " + std::to_string(i) + " has the null id");
    if ((e.flags & ~kPackKindMask) != 0) return Corrupt(what, at + " has unknown flags");
    if (e.length > kMaxBlobBytes) return Corrupt(what, at + " is longer than a blob may be");
    if (e.offset < end) return Corrupt(what, at + " overlaps the one before or is out of order");
    if (e.offset > tr.table_offset || e.length > tr.table_offset - e.offset)
      return Corrupt(what, at + " runs past the blobs' end");
    end = e.offset + e.length;
  }
  std::vector<Pointer> ids;
  ids.reserve(entries.size());
  for (const PackEntry& e : entries) ids.push_back(e.id);
  std::sort(ids.begin(), ids.end());
  if (auto dup = std::adjacent_find(ids.begin(), ids.end()); dup != ids.end())
    return Corrupt(what, "blob " + dup->Hex() + " is listed twice");
  return entries;
}

Result<std::vector<PackEntry>> DecodePack(std::span<const uint8_t> pack, const std::string& what) {
  if (pack.size() < kPackTrailerSize) return Corrupt(what, std::to_string(pack.size()) + " bytes, too short for a trailer");
  AMBER_ASSIGN_OR_RETURN(PackTrailer tr, DecodePackTrailer(pack.last(kPackTrailerSize), pack.size(), what));
  return DecodePackTable(tr, pack.subspan(tr.table_offset, size_t{tr.entry_count} * kPackEntrySize), what);
}

Pointer PackName(std::span<const uint8_t> tail) { return Pointer::Of(tail); }

Status VerifyPackBlobs(std::span<const uint8_t> pack, std::span<const PackEntry> entries, const std::string& what) {
  uint64_t end = 0;
  for (const PackEntry& e : entries) {
    if (e.offset < end || e.offset > pack.size() || e.length > pack.size() - e.offset)
      return Corrupt(what, "blob " + e.id.Hex() + " runs past the pack's end");
    if (!AllZero(pack.data() + end, e.offset - end))
      return Corrupt(what, "the gap before blob " + e.id.Hex() + " is not zero");
    end = e.offset + e.length;
    if (Pointer::Of(pack.subspan(e.offset, e.length)) != e.id)
      return Corrupt(what, "blob " + e.id.Hex() + " at offset " + std::to_string(e.offset) + " (SHA-256 mismatch)");
  }
  const uint64_t tail = PackTailSize(entries.size());
  if (pack.size() < tail || end > pack.size() - tail) return Corrupt(what, "the blobs run into the table");
  if (!AllZero(pack.data() + end, pack.size() - tail - end)) return Corrupt(what, "the gap before the table is not zero");
  return Status::OK();
}

}  // namespace amberfs
