// Sealed pack tables (pack version 2): an encrypted volume's packs carry
// their entry table sealed by VolumeCodec::PackTables. What reaches a store
// lists no blob id, offset or length in the clear; the pack's owner reads it
// back; a reader without the key, or with another volume's, sees a pack that
// is not its own (EACCES), and every alteration is EBADMSG.
#include <doctest/doctest.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "crypto/secret.h"
#include "snapshot/volume_codec.h"
#include "store/disk_store.h"
#include "store/pack_file.h"
#include "store/pack_format.h"
#include "store/pack_objects.h"
#include "store/slow_packs.h"
#include "support/pack_test_util.h"
#include "support/store_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::TempDir;
using testing::TestBlob;

std::shared_ptr<const PackTableCodec> Tables(uint8_t seed) {
  SecretKey k;
  for (size_t i = 0; i < SecretKey::kSize; ++i) k.data()[i] = static_cast<uint8_t>(i * 5 + seed);
  return VolumeCodec::Make(false, &k).value().PackTables();
}

std::vector<std::vector<uint8_t>> Blobs(int first, int count) {
  std::vector<std::vector<uint8_t>> blobs;
  for (int i = first; i < first + count; ++i) blobs.push_back(TestBlob(i, 3000 + 100 * static_cast<size_t>(i)));
  return blobs;
}

bool Contains(const std::vector<uint8_t>& hay, std::span<const uint8_t> needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// Rewrites both checksums after an edit of the tail, as a forger would.
void FixChecksums(std::vector<uint8_t>& pack) {
  uint8_t* t = pack.data() + pack.size() - kPackTrailerSize;
  const uint64_t table_offset = GetLE64(t + 24);
  PutLE64(t + 32, XXH3_64bits(pack.data() + table_offset, pack.size() - kPackTrailerSize - table_offset));
  PutLE64(t + 56, XXH3_64bits(t, 56));
}

TEST_CASE("sealed pack tables: the owner reads them, the tail shows no entry, others get EACCES") {
  TempDir dir("sealedpack");
  auto tables = Tables(1);
  REQUIRE(tables != nullptr);
  CHECK(VolumeCodec::Make(true, nullptr).value().PackTables() == nullptr);  // unencrypted: version 1 packs
  testing::BuiltPack built = testing::BuildPackOf(dir.path(), Blobs(0, 3), {1, 2, 3}, tables);
  const std::vector<uint8_t>& pack = built.bytes;

  const uint8_t* trailer = pack.data() + pack.size() - kPackTrailerSize;
  CHECK(GetLE32(trailer + 8) == kSealedPackVersion);
  CHECK(GetLE32(trailer + 20) == 3 * kPackEntrySize + 56);  // the sealed table's length
  // No blob id, and no entry's offset-and-length bytes, in the clear.
  const std::vector<uint8_t> tail(pack.end() - static_cast<ptrdiff_t>(GetLE32(trailer + 20) + kPackTrailerSize),
                                  pack.end());
  for (const PackEntry& e : built.sealed.entries) {
    CHECK_FALSE(Contains(tail, e.id.bytes()));
    uint8_t where[12];
    PutLE64(where, e.offset);
    PutLE32(where + 8, e.length);
    CHECK_FALSE(Contains(tail, std::span<const uint8_t>(where, 12)));
  }
  // The pack's name is still the SHA-256 of its tail.
  CHECK(PackName(tail) == built.sealed.name);

  // The owner: DecodePack and PackReader give the writer's entries; blobs read.
  CHECK(DecodePack(pack, "p", tables.get()).value() == built.sealed.entries);
  const std::string path = dir / built.sealed.name.Hex();
  auto reader = PackReader::Open(path, built.sealed.name, tables.get());
  REQUIRE(reader.ok());
  CHECK((*reader)->entries() == built.sealed.entries);
  CHECK((*reader)->Read(built.sealed.entries[1].id).value() == built.blobs[1]);
  CHECK((*reader)->VerifyAll().ok());

  // No key, another key: not this reader's pack.
  auto none = PackReader::Open(path, built.sealed.name);
  CHECK(none.status().code() == EACCES);
  CHECK(none.status().message().find("sealed") != std::string::npos);
  auto other = DecodePack(pack, "p", Tables(2).get());
  CHECK(other.status().code() == EACCES);
  CHECK(other.status().message().find("another volume's key") != std::string::npos);

  // A store holds no key, yet checks the pack's shape and name before storing it.
  CHECK(CheckPackBytes(built.sealed.name, pack, "s").ok());
  CHECK(CheckPackBytes(Pointer::Of(pack), pack, "s").code() == EINVAL);
}

TEST_CASE("sealed pack tables: every alteration of the tail is EBADMSG") {
  TempDir dir("sealedpack");
  auto tables = Tables(1);
  testing::BuiltPack built = testing::BuildPackOf(dir.path(), Blobs(0, 3), {}, tables);
  const std::vector<uint8_t>& good = built.bytes;
  const size_t sealed_at = good.size() - kPackTrailerSize - (3 * kPackEntrySize + 56);
  auto check_bad = [&](std::vector<uint8_t> bad, const std::string& why) {
    INFO(why);
    auto r = DecodePack(bad, "p", tables.get());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == EBADMSG);
  };
  SUBCASE("a flipped bit in the sealed table (checksums forged)") {
    for (size_t at : {sealed_at, sealed_at + 30, sealed_at + 60, good.size() - kPackTrailerSize - 1}) {
      std::vector<uint8_t> bad = good;
      bad[at] ^= 0x10;
      FixChecksums(bad);
      check_bad(bad, "byte " + std::to_string(at - sealed_at) + " of the sealed table");
    }
  }
  SUBCASE("a flipped bit without forged checksums") {
    std::vector<uint8_t> bad = good;
    bad[sealed_at + 45] ^= 1;
    check_bad(bad, "table checksum");
  }
  SUBCASE("the clear trailer altered: one more entry than sealed") {
    std::vector<uint8_t> bad = good;
    PutLE32(bad.data() + bad.size() - kPackTrailerSize + 16, 4);  // 4 x 48 still fits 200 bytes
    FixChecksums(bad);
    check_bad(bad, "entry count");
  }
  SUBCASE("another pack's sealed table, same size and blobs' end") {
    testing::BuiltPack twin = testing::BuildPackOf(dir.path(), Blobs(10, 3), {}, tables);
    // Same count, other blobs: move the twin's tail onto these blobs when the ends agree.
    std::vector<uint8_t> bad = good;
    const size_t tail_bytes = kPackTrailerSize + 3 * kPackEntrySize + 56;
    std::copy(twin.bytes.end() - static_cast<ptrdiff_t>(tail_bytes), twin.bytes.end(),
              bad.end() - static_cast<ptrdiff_t>(tail_bytes));
    auto decoded = DecodePack(bad, "p", tables.get());
    if (decoded.ok()) {
      // The ends agreed, so the table opens, but it lists the twin's blobs:
      // they are not there (VerifyPackBlobs), and the pack is not `good`'s name.
      CHECK(VerifyPackBlobs(bad, *decoded, "p").code() == EBADMSG);
      CHECK(PackName(std::span(bad).last(tail_bytes)) != built.sealed.name);
    } else {
      CHECK(decoded.status().code() == EBADMSG);  // bound to another blobs' end
    }
  }
  SUBCASE("an index object swapped for another pack's") {
    testing::BuiltPack twin = testing::BuildPackOf(dir.path(), Blobs(10, 2), {}, tables);
    const size_t twin_tail = kPackTrailerSize + 2 * kPackEntrySize + 56;
    auto r = DecodePackIndexObject(built.sealed.name, std::span(twin.bytes).last(twin_tail), "index", tables.get());
    CHECK(r.status().code() == EBADMSG);
  }
}

