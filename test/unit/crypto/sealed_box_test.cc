#include "crypto/sealed_box.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "crypto/key_ring.h"

using namespace amberfs;

namespace {

SealKey MakeKey(uint8_t fill) {
  SecretKey raw;
  for (size_t i = 0; i < SecretKey::kSize; ++i) raw.data()[i] = static_cast<uint8_t>(fill + i);
  auto k = SealKey::From(raw);
  REQUIRE(k.ok());
  return std::move(k).value();
}

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

// A copy of box with the byte at `at` xor-ed with mask.
std::vector<uint8_t> Flipped(std::vector<uint8_t> box, size_t at, uint8_t mask) {
  box[at] ^= mask;
  return box;
}

// The box's Open error, which must be EBADMSG and mention `what`.
void ExpectBad(const Result<std::vector<uint8_t>>& r, const std::string& what) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == EBADMSG);
  INFO(r.status().message());
  CHECK(r.status().message().find(what) != std::string::npos);
}

}  // namespace

TEST_CASE("sealed box: round trip, fresh nonce per seal, size is plaintext + 56") {
  SealKey key = MakeKey(1);
  for (size_t n : {0, 1, 15, 16, 17, 4096, 100000}) {
    std::vector<uint8_t> plain(n);
    for (size_t i = 0; i < n; ++i) plain[i] = static_cast<uint8_t>(i * 7);
    auto box = Seal(key, "blob", "abc", plain);
    REQUIRE(box.ok());
    CHECK(box->size() == n + kSealedOverhead);
    CHECK(*SealedPlainSize(*box) == n);
    auto back = Open(key, "blob", "abc", *box);
    REQUIRE(back.ok());
    CHECK(*back == plain);
    auto again = Seal(key, "blob", "abc", plain);
    CHECK(*again != *box);  // another nonce, another ciphertext
  }
  // The plaintext is not in the box.
  auto box = Seal(key, "ref", "r", Bytes("a recognizable pattern a recognizable pattern"));
  std::string s(box->begin(), box->end());
  CHECK(s.find("recognizable") == std::string::npos);
}

TEST_CASE("sealed box: a synthetic nonce gives one box per (key, role, name, plaintext)") {
  SealKey key = MakeKey(1);
  auto seal = [&](const SealKey& k, const std::string& role, const std::string& name, const std::string& text) {
    std::vector<uint8_t> out;
    std::vector<uint8_t> plain = Bytes(text);
    REQUIRE(SealAppend(k, role, name, {plain}, &out, SealNonce::kSynthetic).ok());
    return out;
  };
  const std::vector<uint8_t> box = seal(key, "blob", "chunk", "some plaintext");
  CHECK(seal(key, "blob", "chunk", "some plaintext") == box);
  CHECK(Open(key, "blob", "chunk", box).value() == Bytes("some plaintext"));
  // Anything else that differs gives another nonce (bytes 28..40), so GCM
  // never sees one nonce with two plaintexts.
  for (const auto& other : {seal(key, "blob", "chunk", "some plaintexT"), seal(key, "blob", "node", "some plaintext"),
                            seal(key, "ref", "chunk", "some plaintext"), seal(MakeKey(2), "blob", "chunk", "some plaintext")}) {
    CHECK(!std::equal(box.begin() + 28, box.begin() + 40, other.begin() + 28));
  }
  // The parts are one plaintext for the nonce too.
  std::vector<uint8_t> split;
  std::vector<uint8_t> a = Bytes("some "), b = Bytes("plaintext");
  REQUIRE(SealAppend(key, "blob", "chunk", {a, b}, &split, SealNonce::kSynthetic).ok());
  CHECK(split == box);
}

TEST_CASE("sealed box: SealAppend seals parts as one plaintext and appends") {
  SealKey key = MakeKey(2);
  std::vector<uint8_t> out = Bytes("prefix");
  auto a = Bytes("head-"), b = Bytes("body");
  REQUIRE(SealAppend(key, "x", "n", {a, b}, &out).ok());
  CHECK(std::string(out.begin(), out.begin() + 6) == "prefix");
  auto back = Open(key, "x", "n", std::span<const uint8_t>(out).subspan(6));
  REQUIRE(back.ok());
  CHECK(std::string(back->begin(), back->end()) == "head-body");
}

