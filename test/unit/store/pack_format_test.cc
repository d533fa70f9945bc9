// The pack codec (pack_format.h): the documented layout byte by byte, round
// trips, and every kind of damage refused with EBADMSG.
#include "store/pack_format.h"

#include <doctest/doctest.h>
#include <xxhash.h>

#include <cstring>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "support/store_test_util.h"

namespace amberfs {
namespace {

using testing::TestBlob;


// A pack of the given blob sizes, each blob starting at a multiple of align.
std::vector<uint8_t> MakePack(const std::vector<size_t>& sizes, std::vector<PackEntry>* entries, size_t align = 1) {
  std::vector<uint8_t> pack;
  for (size_t i = 0; i < sizes.size(); ++i) {
    pack.resize((pack.size() + align - 1) / align * align, 0);
    std::vector<uint8_t> blob = TestBlob(static_cast<int>(i), sizes[i]);
    entries->push_back({Pointer::Of(blob), pack.size(), static_cast<uint32_t>(blob.size()), static_cast<uint32_t>(i % 4)});
    pack.insert(pack.end(), blob.begin(), blob.end());
  }
  std::vector<uint8_t> tail = EncodePackTail(*entries, pack.size());
  pack.insert(pack.end(), tail.begin(), tail.end());
  return pack;
}

// Rewrites the table checksum and the trailer checksum after an edit, so a
// test reaches the checks behind them.
void Reseal(std::vector<uint8_t>& pack) {
  uint8_t* t = pack.data() + pack.size() - kPackTrailerSize;
  const uint64_t table_offset = GetLE64(t + 24);
  const size_t table_bytes = pack.size() - kPackTrailerSize - table_offset;
  PutLE64(t + 32, XXH3_64bits(pack.data() + table_offset, table_bytes));
  PutLE64(t + 56, XXH3_64bits(t, 56));
}

uint8_t* EntryAt(std::vector<uint8_t>& pack, size_t n_entries, size_t i) {
  return pack.data() + pack.size() - PackTailSize(n_entries) + i * kPackEntrySize;
}

void CheckCorrupt(const std::vector<uint8_t>& pack, const std::string& fragment) {
  auto r = DecodePack(pack, "p1");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == EBADMSG);
  INFO(r.status().ToString());
  CHECK(r.status().message().find("pack p1 is corrupt") != std::string::npos);
  CHECK(r.status().message().find(fragment) != std::string::npos);
}

TEST_CASE("pack format: matches the documented layout byte by byte") {
  std::vector<uint8_t> blob = {'a', 'b', 'c'};
  PackEntry e{Pointer::Of(blob), 0, 3, 1};
  std::vector<uint8_t> pack = blob;
  std::vector<uint8_t> tail = EncodePackTail(std::span(&e, 1), 3);
  pack.insert(pack.end(), tail.begin(), tail.end());
  REQUIRE(pack.size() == 3 + 48 + 64);
  const uint8_t* en = pack.data() + 3;
  CHECK(std::memcmp(en, e.id.bytes().data(), 32) == 0);
  CHECK(GetLE64(en + 32) == 0);
  CHECK(GetLE32(en + 40) == 3);
  CHECK(GetLE32(en + 44) == 1);
  const uint8_t* t = pack.data() + 3 + 48;
  CHECK(std::memcmp(t, "AMBRPACK", 8) == 0);
  CHECK(GetLE32(t + 8) == 1);
  CHECK(GetLE32(t + 12) == 0);
  CHECK(GetLE32(t + 16) == 1);
  CHECK(GetLE32(t + 20) == 0);
  CHECK(GetLE64(t + 24) == 3);
  CHECK(GetLE64(t + 32) == XXH3_64bits(en, 48));
  for (int i = 40; i < 56; ++i) CHECK(t[i] == 0);
  CHECK(GetLE64(t + 56) == XXH3_64bits(t, 56));
  auto back = DecodePack(pack, "p");
  REQUIRE(back.ok());
  REQUIRE(back->size() == 1);
  CHECK((*back)[0] == e);
  CHECK(VerifyPackBlobs(pack, *back, "p").ok());
}

TEST_CASE("pack format: round trip with gaps, empty blobs and every kind") {
  std::vector<PackEntry> entries;
  std::vector<uint8_t> pack = MakePack({65536, 8192, 0, 200, 65536, 1}, &entries, 4096);
  auto back = DecodePack(pack, "p");
  REQUIRE(back.ok());
  CHECK(*back == entries);
  CHECK(VerifyPackBlobs(pack, *back, "p").ok());
  // The trailer alone, then the table alone, as a ranged reader does it.
  auto tr = DecodePackTrailer(std::span(pack).last(kPackTrailerSize), pack.size(), "p");
  REQUIRE(tr.ok());
  CHECK(tr->entry_count == entries.size());
  auto table = DecodePackTable(*tr, std::span(pack).subspan(tr->table_offset, entries.size() * kPackEntrySize), "p");
  REQUIRE(table.ok());
  CHECK(*table == entries);
}

TEST_CASE("pack format: every flipped bit of the tail is caught") {
  std::vector<PackEntry> entries;
  const std::vector<uint8_t> good = MakePack({100, 300, 50}, &entries);
  const size_t tail_start = good.size() - PackTailSize(entries.size());
  for (size_t at = tail_start; at < good.size(); ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = good;
      bad[at] ^= static_cast<uint8_t>(1 << bit);
      auto r = DecodePack(bad, "p");
      INFO("byte " << at << " bit " << bit);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == EBADMSG);
    }
  }
}

