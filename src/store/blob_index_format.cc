// Blob index codecs: see blob_index_format.h and docs/FORMATS.md.
#include "store/blob_index_format.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <map>

#include "base/byte_order.h"
#include "store/pack_format.h"
#include "store/store.h"

namespace amberfs {
namespace {

constexpr char kLogMagic[4] = {'A', 'M', 'B', 'L'};
constexpr char kSegmentMagic[8] = {'A', 'M', 'B', 'R', 'B', 'I', 'D', 'X'};
constexpr std::string_view kManifestMagic = "amberfs-blob-index 1\n";

bool ValidRange(uint64_t offset, uint64_t length) {
  return length <= kMaxBlobBytes && offset + length <= kMaxPackBytes;
}

uint64_t LogChecksum(const uint8_t* header, std::span<const uint8_t> payload) {
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  XXH3_64bits_update(st, header, 16);
  XXH3_64bits_update(st, payload.data(), payload.size());
  const uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  return h;
}

Status BadManifest(const std::string& what, const std::string& why) {
  return Status::Error(EBADMSG, "blob index manifest " + what + " is corrupt: " + why);
}

bool ParseHex64(std::string_view s, uint64_t* out) {
  if (s.size() != 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

}  // namespace

void EncodeIndexEntry(const RawIndexEntry& e, uint8_t* out) {
  std::memcpy(out, e.blob.bytes().data(), Pointer::kSize);
  PutLE32(out + 32, e.pack);
  PutLE32(out + 36, e.offset);
  PutLE32(out + 40, e.length);
  PutLE32(out + 44, e.flags);
}

RawIndexEntry DecodeIndexEntryBytes(const uint8_t* in) {
  RawIndexEntry e;
  e.blob = Pointer::FromBytes(in);
  e.pack = GetLE32(in + 32);
  e.offset = GetLE32(in + 36);
  e.length = GetLE32(in + 40);
  e.flags = GetLE32(in + 44);
  return e;
}

bool ValidIndexEntry(const RawIndexEntry& e, uint32_t pack_count) {
  if (e.blob.IsNull()) return false;
  if (e.removed()) return e.offset == 0 && e.length == 0 && e.flags == 0;
  return e.pack < pack_count && (e.flags & ~kPackKindMask) == 0 && ValidRange(e.offset, e.length);
}

Status CheckIndexUpdates(std::span<const IndexUpdate> updates) {
  if (updates.size() > kMaxLogRecordEntries)
    return Status::Error(EINVAL, "blob index: " + std::to_string(updates.size()) + " updates in one commit, more than " +
                                     std::to_string(kMaxLogRecordEntries));
  for (const IndexUpdate& u : updates) {
    if (u.blob.IsNull()) return Status::Error(EINVAL, "blob index: an update of the null pointer");
    if (u.removed) continue;
    if (u.where.pack.IsNull() || (u.where.flags & ~kPackKindMask) != 0 || !ValidRange(u.where.offset, u.where.length))
      return Status::Error(EINVAL, "blob index: bad location for blob " + u.blob.Hex() + " (pack " +
                                       u.where.pack.Hex() + ", offset " + std::to_string(u.where.offset) +
                                       ", length " + std::to_string(u.where.length) + ")");
  }
  return Status::OK();
}

std::vector<uint8_t> EncodeIndexLogRecord(std::span<const IndexUpdate> updates) {
  std::map<Pointer, uint32_t> pack_index;
  std::vector<Pointer> packs;
  for (const IndexUpdate& u : updates) {
    if (u.removed) continue;
    if (pack_index.emplace(u.where.pack, static_cast<uint32_t>(packs.size())).second) packs.push_back(u.where.pack);
  }
  std::vector<uint8_t> out(kLogRecordHeaderSize + packs.size() * 32 + updates.size() * kIndexEntrySize, 0);
  uint8_t* h = out.data();
  std::memcpy(h, kLogMagic, 4);
  h[4] = 1;
  PutLE32(h + 8, static_cast<uint32_t>(updates.size()));
  PutLE32(h + 12, static_cast<uint32_t>(packs.size()));
  uint8_t* p = h + kLogRecordHeaderSize;
  for (const Pointer& pack : packs) {
    std::memcpy(p, pack.bytes().data(), 32);
    p += 32;
  }
  for (const IndexUpdate& u : updates) {
    RawIndexEntry e{u.blob};
    if (!u.removed) e = RawIndexEntry{u.blob, pack_index[u.where.pack], u.where.offset, u.where.length, u.where.flags};
    EncodeIndexEntry(e, p);
    p += kIndexEntrySize;
  }
  PutLE64(h + 16, LogChecksum(h, std::span(out).subspan(kLogRecordHeaderSize)));
  return out;
}

std::optional<DecodedLogRecord> DecodeIndexLogRecord(std::span<const uint8_t> bytes) {
  if (bytes.size() < kLogRecordHeaderSize) return std::nullopt;
  const uint8_t* h = bytes.data();
  if (std::memcmp(h, kLogMagic, 4) != 0 || h[4] != 1 || h[5] != 0 || h[6] != 0 || h[7] != 0) return std::nullopt;
  const uint32_t n = GetLE32(h + 8), p = GetLE32(h + 12);
  if (n == 0 || n > kMaxLogRecordEntries || p > n) return std::nullopt;
  const size_t length = kLogRecordHeaderSize + size_t{p} * 32 + size_t{n} * kIndexEntrySize;
  if (bytes.size() < length) return std::nullopt;
  if (GetLE64(h + 16) != LogChecksum(h, bytes.subspan(kLogRecordHeaderSize, length - kLogRecordHeaderSize)))
    return std::nullopt;
  const uint8_t* packs = h + kLogRecordHeaderSize;
  // One encoding only: packs unique, listed in the order entries first use them.
  std::vector<Pointer> sorted;
  for (uint32_t i = 0; i < p; ++i) sorted.push_back(Pointer::FromBytes(packs + size_t{i} * 32));
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) return std::nullopt;
  std::vector<bool> used(p, false);
  uint32_t next_new = 0;
  DecodedLogRecord rec;
  rec.length = length;
  rec.updates.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    const RawIndexEntry e = DecodeIndexEntryBytes(packs + size_t{p} * 32 + size_t{i} * kIndexEntrySize);
    if (!ValidIndexEntry(e, p)) return std::nullopt;
    IndexUpdate u{e.blob, e.removed(), {}};
    if (!e.removed()) {
      if (!used[e.pack] && e.pack != next_new++) return std::nullopt;
      used[e.pack] = true;
      u.where = BlobLocation{Pointer::FromBytes(packs + size_t{e.pack} * 32), e.offset, e.length, e.flags};
      if (u.where.pack.IsNull()) return std::nullopt;
    }
    rec.updates.push_back(u);
  }
  for (bool u : used)
    if (!u) return std::nullopt;  // the encoder names only packs it uses
  return rec;
}

std::vector<uint8_t> EncodeSegmentHeader(const SegmentHeader& h) {
  std::vector<uint8_t> out(kSegmentHeaderSize, 0);
  std::memcpy(out.data(), kSegmentMagic, 8);
  PutLE32(&out[8], 1);
  PutLE32(&out[12], h.bloom_probes);
  PutLE64(&out[16], h.entry_count);
  PutLE32(&out[24], h.pack_count);
  PutLE64(&out[32], h.bloom_words);
  PutLE64(&out[40], h.meta_checksum);
  PutLE64(&out[56], XXH3_64bits(out.data(), 56));
  return out;
}

Result<SegmentHeader> DecodeSegmentHeader(std::span<const uint8_t> b, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return Status::Error(EBADMSG, "blob index segment " + what + " is corrupt: " + why);
  };
  if (b.size() < kSegmentHeaderSize || std::memcmp(b.data(), kSegmentMagic, 8) != 0) return bad("no AMBRBIDX header");
  if (GetLE64(&b[56]) != XXH3_64bits(b.data(), 56)) return bad("header checksum mismatch");
  if (GetLE32(&b[8]) != 1) return bad("format version " + std::to_string(GetLE32(&b[8])) + ", this amberfs reads 1");
  if (GetLE32(&b[28]) != 0 || GetLE64(&b[48]) != 0) return bad("reserved header fields are not zero");
  SegmentHeader h;
  h.bloom_probes = GetLE32(&b[12]);
  h.entry_count = GetLE64(&b[16]);
  h.pack_count = GetLE32(&b[24]);
  h.bloom_words = GetLE64(&b[32]);
  h.meta_checksum = GetLE64(&b[40]);
  if (h.bloom_probes == 0 || h.bloom_probes > kMaxBloomProbes) return bad("Bloom probes out of range");
  // Bounds that keep every size computation far from overflow.
  if (h.entry_count > (uint64_t{1} << 40) || h.pack_count > h.entry_count || h.bloom_words == 0 ||
      h.bloom_words > (uint64_t{1} << 40))
    return bad("counts out of range");
  return h;
}

