#include "snapshot/snapshot_record.h"

#include <doctest/doctest.h>

#include <xxhash.h>

#include <random>

#include "base/byte_order.h"

using amberfs::DecodeSnapshotRecord;
using amberfs::EncodeSnapshotRecord;
using amberfs::Pointer;
using amberfs::SnapshotRecord;
using amberfs::ValidateSnapshotName;

namespace {

SnapshotRecord Sample() {
  SnapshotRecord r;
  for (int i = 0; i < 16; ++i) r.volume[i] = static_cast<uint8_t>(0xa0 + i);
  r.name = "nightly-2026.11_22";
  r.created_ns = 1795000000123456789ull;
  r.volume_size = (64ull << 30) + 4096;  // a partial last chunk
  r.chunk_size = 64 << 10;
  r.fanout = 256;
  r.depth = 3;
  r.root = Pointer::Of("root", 4);
  r.parent = Pointer::Of("parent", 6);
  return r;
}

}  // namespace

TEST_CASE("record: round trip, geometry, and encode-time validation") {
  SnapshotRecord r = Sample();
  auto bytes = EncodeSnapshotRecord(r);
  REQUIRE(bytes.ok());
  CHECK(bytes->size() == 136 + r.name.size());
  auto back = DecodeSnapshotRecord(*bytes);
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(*back == r);
  auto geo = back->Geometry();
  REQUIRE(geo.ok());
  CHECK(geo->chunk_count == (1ull << 20) + 1);
  CHECK(geo->depth == 3);

  r.parent = Pointer();  // the first snapshot
  r.root = Pointer();    // of an all-zero volume
  back = DecodeSnapshotRecord(EncodeSnapshotRecord(r).value());
  REQUIRE(back.ok());
  CHECK(*back == r);

  SnapshotRecord bad = Sample();
  bad.depth = 2;
  CHECK(EncodeSnapshotRecord(bad).status().code() == EINVAL);
  CHECK(bad.Geometry().status().code() == EINVAL);
  bad = Sample();
  bad.name = ".hidden";
  CHECK(EncodeSnapshotRecord(bad).status().code() == EINVAL);
  bad = Sample();
  bad.chunk_size = 5000;
  CHECK(EncodeSnapshotRecord(bad).status().code() == EINVAL);
  bad = Sample();
  bad.volume_size = 0;
  CHECK(EncodeSnapshotRecord(bad).status().code() == EINVAL);
  bad = Sample();
  bad.fanout = 100;
  CHECK(EncodeSnapshotRecord(bad).status().code() == EINVAL);
}

TEST_CASE("record: every corruption is EBADMSG, never a crash") {
  const auto good = EncodeSnapshotRecord(Sample()).value();
  // Every single-bit flip and every truncation or extension.
  for (size_t i = 0; i < good.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto b = good;
      b[i] ^= static_cast<uint8_t>(1 << bit);
      CHECK_MESSAGE(DecodeSnapshotRecord(b).status().code() == EBADMSG, "flip at byte " << i << " bit " << bit);
    }
  }
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> b(good.begin(), good.begin() + static_cast<long>(n));
    CHECK(DecodeSnapshotRecord(b).status().code() == EBADMSG);
  }
  auto longer = good;
  longer.push_back(0);
  CHECK(DecodeSnapshotRecord(longer).status().code() == EBADMSG);

  // Random bytes, and random bytes behind a valid prefix.
  std::mt19937_64 rng(99);
  for (int k = 0; k < 20000; ++k) {
    std::vector<uint8_t> b(rng() % 300);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (k % 2 && b.size() >= 16) std::copy(good.begin(), good.begin() + 16, b.begin());
    auto r = DecodeSnapshotRecord(b);
    CHECK(r.status().code() == EBADMSG);
  }
  // Random field values under a correct checksum: only the field checks stand
  // between them and the caller. Whatever decodes must encode back the same.
  for (int k = 0; k < 20000; ++k) {
    auto b = good;
    for (int f = 0; f < 3; ++f) b[8 + rng() % (b.size() - 16)] = static_cast<uint8_t>(rng() % 4 ? rng() : 0);
    if (k % 3 == 0) b[60] = static_cast<uint8_t>(rng() % 80);
    size_t body = b.size() - 8;
    amberfs::PutLE64(b.data() + body, XXH3_64bits(b.data(), body));
    auto r = DecodeSnapshotRecord(b);
    if (r.ok()) {
      CHECK(EncodeSnapshotRecord(*r).value() == b);
    } else {
      CHECK(r.status().code() == EBADMSG);
    }
  }
}

TEST_CASE("record: snapshot names and the default name") {
  CHECK(ValidateSnapshotName("a").ok());
  CHECK(ValidateSnapshotName("A-z_0.9").ok());
  CHECK(ValidateSnapshotName(std::string(64, 'x')).ok());
  CHECK(ValidateSnapshotName("a.").ok());
  CHECK(ValidateSnapshotName("").code() == EINVAL);
  CHECK(ValidateSnapshotName(std::string(65, 'x')).code() == EINVAL);
  CHECK(ValidateSnapshotName(".a").code() == EINVAL);
  CHECK(ValidateSnapshotName("..").code() == EINVAL);
  CHECK(ValidateSnapshotName("a/b").code() == EINVAL);
  CHECK(ValidateSnapshotName("a b").code() == EINVAL);
  CHECK(ValidateSnapshotName("a\n").code() == EINVAL);
  CHECK(ValidateSnapshotName(std::string("a\0b", 3)).code() == EINVAL);
  CHECK(ValidateSnapshotName("caf\xc3\xa9").code() == EINVAL);

  // 2026-11-22 10:30:00 UTC = 1795343400 s.
  CHECK(amberfs::DefaultSnapshotName(1795343400ull * 1000000000ull + 999) == "20261122T103000Z");
  CHECK(amberfs::DefaultSnapshotName(0) == "19700101T000000Z");
  CHECK(ValidateSnapshotName(amberfs::DefaultSnapshotName(1795343400ull * 1000000000ull)).ok());
}

// The layout documented in snapshot_record.h (and man/amberfs.5), byte for byte.
TEST_CASE("record: the encoding matches the documented format") {
  SnapshotRecord r = Sample();
  auto b = EncodeSnapshotRecord(r).value();
  const uint8_t* p = b.data();
  CHECK(std::string(reinterpret_cast<const char*>(p), 8) == "AMBRSNAP");
  CHECK(amberfs::GetLE32(p + 8) == 1);
  CHECK(amberfs::GetLE32(p + 12) == 0);
  CHECK(std::equal(r.volume.begin(), r.volume.end(), p + 16));
  CHECK(amberfs::GetLE64(p + 32) == r.created_ns);
  CHECK(amberfs::GetLE64(p + 40) == r.volume_size);
  CHECK(amberfs::GetLE32(p + 48) == r.chunk_size);
  CHECK(amberfs::GetLE32(p + 52) == 256);
  CHECK(amberfs::GetLE32(p + 56) == 3);
  CHECK(amberfs::GetLE32(p + 60) == r.name.size());
  CHECK(Pointer::FromBytes(p + 64) == r.root);
  CHECK(Pointer::FromBytes(p + 96) == r.parent);
  CHECK(std::string(reinterpret_cast<const char*>(p + 128), r.name.size()) == r.name);
  CHECK(amberfs::GetLE64(p + 128 + r.name.size()) == XXH3_64bits(p, 128 + r.name.size()));
}