TEST_CASE("pack format: a damaged blob decodes but fails verification, naming the blob") {
  std::vector<PackEntry> entries;
  std::vector<uint8_t> pack = MakePack({100, 300}, &entries);
  pack[150] ^= 1;  // inside the second blob
  auto back = DecodePack(pack, "p");
  REQUIRE(back.ok());
  Status s = VerifyPackBlobs(pack, *back, "p");
  CHECK(s.code() == EBADMSG);
  CHECK(s.message().find(entries[1].id.Hex()) != std::string::npos);
}

TEST_CASE("pack format: a non-zero gap fails verification; the name is the tail's SHA-256") {
  std::vector<PackEntry> entries;
  std::vector<uint8_t> pack = MakePack({100, 300}, &entries, 4096);
  const size_t tail = PackTailSize(entries.size());
  CHECK(PackName(std::span(pack).last(tail)) == Pointer::Of(std::span(pack).last(tail)));
  auto back = DecodePack(pack, "p");
  REQUIRE(back.ok());
  std::vector<uint8_t> bad = pack;
  bad[200] = 1;  // between blob 0 (100 bytes) and blob 1 (at 4096)
  CHECK(VerifyPackBlobs(bad, *back, "p").message().find("gap before blob") != std::string::npos);
  // Padding after the last blob, before the table.
  std::vector<uint8_t> blob = TestBlob(9, 100), padded = blob;
  padded.resize(128, 0);
  PackEntry e{Pointer::Of(blob), 0, 100, 0};
  std::vector<uint8_t> t = EncodePackTail(std::span(&e, 1), 128);
  padded.insert(padded.end(), t.begin(), t.end());
  auto one = DecodePack(padded, "p");
  REQUIRE(one.ok());
  CHECK(VerifyPackBlobs(padded, *one, "p").ok());
  padded[120] = 1;
  CHECK(VerifyPackBlobs(padded, *one, "p").message().find("gap before the table") != std::string::npos);
}

TEST_CASE("pack format: truncated and short packs are refused") {
  std::vector<PackEntry> entries;
  const std::vector<uint8_t> good = MakePack({100, 300, 50}, &entries);
  for (size_t cut : {size_t{1}, size_t{10}, size_t{64}, size_t{65}, good.size() - 1, good.size()}) {
    std::vector<uint8_t> bad(good.begin(), good.end() - static_cast<long>(cut));
    auto r = DecodePack(bad, "p");
    INFO("cut " << cut);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == EBADMSG);
  }
  // Bytes cut from the front: the trailer is whole but the size disagrees.
  std::vector<uint8_t> front(good.begin() + 1, good.end());
  CheckCorrupt(front, "does not fit");
  // A trailer decoded for a pack said to be larger than the limit.
  auto r = DecodePackTrailer(std::span(good).last(kPackTrailerSize), kMaxPackBytes + 1, "p1");
  CHECK(r.status().code() == EBADMSG);
}