uint64_t IdPrefix(const Pointer& id) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | id.bytes()[i];
  return v;
}

uint64_t BloomBit(const Pointer& id, uint32_t probe, uint64_t bits) {
  // Ids are SHA-256 values, uniform already: two words of one make the probes.
  const uint64_t h1 = GetLE64(id.bytes().data() + 8), h2 = GetLE64(id.bytes().data() + 16) | 1;
  return (h1 + probe * h2) % bits;
}

std::string EncodeIndexManifest(const IndexManifest& m) {
  std::string out(kManifestMagic);
  out += "log " + Hex64(m.log) + "\n";
  for (const auto& s : m.segments) out += "seg " + Hex64(s.number) + " " + std::to_string(s.entries) + "\n";
  out += "next " + Hex64(m.next) + "\n";
  out += "checksum " + Hex64(XXH3_64bits(out.data(), out.size())) + "\n";
  return out;
}

Result<IndexManifest> ParseIndexManifest(std::string_view text, const std::string& what) {
  if (text.substr(0, kManifestMagic.size()) != kManifestMagic) return BadManifest(what, "no amberfs-blob-index 1 line");
  const size_t sum_at = text.rfind("checksum ");
  uint64_t sum = 0;
  if (sum_at == std::string_view::npos || text.size() != sum_at + 9 + 17 || text.back() != '\n' ||
      !ParseHex64(text.substr(sum_at + 9, 16), &sum))
    return BadManifest(what, "no checksum line at its end");
  if (sum != XXH3_64bits(text.data(), sum_at)) return BadManifest(what, "checksum mismatch");
  IndexManifest m;
  bool have_log = false, have_next = false;
  size_t pos = kManifestMagic.size();
  while (pos < sum_at) {
    const size_t nl = text.find('\n', pos);
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    uint64_t v = 0;
    if (line.size() == 20 && line.substr(0, 4) == "log " && ParseHex64(line.substr(4), &v) && !have_log && m.segments.empty()) {
      m.log = v, have_log = true;
    } else if (line.size() == 21 && line.substr(0, 5) == "next " && ParseHex64(line.substr(5), &v) && have_log) {
      m.next = v, have_next = true;
    } else if (line.size() > 21 && line.substr(0, 4) == "seg " && line[20] == ' ' && ParseHex64(line.substr(4, 16), &v) &&
               have_log && !have_next) {
      IndexManifest::Segment s{v, 0};
      const std::string_view count = line.substr(21);
      if (count.size() > 15 || count.find_first_not_of("0123456789") != std::string_view::npos ||
          (count.size() > 1 && count[0] == '0'))
        return BadManifest(what, "bad line '" + std::string(line) + "'");
      for (char c : count) s.entries = s.entries * 10 + static_cast<uint64_t>(c - '0');
      m.segments.push_back(s);
    } else {
      return BadManifest(what, "bad line '" + std::string(line) + "'");
    }
  }
  if (!have_log || !have_next) return BadManifest(what, "no log or next line");
  for (size_t i = 0; i < m.segments.size(); ++i) {
    const uint64_t n = m.segments[i].number;
    if (n >= m.next || n == m.log || (i > 0 && n <= m.segments[i - 1].number))
      return BadManifest(what, "segment numbers out of order");
  }
  if (m.log >= m.next) return BadManifest(what, "log number out of order");
  return m;
}

}  // namespace amberfs
