#include "crypto/blob_envelope.h"

#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "crypto/key_ring.h"
#include "store/pointer.h"

using namespace amberfs;

namespace {

std::vector<uint8_t> Random(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// English-like text: words from a small vocabulary, varied order.
std::vector<uint8_t> Text(size_t n, uint32_t seed) {
  static const char* kWords[] = {"the", "volume", "snapshot", "of", "a", "block", "store", "is", "written", "to",
                                 "slow", "fast", "and", "each", "chunk", "carries", "its", "hash", "when", "drained"};
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < n) {
    s += kWords[rng() % 20];
    s += (rng() % 11 == 0) ? ".\n" : " ";
  }
  s.resize(n);
  return {s.begin(), s.end()};
}

std::vector<uint8_t> Repetitive(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>("AMBERFS-PATTERN-"[i % 16]);
  return v;
}


void ExpectBad(const Result<std::vector<uint8_t>>& d, const std::string& what) {
  REQUIRE_FALSE(d.ok());
  INFO(d.status().message());
  CHECK(d.status().code() == EBADMSG);
  CHECK(d.status().message().find(what) != std::string::npos);
}

// A copy of env with the byte at `at` set to value.
std::vector<uint8_t> With(std::vector<uint8_t> env, size_t at, uint8_t value) {
  env[at] = value;
  return env;
}

struct Ring {
  KeyRing ring = *KeyRing::FromMaster(*NewMasterKey());
};

}  // namespace

TEST_CASE("blob envelope: round trips, plain and sealed, every codec") {
  Ring r;
  const SealKey* key = &r.ring.data();
  const std::vector<std::vector<uint8_t>> blobs = {{}, {42}, Random(100, 1), Random(65536, 2), Text(65536, 3),
                                                   Repetitive(65536), Random(20000, 4), Text(1 << 20, 5)};
  for (const auto& blob : blobs) {
    const std::string name = Pointer::Of(blob).Hex();
    for (const SealKey* k : {static_cast<const SealKey*>(nullptr), key}) {
      for (bool compress : {false, true}) {
        auto env = EncodeBlob(blob, name, {compress, 1, k});
        REQUIRE(env.ok());
        auto back = DecodeBlob(*env, name, k);
        REQUIRE(back.ok());
        CHECK(*back == blob);
        CHECK(Pointer::Of(*back) == Pointer::Of(blob));
        if (!compress) CHECK(*EnvelopeCodec(*env, name, k) == BlobCodec::kRaw);
      }
    }
  }
}

TEST_CASE("blob envelope: compression ratios; incompressible data is stored raw") {
  auto ratio = [](const std::vector<uint8_t>& blob) {
    auto env = EncodeBlob(blob, "b", {});
    REQUIRE(env.ok());
    return static_cast<double>(env->size()) / static_cast<double>(blob.size());
  };
  const double rep = ratio(Repetitive(65536));
  const double text = ratio(Text(65536, 7));
  const double rnd = ratio(Random(65536, 8));
  MESSAGE("stored/logical: repetitive " << rep << ", text " << text << ", random " << rnd);
  CHECK(rep < 0.02);
  CHECK(text < 0.45);
  CHECK(rnd <= (65536.0 + 16) / 65536);
  auto env = EncodeBlob(Random(65536, 8), "b", {});
  CHECK(*EnvelopeCodec(*env, "b", nullptr) == BlobCodec::kRaw);
  CHECK(env->size() == 65536 + kEnvelopeHeaderBytes + kEnvelopeInnerBytes);
  CHECK(*EnvelopeCodec(*EncodeBlob(Text(65536, 7), "b", {}), "b", nullptr) == BlobCodec::kZstd);
  // Small blobs skip the probe but still go raw when zstd does not help.
  CHECK(*EnvelopeCodec(*EncodeBlob(Random(5000, 9), "b", {}), "b", nullptr) == BlobCodec::kRaw);
  // Issue 15's acceptance shape: 64 MiB repetitive + 64 MiB text in at most 40 MiB (here 1 MiB of each, scaled).
  size_t stored = 0;
  for (uint32_t i = 0; i < 16; ++i) {
    stored += EncodeBlob(Repetitive(65536), "r", {})->size();
    stored += EncodeBlob(Text(65536, 100 + i), "t", {})->size();
  }
  MESSAGE("1 MiB repetitive + 1 MiB text stored as " << stored << " bytes");
  CHECK(stored <= (40u << 20) / 64);
}

