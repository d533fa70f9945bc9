// Fuzz target: VolumeCodec (snapshot/volume_codec.h), how a volume reads every
// blob (chunk, index node, record) and ref that comes back from a store that
// may hold anything, for each codec a volume can have.
//
// Input: a flags byte, then the stored bytes. Bits 0..1 pick the codec (off,
// zstd, zstd + a fixed key, a key without compression), bits 2..3 the role
// (chunk, node, record, or a ref). Decode and OpenRef must succeed or fail
// with EBADMSG (EACCES only for a sealed object and a codec without a key);
// an encrypting codec accepts only real boxes (the fuzzer cannot forge a GCM
// tag under the fixed key, so what opens is a real seed, and must be exactly
// the encoding of its plaintext). A success re-encodes: Encode of the plaintext
// decodes back to it, is named by the SHA-256 of what it stores, and is the
// same bytes when encoded twice (the synthetic nonce).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/secret.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/volume_codec.h"

using namespace amberfs;

namespace {

const VolumeCodec& Codec(unsigned which) {
  static const VolumeCodec* codecs[4] = {};
  if (codecs[which] == nullptr) {
    SecretKey master;
    for (size_t i = 0; i < SecretKey::kSize; ++i) master.data()[i] = static_cast<uint8_t>(i * 13 + 5);
    const bool compress = which == 1 || which == 2;
    const bool key = which >= 2;
    codecs[which] = new VolumeCodec(std::move(VolumeCodec::Make(compress, key ? &master : nullptr)).value());
  }
  return *codecs[which];
}

constexpr BlobRole kRoles[] = {BlobRole::kChunk, BlobRole::kNode, BlobRole::kRecord};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  std::vector<uint8_t> stored(data + 1, data + size);
  const VolumeCodec& codec = Codec(flags & 3);
  const unsigned role_bits = (flags >> 2) & 3;
  const bool sealed = stored.size() >= 4 && stored[0] == 'A' && stored[1] == 'M' && stored[2] == 'S' && stored[3] == 'B';
  if (role_bits == 3) {
    Result<std::vector<uint8_t>> opened = codec.OpenRef("volumes/u/snapshots/fuzz", stored);
    if (!opened.ok()) {
      const int code = opened.status().code();
      FUZZ_CHECK(code == EBADMSG || (code == EACCES && !codec.encrypted() && sealed), "ref: " + opened.status().ToString());
      return 0;
    }
    if (codec.encrypted()) {  // only a real box opens (a seed): its value reseals and opens again
      Result<std::vector<uint8_t>> resealed = codec.SealRef("volumes/u/snapshots/fuzz", *opened);
      FUZZ_CHECK(resealed.ok(), "reseal failed");
      Result<std::vector<uint8_t>> again = codec.OpenRef("volumes/u/snapshots/fuzz", *resealed);
      FUZZ_CHECK(again.ok() && *again == *opened, "resealed ref does not open to the same value");
    } else {
      FUZZ_CHECK(*opened == stored, "an unsealed ref changed");
    }
    return 0;
  }
  const BlobRole role = kRoles[role_bits];
  Result<std::vector<uint8_t>> plain = codec.Decode(role, stored);
  if (!plain.ok()) {
    const int code = plain.status().code();
    FUZZ_CHECK(code == EBADMSG || (code == EACCES && !codec.encrypted()), "decode: " + plain.status().ToString());
    return 0;
  }
  Result<StoredBlob> again = codec.Encode(role, *plain);
  FUZZ_CHECK(again.ok(), "re-encode failed: " + again.status().ToString());
  FUZZ_CHECK(again->pointer() == Pointer::Of(again->bytes()), "a stored blob is not named by its SHA-256");
  // Under a key only the exact encoding opens (the fuzzer cannot forge a GCM
  // tag; the seeds are real ones): no second form of a blob is accepted.
  // (With or without compression: both codecs 2 and 3 hold the key.)
  if (codec.encrypted()) {
    bool canonical = false;
    for (unsigned k : {2u, 3u}) {
      Result<StoredBlob> form = Codec(k).Encode(role, *plain);
      canonical |= form.ok() && std::equal(stored.begin(), stored.end(), form->bytes().begin(), form->bytes().end());
    }
    FUZZ_CHECK(canonical, "an encrypted blob decoded that is not an encoding of its plaintext");
  }
  std::vector<uint8_t> bytes(again->bytes().begin(), again->bytes().end());
  Result<std::vector<uint8_t>> back = codec.Decode(role, bytes);
  FUZZ_CHECK(back.ok() && *back == *plain, "re-encoded blob does not decode to the same bytes");
  for (unsigned k : {2u, 3u}) {  // the same plaintext under a key: deterministic, and opens
    Result<StoredBlob> a = Codec(k).Encode(role, *plain), b = Codec(k).Encode(role, *plain);
    FUZZ_CHECK(a.ok() && b.ok() && a->pointer() == b->pointer(), "encrypted encoding is not deterministic");
    std::vector<uint8_t> sealed_bytes(a->bytes().begin(), a->bytes().end());
    Result<std::vector<uint8_t>> opened = Codec(k).Decode(role, sealed_bytes);
    FUZZ_CHECK(opened.ok() && *opened == *plain, "encrypted round trip failed");
  }
  return 0;
}