TEST_CASE("pack format: the table's rules hold behind good checksums") {
  std::vector<PackEntry> entries;
  const std::vector<uint8_t> good = MakePack({100, 300, 50}, &entries);
  SUBCASE("out of order") {
    std::vector<uint8_t> bad = good;
    std::vector<uint8_t> e0(EntryAt(bad, 3, 0), EntryAt(bad, 3, 0) + 48);
    std::memcpy(EntryAt(bad, 3, 0), EntryAt(bad, 3, 1), 48);
    std::memcpy(EntryAt(bad, 3, 1), e0.data(), 48);
    Reseal(bad);
    CheckCorrupt(bad, "out of order");
  }
  SUBCASE("overlap") {
    std::vector<uint8_t> bad = good;
    PutLE64(EntryAt(bad, 3, 1) + 32, 99);
    Reseal(bad);
    CheckCorrupt(bad, "overlaps");
  }
  SUBCASE("past the blobs") {
    std::vector<uint8_t> bad = good;
    PutLE32(EntryAt(bad, 3, 2) + 40, 51);
    Reseal(bad);
    CheckCorrupt(bad, "runs past");
    PutLE32(EntryAt(bad, 3, 2) + 40, 0xffffffffu);
    Reseal(bad);
    CheckCorrupt(bad, "longer than a blob");
    PutLE32(EntryAt(bad, 3, 2) + 40, 1);
    PutLE64(EntryAt(bad, 3, 2) + 32, UINT64_MAX);  // offset + length would wrap
    Reseal(bad);
    CheckCorrupt(bad, "runs past");
  }
  SUBCASE("unknown flags") {
    std::vector<uint8_t> bad = good;
    PutLE32(EntryAt(bad, 3, 0) + 44, 4);
    Reseal(bad);
    CheckCorrupt(bad, "unknown flags");
  }
  SUBCASE("null id") {
    std::vector<uint8_t> bad = good;
    std::memset(EntryAt(bad, 3, 1), 0, 32);
    Reseal(bad);
    CheckCorrupt(bad, "null id");
  }
  SUBCASE("a blob listed twice") {
    std::vector<uint8_t> bad = good;
    std::memcpy(EntryAt(bad, 3, 2), EntryAt(bad, 3, 0), 32);
    Reseal(bad);
    CheckCorrupt(bad, "listed twice");
  }
  SUBCASE("version, reserved fields, counts") {
    uint8_t* t;
    std::vector<uint8_t> bad = good;
    t = bad.data() + bad.size() - kPackTrailerSize;
    PutLE32(t + 8, 3);
    Reseal(bad);
    CheckCorrupt(bad, "format version 3");
    bad = good;
    t = bad.data() + bad.size() - kPackTrailerSize;
    PutLE32(t + 8, 2);  // a clear table under a sealed pack's version
    Reseal(bad);
    CheckCorrupt(bad, "cannot hold");
    bad = good;
    t = bad.data() + bad.size() - kPackTrailerSize;
    t[45] = 1;
    Reseal(bad);
    CheckCorrupt(bad, "reserved");
    bad = good;
    t = bad.data() + bad.size() - kPackTrailerSize;
    PutLE32(t + 16, 0);
    Reseal(bad);
    CheckCorrupt(bad, "entry count 0");
    bad = good;
    t = bad.data() + bad.size() - kPackTrailerSize;
    PutLE32(t + 16, 4);  // one more than the table holds
    Reseal(bad);
    CheckCorrupt(bad, "does not fit");
  }
}

}  // namespace
}  // namespace amberfs