TEST_CASE("sealed box: every tamper case is its own EBADMSG") {
  SealKey key = MakeKey(3);
  const auto plain = Bytes("the contents of an index object, long enough to span blocks....");
  auto sealed = Seal(key, "index", "idx-1", plain);
  REQUIRE(sealed.ok());
  const std::vector<uint8_t> box = *sealed;
  auto open = [&](const std::vector<uint8_t>& b) { return Open(key, "index", "idx-1", b); };

  SUBCASE("a flipped bit anywhere in the authenticated header, nonce, ciphertext or tag") {
    const size_t p = plain.size();
    for (size_t at : {size_t{8}, size_t{9}, size_t{12}, size_t{19}, size_t{20}, size_t{27}, size_t{28}, size_t{39},
                      size_t{40}, size_t{50}, 40 + p - 1, 40 + p, 40 + p + 15}) {
      for (int bit : {0, 7}) {
        auto bad = box;
        bad[at] ^= static_cast<uint8_t>(1 << bit);
        auto r = open(bad);
        REQUIRE_FALSE(r.ok());
        CHECK(r.status().code() == EBADMSG);
      }
    }
    ExpectBad(open(Flipped(box, 45, 1)), "damaged: authentication failed");
    ExpectBad(open(Flipped(box, 30, 0x80)), "damaged: authentication failed");  // nonce
    ExpectBad(open(Flipped(box, box.size() - 1, 1)), "damaged: authentication failed");  // tag
    ExpectBad(open(Flipped(box, 12, 1)), "another key");
    ExpectBad(open(Flipped(box, 20, 1)), "another name or role");
  }
  SUBCASE("header fields") {
    ExpectBad(open(Flipped(box, 0, 'X' ^ 'A')), "bad magic");
    ExpectBad(open(Flipped(box, 4, 3)), "version 2");
    ExpectBad(open(Flipped(box, 6, 1)), "reserved");
    CHECK(open(Flipped(box, 8, 1)).status().code() == EBADMSG);  // the length
  }
  SUBCASE("truncation and extension") {
    for (size_t keep : {size_t{0}, size_t{10}, size_t{55}}) {
      ExpectBad(open(std::vector<uint8_t>(box.begin(), box.begin() + keep)), "truncated");
    }
    ExpectBad(open(std::vector<uint8_t>(box.begin(), box.end() - 1)), "truncated");
    ExpectBad(open(std::vector<uint8_t>(box.begin(), box.end() - 17)), "truncated");
    auto longer = box;
    longer.push_back(0);
    ExpectBad(open(longer), "extended");
    // A truncation that also fixes the length field up fails the tag.
    auto cut = std::vector<uint8_t>(box.begin(), box.end() - 1);
    cut[8] = static_cast<uint8_t>(cut[8] - 1);
    CHECK(open(cut).status().code() == EBADMSG);
  }
  SUBCASE("another name, another role, replay, another key") {
    ExpectBad(Open(key, "index", "idx-2", box), "another name or role");
    ExpectBad(Open(key, "record", "idx-1", box), "another name or role");
    ExpectBad(Open(key, "inde", "xidx-1", box), "another name or role");  // lengths are bound, not just bytes
    // An old object replayed under a new name: still bound to its first name.
    auto old = Seal(key, "ref", "snapshots/a", Bytes("pointer-1"));
    ExpectBad(Open(key, "ref", "snapshots/b", *old), "another name or role");
    ExpectBad(Open(MakeKey(4), "index", "idx-1", box), "another key");
  }
  SUBCASE("nothing unauthenticated is handed out") {
    auto bad = box;
    bad[45] ^= 1;
    std::vector<uint8_t> out(plain.size(), 0xAA);
    CHECK(OpenInto(key, "index", "idx-1", bad, out).code() == EBADMSG);
    for (uint8_t b : out) REQUIRE(b == 0);
    std::vector<uint8_t> wrong_size(3);
    CHECK(OpenInto(key, "index", "idx-1", box, wrong_size).code() == EINVAL);
  }
  SUBCASE("in parts: what was sealed as a header and a body opens as one, or into parts of any split") {
    for (size_t cut : {size_t{0}, size_t{1}, size_t{8}, plain.size()}) {
      std::vector<uint8_t> head(cut), body(plain.size() - cut);
      REQUIRE(OpenInto(key, "index", "idx-1", box, {std::span<uint8_t>(head), std::span<uint8_t>(body)}).ok());
      head.insert(head.end(), body.begin(), body.end());
      CHECK(head == plain);
    }
    std::vector<uint8_t> head(4, 0xAA), body(plain.size() - 4, 0xAA);
    CHECK(OpenInto(key, "index", "idx-1", Flipped(box, 45, 1), {std::span<uint8_t>(head), std::span<uint8_t>(body)})
              .code() == EBADMSG);
    for (uint8_t b : head) REQUIRE(b == 0);
    for (uint8_t b : body) REQUIRE(b == 0);
    std::vector<uint8_t> short_body(plain.size() - 5);
    CHECK(OpenInto(key, "index", "idx-1", box, {std::span<uint8_t>(head), std::span<uint8_t>(short_body)}).code() ==
          EINVAL);
  }
}

TEST_CASE("sealed box: roles are checked") {
  SealKey key = MakeKey(5);
  auto p = Bytes("x");
  CHECK(Seal(key, "", "n", p).status().code() == EINVAL);
  CHECK(Seal(key, std::string(65, 'r'), "n", p).status().code() == EINVAL);
  CHECK(Seal(key, std::string("a\0b", 3), "n", p).status().code() == EINVAL);
  CHECK(Seal(key, std::string(64, 'r'), "", p).ok());
}

TEST_CASE("key ring: sub-keys differ by purpose; object names are keyed and reveal nothing") {
  auto master = NewMasterKey();
  REQUIRE(master.ok());
  auto ring = KeyRing::FromMaster(*master);
  REQUIRE(ring.ok());
  auto again = KeyRing::FromMaster(*master);
  REQUIRE(again.ok());
  const auto id = Bytes("0123456789abcdef0123456789abcdef");
  const std::string name = ring->ObjectName("blob", id);
  CHECK(name.size() == 64);
  CHECK(name == again->ObjectName("blob", id));        // deterministic: dedup still works
  CHECK(name != ring->ObjectName("pack", id));         // kinds never share a name
  CHECK(ring->ObjectName("blo", Bytes("b0123456789abcdef0123456789abcdef")) != name);
  auto other = KeyRing::FromMaster(*NewMasterKey());
  CHECK(other->ObjectName("blob", id) != name);        // another volume, another name
  // The data key seals for the same ring only.
  auto box = Seal(ring->data(), "blob", name, id);
  CHECK(Open(again->data(), "blob", name, *box).ok());
  CHECK(Open(other->data(), "blob", name, *box).status().code() == EBADMSG);
  CHECK(ring->data().key_id() == again->data().key_id());
  CHECK(ring->data().key_id() != other->data().key_id());
  CHECK_FALSE(master->SameAs(*NewMasterKey()));
}
