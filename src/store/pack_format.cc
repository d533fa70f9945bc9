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

// Appends the trailer for a table of table_bytes, the last bytes of *out.
void AppendTrailer(uint32_t version, size_t entry_count, size_t table_bytes, uint64_t data_end,
                   std::vector<uint8_t>* out) {
  const size_t at = out->size();
  out->resize(at + kPackTrailerSize, 0);
  uint8_t* p = out->data() + at;
  std::memcpy(p, kMagic, sizeof kMagic);
  PutLE32(p + 8, version);
  PutLE32(p + 16, static_cast<uint32_t>(entry_count));
  if (version == kSealedPackVersion) PutLE32(p + 20, static_cast<uint32_t>(table_bytes));
  PutLE64(p + 24, data_end);
  PutLE64(p + 32, XXH3_64bits(p - table_bytes, table_bytes));
  PutLE64(p + 56, XXH3_64bits(p, 56));
}

std::vector<uint8_t> EncodeTable(std::span<const PackEntry> entries) {
  std::vector<uint8_t> out(entries.size() * kPackEntrySize, 0);
  uint8_t* p = out.data();
  for (const PackEntry& e : entries) {
    std::memcpy(p, e.id.bytes().data(), Pointer::kSize);
    PutLE64(p + 32, e.offset);
    PutLE32(p + 40, e.length);
    PutLE32(p + 44, e.flags);
    p += kPackEntrySize;
  }
  return out;
}

}  // namespace

std::string PackTableBinding(uint32_t entry_count, uint64_t table_offset) {
  return "pack table v2 entries=" + std::to_string(entry_count) + " blobs_end=" + std::to_string(table_offset);
}

std::vector<uint8_t> EncodePackTail(std::span<const PackEntry> entries, uint64_t data_end) {
  std::vector<uint8_t> out = EncodeTable(entries);
  out.reserve(out.size() + kPackTrailerSize);
  AppendTrailer(kPackVersion, entries.size(), out.size(), data_end, &out);
  return out;
}

Result<std::vector<uint8_t>> EncodeSealedPackTail(std::span<const PackEntry> entries, uint64_t data_end,
                                                  const PackTableCodec& sealer) {
  const std::vector<uint8_t> table = EncodeTable(entries);
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> out,
                         sealer.Seal(PackTableBinding(static_cast<uint32_t>(entries.size()), data_end), table));
  if (out.size() < table.size() || out.size() - table.size() > kMaxPackTableSealBytes)
    return Status::Error(EINVAL, "sealed pack table of " + std::to_string(out.size()) + " bytes for " +
                                     std::to_string(table.size()) + " (a sealer adds at most " +
                                     std::to_string(kMaxPackTableSealBytes) + ")");
  const size_t sealed_bytes = out.size();
  AppendTrailer(kSealedPackVersion, entries.size(), sealed_bytes, data_end, &out);
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
  PackTrailer tr;
  tr.version = GetLE32(p + 8);
  if (tr.version != kPackVersion && tr.version != kSealedPackVersion)
    return Corrupt(what, "format version " + std::to_string(tr.version) + ", this amberfs reads versions " +
                             std::to_string(kPackVersion) + " and " + std::to_string(kSealedPackVersion));
  const bool sealed = tr.version == kSealedPackVersion;
  if (GetLE32(p + 12) != 0 || (!sealed && GetLE32(p + 20) != 0) || !AllZero(p + 40, 16))
    return Corrupt(what, "reserved trailer fields are not zero");
  tr.entry_count = GetLE32(p + 16);
  tr.table_offset = GetLE64(p + 24);
  tr.table_checksum = GetLE64(p + 32);
  if (tr.entry_count == 0 || tr.entry_count > kMaxPackEntries)
    return Corrupt(what, "entry count " + std::to_string(tr.entry_count) + " out of range");
  const uint64_t clear_bytes = uint64_t{tr.entry_count} * kPackEntrySize;
  tr.table_bytes = sealed ? GetLE32(p + 20) : static_cast<uint32_t>(clear_bytes);
  if (tr.table_bytes < clear_bytes || tr.table_bytes - clear_bytes > (sealed ? kMaxPackTableSealBytes : 0))
    return Corrupt(what, "a sealed table of " + std::to_string(tr.table_bytes) + " bytes cannot hold " +
                             std::to_string(tr.entry_count) + " entries");
  if (PackTailSize(tr) > pack_size || tr.table_offset != pack_size - PackTailSize(tr))
    return Corrupt(what, "table offset " + std::to_string(tr.table_offset) + " does not fit " +
                             std::to_string(tr.entry_count) + " entries in " + std::to_string(pack_size) + " bytes");
  return tr;
}

Result<std::vector<PackEntry>> DecodePackTable(const PackTrailer& tr, std::span<const uint8_t> stored,
                                               const std::string& what, const PackTableCodec* opener) {
  if (stored.size() != tr.table_bytes)
    return Corrupt(what, "table of " + std::to_string(stored.size()) + " bytes where the trailer says " +
                             std::to_string(tr.table_bytes));
  if (XXH3_64bits(stored.data(), stored.size()) != tr.table_checksum) return Corrupt(what, "table checksum mismatch");
  std::vector<uint8_t> opened;
  std::span<const uint8_t> table = stored;
  if (tr.version == kSealedPackVersion) {
    if (opener == nullptr)
      return Status::Error(EACCES, "pack " + what + " is an encrypted volume's: its table is sealed, and opening it "
                                   "needs that volume's key");
    AMBER_ASSIGN_OR_RETURN(opened, opener->Open(PackTableBinding(tr.entry_count, tr.table_offset), stored, what));
    if (opened.size() != uint64_t{tr.entry_count} * kPackEntrySize)
      return Corrupt(what, "its sealed table holds " + std::to_string(opened.size()) + " bytes for " +
                               std::to_string(tr.entry_count) + " entries");
    table = opened;
  }
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

Result<PackTrailer> DecodeTrailerOfPack(std::span<const uint8_t> pack, const std::string& what) {
  if (pack.size() < kPackTrailerSize) return Corrupt(what, std::to_string(pack.size()) + " bytes, too short for a trailer");
  return DecodePackTrailer(pack.last(kPackTrailerSize), pack.size(), what);
}

Result<std::vector<PackEntry>> DecodePack(std::span<const uint8_t> pack, const std::string& what,
                                          const PackTableCodec* opener) {
  AMBER_ASSIGN_OR_RETURN(PackTrailer tr, DecodeTrailerOfPack(pack, what));
  return DecodePackTable(tr, pack.subspan(tr.table_offset, tr.table_bytes), what, opener);
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
  AMBER_ASSIGN_OR_RETURN(PackTrailer tr, DecodeTrailerOfPack(pack, what));
  if (end > tr.table_offset) return Corrupt(what, "the blobs run into the table");
  if (!AllZero(pack.data() + end, tr.table_offset - end)) return Corrupt(what, "the gap before the table is not zero");
  return Status::OK();
}

}  // namespace amberfs
