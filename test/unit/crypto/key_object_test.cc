#include "crypto/key_object.h"

#include <doctest/doctest.h>
#include <xxhash.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "crypto/key_ring.h"

using namespace amberfs;

namespace {

// The cheapest parameters CheckScryptParams allows (1 MiB): the tests run many.
const ScryptParams kFast{10, 8, 1};

std::span<const uint8_t> Pass(std::string_view s) { return AsBytes(s); }

void FixChecksum(std::vector<uint8_t>& obj) { PutLE64(obj.data() + 140, XXH3_64bits(obj.data(), 140)); }

}  // namespace

TEST_CASE("key object: wrap, unwrap, rewrap keeps the master key") {
  auto master = NewMasterKey();
  REQUIRE(master.ok());
  auto obj = WrapMasterKey(*master, Pass("correct horse"), kFast);
  REQUIRE(obj.ok());
  CHECK(obj->size() == kKeyObjectBytes);
  CHECK(std::string(obj->begin(), obj->begin() + 8) == "AMBRKEYS");
  auto info = DecodeKeyObject(*obj);
  REQUIRE(info.ok());
  CHECK(info->params.log2_n == 10);
  CHECK(info->params.r == 8);
  CHECK(info->params.p == 1);

  auto back = UnwrapMasterKey(*obj, Pass("correct horse"));
  REQUIRE(back.ok());
  CHECK(back->SameAs(*master));

  auto wrong = UnwrapMasterKey(*obj, Pass("correct horsf"));
  CHECK(wrong.status().code() == EACCES);
  CHECK(wrong.status().message().find("wrong passphrase") != std::string::npos);
  CHECK(UnwrapMasterKey(*obj, Pass("")).status().code() == EINVAL);

  auto rewrapped = RewrapMasterKey(*obj, Pass("correct horse"), Pass("battery staple"), kFast);
  REQUIRE(rewrapped.ok());
  CHECK(*rewrapped != *obj);
  CHECK(UnwrapMasterKey(*rewrapped, Pass("correct horse")).status().code() == EACCES);
  auto again = UnwrapMasterKey(*rewrapped, Pass("battery staple"));
  REQUIRE(again.ok());
  CHECK(again->SameAs(*master));
  CHECK(RewrapMasterKey(*obj, Pass("nope"), Pass("x"), kFast).status().code() == EACCES);

  // The same master wrapped twice: another salt, another object.
  auto twice = WrapMasterKey(*master, Pass("correct horse"), kFast);
  CHECK(*twice != *obj);
  CHECK(WrapMasterKey(*master, Pass(""), kFast).status().code() == EINVAL);
}