TEST_CASE("sealed pack tables: a slow store's pack map reads its own packs and skips others' quietly") {
  TempDir dir("sealedpack");
  DiskStoreOptions o;
  o.pack_objects = true;
  auto raw = DiskStore::Open(dir / "slow", o);
  REQUIRE(raw.ok());
  SlowPacks packs(std::move(raw).value(), SlowPacksOptions{std::chrono::milliseconds(0)});
  auto mine = Tables(1);
  testing::BuiltPack own = testing::BuildPackOf(dir.path(), Blobs(0, 3), {}, mine);
  testing::BuiltPack theirs = testing::BuildPackOf(dir.path(), Blobs(20, 2), {}, Tables(2));
  testing::BuiltPack plain = testing::BuildPackOf(dir.path(), Blobs(40, 2));
  for (const testing::BuiltPack* p : {&own, &theirs, &plain})
    REQUIRE(PutPack(packs.raw(), p->sealed.name, p->bytes).ok());

  // Without tables: the sealed packs are foreign, the plain one reads.
  CHECK(packs.Get(Pointer::Of(own.blobs[0])).status().code() == ENOENT);
  CHECK(packs.PackIndexState(own.sealed.name) == SlowPacks::IndexState::kForeign);
  CHECK(packs.Get(Pointer::Of(plain.blobs[1])).value() == plain.blobs[1]);

  // With the volume's tables: its own pack reads at once, another key's stays foreign.
  packs.set_pack_tables(mine);
  CHECK(packs.Get(Pointer::Of(own.blobs[2])).value() == own.blobs[2]);
  CHECK(packs.PackIndexState(own.sealed.name) == SlowPacks::IndexState::kLoaded);
  CHECK(packs.Get(Pointer::Of(theirs.blobs[0])).status().code() == ENOENT);
  CHECK(packs.PackIndexState(theirs.sealed.name) == SlowPacks::IndexState::kForeign);
  size_t listed = 0;
  REQUIRE(packs.List([&](const Pointer&) { ++listed; return Status::OK(); }).ok());
  CHECK(listed == 5);  // own 3 + plain 2; theirs not
}

}  // namespace
}  // namespace amberfs