TEST_CASE("blob envelope: tampering, swapping, downgrade and wrong keys are refused") {
  Ring r, other;
  const SealKey* key = &r.ring.data();
  const auto blob = Text(30000, 11);
  auto env = EncodeBlob(blob, "blob-a", {true, 1, key});
  REQUIRE(env.ok());
  const std::vector<uint8_t> good = *env;
  auto bad = [&](std::vector<uint8_t> e, const std::string& what, std::string_view name = "blob-a",
                 const SealKey* k = nullptr) { ExpectBad(DecodeBlob(e, name, k ? k : key), what); };
  for (size_t at = 0; at < good.size(); at += 97) {
    auto e = good;
    e[at] ^= 4;
    bad(e, "blob-a");
  }
  bad(With(good, 0, 'Z'), "bad magic");
  std::vector<uint8_t> e;
  bad(With(good, 4, 9), "version 9");
  bad(With(good, 5, 7), "unknown mode");
  bad(With(good, 7, 1), "reserved");
  e = good;
  e[60] ^= 1;
  bad(e, "damaged: authentication failed");
  bad(std::vector<uint8_t>(good.begin(), good.end() - 5), "truncated");
  bad(std::vector<uint8_t>(good.begin(), good.begin() + 5), "truncated");
  e = good;
  e.push_back(1);
  bad(e, "extended");
  bad(good, "another name or role", "blob-b");
  bad(good, "another key", "blob-a", &other.ring.data());
  // A sealed box made for another role does not pass as a blob.
  auto rec = Seal(*key, "record", "blob-a", blob);
  e.assign(good.begin(), good.begin() + kEnvelopeHeaderBytes);
  e.insert(e.end(), rec->begin(), rec->end());
  bad(e, "another name or role");
  // Downgrade: a plain envelope where a key is in force.
  auto plain = EncodeBlob(blob, "blob-a", {});
  bad(*plain, "not encrypted");
  auto flipped = good;
  flipped[5] = 0;  // mode sealed -> plain
  bad(flipped, "not encrypted");
  // Sealed without a key.
  CHECK(DecodeBlob(good, "blob-a", nullptr).status().code() == EACCES);
}

TEST_CASE("blob envelope: DecodeBlobInto reuses one buffer across blobs and modes, and empties it on failure") {
  Ring r;
  const SealKey* key = &r.ring.data();
  std::vector<uint8_t> out;
  for (const SealKey* k : {key, static_cast<const SealKey*>(nullptr)}) {
    for (const auto& blob : {Random(65536, 1), Text(65536, 2), Random(100, 3), Text(30000, 4), Random(65536, 5)}) {
      auto env = EncodeBlob(blob, "chunk", {true, 1, k, true});
      REQUIRE(env.ok());
      REQUIRE(DecodeBlobInto(*env, "chunk", k, &out).ok());
      CHECK(out == blob);
    }
  }
  auto env = *EncodeBlob(Random(65536, 6), "chunk", {true, 1, key, true});
  env[100] ^= 1;
  ExpectBad(DecodeBlob(env, "chunk", key), "damaged: authentication failed");
  CHECK(DecodeBlobInto(env, "chunk", key, &out).code() == EBADMSG);
  CHECK(out.empty());  // never the unauthenticated bytes, nor the last blob's
}

TEST_CASE("blob envelope: plain envelopes are checked strictly, lengths bounded before allocating") {
  const auto blob = Text(10000, 12);
  auto z = *EncodeBlob(blob, "n", {});
  auto raw = *EncodeBlob(blob, "n", {false, 1, nullptr});
  auto bad = [](const std::vector<uint8_t>& e, const std::string& what, size_t max = kMaxEnvelopePlain) {
    ExpectBad(DecodeBlob(e, "n", nullptr, max), what);
  };
  bad(With(z, 8, 5), "unknown codec");
  std::vector<uint8_t> e;
  bad(With(z, 9, 1), "reserved");
  e = z;
  e[12] ^= 1;  // plaintext length
  bad(e, "content size");
  e = raw;
  e[12] ^= 1;
  bad(e, "raw data is");
  bad(With(z, 15, 0x7F), "over the largest blob");  // ~2 GiB claimed
  bad(z, "over the largest blob", 9999);
  e = z;
  e[e.size() / 2] ^= 0xFF;  // a damaged frame: a zstd error or other bytes (SHA-256 is the caller's check)
  auto d = DecodeBlob(e, "n", nullptr);
  if (d.ok()) CHECK(Pointer::Of(*d) != Pointer::Of(blob));
  else CHECK(d.status().code() == EBADMSG);
  bad(std::vector<uint8_t>(z.begin(), z.begin() + 12), "truncated");
  CHECK(EncodeBlob(std::vector<uint8_t>(kMaxEnvelopePlain + 1), "n", {}).status().code() == EINVAL);
}

TEST_CASE("blob envelope: encode+decode throughput (reported)") {
  Ring r;
  const SealKey* key = &r.ring.data();
  const size_t kBlobs = 256;  // 16 MiB per data kind
  std::vector<std::vector<uint8_t>> random, text;
  for (size_t i = 0; i < kBlobs; ++i) {
    random.push_back(Random(65536, static_cast<uint32_t>(i)));
    text.push_back(Text(65536, static_cast<uint32_t>(i)));
  }
  auto mbps = [&](const std::vector<std::vector<uint8_t>>& blobs, const EnvelopeOptions& o) {
    auto t0 = std::chrono::steady_clock::now();
    size_t total = 0;
    for (const auto& b : blobs) {
      auto env = EncodeBlob(b, "x", o);
      auto back = DecodeBlob(*env, "x", o.key);
      REQUIRE(back.ok());
      total += back->size();
    }
    return total / 1048576.0 / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  auto sha = [&](const std::vector<std::vector<uint8_t>>& blobs) {
    auto t0 = std::chrono::steady_clock::now();
    size_t total = 0;
    for (const auto& b : blobs) total += Pointer::Of(b).IsNull() ? 0 : b.size();
    return total / 1048576.0 / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  MESSAGE("MB/s encode+decode, 64 KiB blobs: random off " << mbps(random, {false, 1, nullptr}) << ", random zstd+aes "
          << mbps(random, {true, 1, key}) << ", text off " << mbps(text, {false, 1, nullptr}) << ", text zstd+aes "
          << mbps(text, {true, 1, key}) << "; SHA-256 alone " << sha(random));
}