TEST_CASE("key object: damage and tampering are EBADMSG, never a wrong key") {
  auto master = NewMasterKey();
  auto good = WrapMasterKey(*master, Pass("pw"), kFast);
  REQUIRE(good.ok());
  const std::vector<uint8_t> obj = *good;
  // Every single flipped bit: the checksum catches it.
  for (size_t at = 0; at < obj.size(); ++at) {
    auto bad = obj;
    bad[at] ^= 0x10;
    auto r = UnwrapMasterKey(bad, Pass("pw"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == EBADMSG);
  }
  CHECK(UnwrapMasterKey(std::vector<uint8_t>(obj.begin(), obj.end() - 1), Pass("pw")).status().code() == EBADMSG);
  auto longer = obj;
  longer.push_back(0);
  CHECK(UnwrapMasterKey(longer, Pass("pw")).status().code() == EBADMSG);
  CHECK(UnwrapMasterKey({}, Pass("pw")).status().code() == EBADMSG);

  // An edit with the checksum fixed up: the tag (over the header as the
  // box's name) refuses it; a changed salt or cost reads as a wrong passphrase.
  auto box = obj;
  box[100] ^= 1;
  FixChecksum(box);
  CHECK(UnwrapMasterKey(box, Pass("pw")).status().code() == EBADMSG);
  auto salt = obj;
  salt[25] ^= 1;
  FixChecksum(salt);
  CHECK(UnwrapMasterKey(salt, Pass("pw")).status().code() == EACCES);
  auto cost = obj;
  cost[12] = 9;  // r = 9
  FixChecksum(cost);
  CHECK(UnwrapMasterKey(cost, Pass("pw")).status().code() == EACCES);
  auto version = obj;
  version[8] = 2;
  FixChecksum(version);
  CHECK(UnwrapMasterKey(version, Pass("pw")).status().message().find("version 2") != std::string::npos);
  auto kdf = obj;
  kdf[10] = 2;
  FixChecksum(kdf);
  CHECK(DecodeKeyObject(kdf).status().code() == EBADMSG);
}

TEST_CASE("key object: hostile scrypt parameters are refused before any derivation") {
  auto master = NewMasterKey();
  auto good = WrapMasterKey(*master, Pass("pw"), kFast);
  REQUIRE(good.ok());
  struct Case {
    uint8_t log2_n;
    uint32_t r, p;
  };
  // Each would need gigabytes, minutes, or is not scrypt at all.
  for (Case c : {Case{30, 8, 1}, Case{21, 1, 1}, Case{20, 8, 1}, Case{9, 8, 1}, Case{0, 8, 1}, Case{15, 0, 1},
                 Case{15, 33, 1}, Case{15, 8, 0}, Case{15, 8, 17}, Case{15, 0xFFFFFFFF, 0xFFFFFFFF},
                 Case{18, 8, 16}}) {
    auto obj = *good;
    obj[11] = c.log2_n;
    PutLE32(obj.data() + 12, c.r);
    PutLE32(obj.data() + 16, c.p);
    FixChecksum(obj);
    auto t0 = std::chrono::steady_clock::now();
    auto r = UnwrapMasterKey(obj, Pass("pw"));
    CHECK(r.status().code() == EBADMSG);
    CHECK(r.status().message().find("out of bounds") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));
    CHECK(CheckScryptParams({c.log2_n, c.r, c.p}).code() == EINVAL);
    CHECK(WrapMasterKey(*master, Pass("pw"), {c.log2_n, c.r, c.p}).status().code() == EINVAL);
  }
  CHECK(CheckScryptParams({20, 1, 1}).ok());   // 128 MiB
  CHECK(CheckScryptParams({16, 32, 1}).ok());  // 256 MiB
  CHECK(CheckScryptParams({14, 8, 16}).ok());
  CHECK(CheckScryptParams(DefaultScryptParams()).ok());
}

TEST_CASE("key object: the default scrypt cost") {
  auto master = NewMasterKey();
  auto t0 = std::chrono::steady_clock::now();
  auto obj = WrapMasterKey(*master, Pass("pw"));
  auto t1 = std::chrono::steady_clock::now();
  REQUIRE(obj.ok());
  auto back = UnwrapMasterKey(*obj, Pass("pw"));
  auto t2 = std::chrono::steady_clock::now();
  REQUIRE(back.ok());
  CHECK(back->SameAs(*master));
  // Reported, not asserted (tests never assert on timings).
  MESSAGE("scrypt N=2^15 r=8 p=1: wrap " << std::chrono::duration<double>(t1 - t0).count() << " s, unwrap "
                                         << std::chrono::duration<double>(t2 - t1).count() << " s");
}

TEST_CASE("kdf: HKDF and scrypt known answers") {
  // RFC 7914 section 12, the second vector: P="password", S="NaCl", N=1024, r=8, p=16.
  auto k = DeriveScrypt(AsBytes("password"), AsBytes("NaCl"), {10, 8, 16});
  REQUIRE(k.ok());
  const uint8_t want[8] = {0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00};
  CHECK(std::equal(want, want + 8, k->data()));
  SecretKey zero;
  auto a = DeriveSubKey(zero, "a");
  auto b = DeriveSubKey(zero, "b");
  REQUIRE(a.ok());
  CHECK_FALSE(a->SameAs(*b));
  CHECK(DeriveSubKey(zero, "a")->SameAs(*a));
}
