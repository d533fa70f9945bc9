// VolumeCodec (snapshot/volume_codec.h): what reaches a store for each blob
// and ref, and every way a stored object can be damaged or swapped.
#include "snapshot/volume_codec.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "crypto/key_object.h"
#include "crypto/secret.h"

using namespace amberfs;

namespace {

std::vector<uint8_t> Random(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

std::vector<uint8_t> Text(size_t n) {
  const std::string line = "The quick brown fox jumps over the lazy dog, volume 7 of the archive.\n";
  std::vector<uint8_t> v;
  while (v.size() < n) v.insert(v.end(), line.begin(), line.end());
  v.resize(n);
  return v;
}

SecretKey Master(uint8_t seed) {
  SecretKey k;
  for (size_t i = 0; i < SecretKey::kSize; ++i) k.data()[i] = static_cast<uint8_t>(i * 7 + seed);
  return k;
}

VolumeCodec Encrypted(uint8_t seed = 1, bool compress = true) {
  SecretKey k = Master(seed);
  return VolumeCodec::Make(compress, &k).value();
}

bool Contains(std::span<const uint8_t> hay, std::span<const uint8_t> needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

std::vector<uint8_t> Bytes(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

}  // namespace

TEST_CASE("codec off: blobs and refs are stored as they are, named by SHA-256 of the plaintext") {
  VolumeCodec off;
  CHECK(off.off());
  std::vector<uint8_t> chunk = Random(65536, 1);
  StoredBlob b = off.Encode(BlobRole::kChunk, chunk).value();
  CHECK(b.pointer() == Pointer::Of(chunk));
  CHECK(b.bytes().data() == chunk.data());  // a view: no copy on the unencoded path
  CHECK(off.Decode(BlobRole::kChunk, chunk).value() == chunk);
  std::vector<uint8_t> ref = {'a', 'b', '\n'};
  CHECK(off.SealRef("volumes/x/base", ref).value() == ref);
  CHECK(off.OpenRef("volumes/x/base", ref).value() == ref);
}

TEST_CASE("codec compresses: text shrinks, random data is stored raw, both decode exactly") {
  VolumeCodec zstd = VolumeCodec::Make(true, nullptr).value();
  CHECK(!zstd.off());
  CHECK(!zstd.encrypted());
  for (const auto& plain : {Text(65536), Random(65536, 2)}) {
    StoredBlob b = zstd.Encode(BlobRole::kChunk, plain).value();
    CHECK(b.pointer() == Pointer::Of(b.bytes()));  // the store verifies what it holds
    CHECK(zstd.Decode(BlobRole::kChunk, Bytes(b.bytes())).value() == plain);
  }
  CHECK(zstd.Encode(BlobRole::kChunk, Text(65536)).value().bytes().size() < 8192);
  CHECK(zstd.Encode(BlobRole::kChunk, Random(65536, 3)).value().bytes().size() < 65536 + 64);
}

TEST_CASE("codec encrypts: no plaintext and no SHA-256 of it in what is stored; equal blobs store equal") {
  VolumeCodec enc = Encrypted();
  CHECK(enc.encrypted());
  std::vector<uint8_t> text = Text(65536);
  StoredBlob a = enc.Encode(BlobRole::kChunk, text).value();
  StoredBlob b = enc.Encode(BlobRole::kChunk, text).value();
  CHECK(a.pointer() == b.pointer());  // synthetic nonce: dedup survives encryption
  CHECK(Bytes(a.bytes()) == Bytes(b.bytes()));
  CHECK(a.pointer() != Pointer::Of(text));
  const std::string word = "quick brown fox";
  CHECK(!Contains(a.bytes(), std::span(reinterpret_cast<const uint8_t*>(word.data()), word.size())));
  const Pointer plain_hash = Pointer::Of(text);
  CHECK(!Contains(a.bytes(), std::span(plain_hash.bytes().data(), 32)));
  CHECK(enc.Decode(BlobRole::kChunk, Bytes(a.bytes())).value() == text);

  // Another plaintext, another key: other bytes entirely.
  std::vector<uint8_t> text2 = text;
  text2[100] ^= 1;
  CHECK(enc.Encode(BlobRole::kChunk, text2).value().pointer() != a.pointer());
  CHECK(Encrypted(2).Encode(BlobRole::kChunk, text).value().pointer() != a.pointer());
}

TEST_CASE("tampered blobs are refused, each with its own message") {
  VolumeCodec enc = Encrypted();
  std::vector<uint8_t> plain = Random(65536, 4);
  std::vector<uint8_t> stored = Bytes(enc.Encode(BlobRole::kChunk, plain).value().bytes());

  SUBCASE("a flipped bit anywhere") {
    for (size_t at : {size_t{0}, size_t{6}, size_t{20}, size_t{40}, stored.size() / 2, stored.size() - 1}) {
      std::vector<uint8_t> bad = stored;
      bad[at] ^= 0x10;
      Result<std::vector<uint8_t>> d = enc.Decode(BlobRole::kChunk, bad);
      CHECK_MESSAGE(!d.ok(), "flip at ", at);
      CHECK(d.status().code() == EBADMSG);
    }
  }
  SUBCASE("truncated and extended") {
    std::vector<uint8_t> cut(stored.begin(), stored.end() - 1);
    CHECK(enc.Decode(BlobRole::kChunk, cut).status().message().find("truncated") != std::string::npos);
    std::vector<uint8_t> longer = stored;
    longer.push_back(0);
    CHECK(enc.Decode(BlobRole::kChunk, longer).status().message().find("extended") != std::string::npos);
  }
  SUBCASE("a blob of another kind stands in (a chunk read as an index node)") {
    Result<std::vector<uint8_t>> d = enc.Decode(BlobRole::kNode, stored);
    CHECK(d.status().code() == EBADMSG);
    CHECK(d.status().message().find("another name or role") != std::string::npos);
  }
  SUBCASE("another volume's key") {
    Result<std::vector<uint8_t>> d = Encrypted(9).Decode(BlobRole::kChunk, stored);
    CHECK(d.status().code() == EBADMSG);
    CHECK(d.status().message().find("another key") != std::string::npos);
  }
  SUBCASE("a plaintext envelope where the volume encrypts (downgrade)") {
    std::vector<uint8_t> plain_env = Bytes(VolumeCodec::Make(true, nullptr).value().Encode(BlobRole::kChunk, plain).value().bytes());
    CHECK(enc.Decode(BlobRole::kChunk, plain_env).status().code() == EBADMSG);
  }
  SUBCASE("raw plaintext where the volume encrypts") {
    CHECK(enc.Decode(BlobRole::kChunk, plain).status().code() == EBADMSG);
  }
  SUBCASE("an encrypted blob read without the key") {
    CHECK(VolumeCodec::Make(true, nullptr).value().Decode(BlobRole::kChunk, stored).status().code() == EACCES);
  }
}

TEST_CASE("refs: sealed per name; swapped, replayed, plain or keyless reads are refused") {
  VolumeCodec enc = Encrypted();
  const std::string value = std::string(64, 'a') + "\n";
  std::vector<uint8_t> a = enc.SealRef("volumes/u/snapshots/a", std::span(reinterpret_cast<const uint8_t*>(value.data()), value.size())).value();
  CHECK(!Contains(a, std::span(reinterpret_cast<const uint8_t*>(value.data()), 64)));
  CHECK(enc.OpenRef("volumes/u/snapshots/a", a).value() == std::vector<uint8_t>(value.begin(), value.end()));
  Result<std::vector<uint8_t>> swapped = enc.OpenRef("volumes/u/snapshots/b", a);
  CHECK(swapped.status().code() == EBADMSG);
  CHECK(swapped.status().message().find("another name or role") != std::string::npos);
  CHECK(enc.OpenRef("volumes/u/snapshots/a", std::vector<uint8_t>(value.begin(), value.end())).status().code() == EBADMSG);
  std::vector<uint8_t> flipped = a;
  flipped[flipped.size() - 3] ^= 1;
  CHECK(enc.OpenRef("volumes/u/snapshots/a", flipped).status().code() == EBADMSG);
  CHECK(VolumeCodec().OpenRef("volumes/u/snapshots/a", a).status().code() == EACCES);
  CHECK(Encrypted(5).OpenRef("volumes/u/snapshots/a", a).status().code() == EBADMSG);
}

TEST_CASE("without a key, nodes and records of either form are read (gc of a shared store)") {
  VolumeCodec off;
  VolumeCodec zstd = VolumeCodec::Make(true, nullptr).value();
  std::vector<uint8_t> node(8192, 0);
  for (size_t i = 0; i < 64; ++i) node[i] = static_cast<uint8_t>(i + 1);
  std::vector<uint8_t> env = Bytes(zstd.Encode(BlobRole::kNode, node).value().bytes());
  CHECK(off.Decode(BlobRole::kNode, env).value() == node);
  CHECK(zstd.Decode(BlobRole::kNode, node).value() == node);
  // A chunk is always read in the volume's own form: its bytes are the user's.
  CHECK(off.Decode(BlobRole::kChunk, env).value() == env);
}

TEST_CASE("Unlock: the key object opens with its passphrase only") {
  SecretKey master = Master(3);
  const std::string pass = "correct horse";
  std::vector<uint8_t> object =
      WrapMasterKey(master, std::span(reinterpret_cast<const uint8_t*>(pass.data()), pass.size()), ScryptParams{10, 1, 1})
          .value();
  VolumeCodec opened =
      VolumeCodec::Unlock(true, object, std::span(reinterpret_cast<const uint8_t*>(pass.data()), pass.size()), "v")
          .value();
  std::vector<uint8_t> text = Text(4096);
  CHECK(opened.Encode(BlobRole::kRecord, text).value().pointer() ==
        VolumeCodec::Make(true, &master).value().Encode(BlobRole::kRecord, text).value().pointer());
  const std::string wrong = "wrong horse";
  Result<VolumeCodec> bad =
      VolumeCodec::Unlock(true, object, std::span(reinterpret_cast<const uint8_t*>(wrong.data()), wrong.size()), "v");
  CHECK(bad.status().code() == EACCES);
  CHECK(bad.status().message().find("wrong passphrase") != std::string::npos);
  object[30] ^= 1;
  CHECK(VolumeCodec::Unlock(true, object, std::span(reinterpret_cast<const uint8_t*>(pass.data()), pass.size()), "v")
            .status()
            .code() == EBADMSG);
}
