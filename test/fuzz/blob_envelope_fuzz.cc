// Fuzz target: the blob envelope and the sealed box under it
// (crypto/blob_envelope.h, crypto/sealed_box.h): every blob, pack entry and
// sealed object read back from a store that may hold anything.
//
// Input: a flags byte, then either
//   raw (bit 0x04 clear): the stored bytes. Bit 0x01 decodes with a fixed
//     key (else without one). DecodeBlob must be EBADMSG, or EACCES only for a
//     sealed envelope read without a key; a success returns at most the size
//     limit, and never with a key (the fuzzer cannot forge a GCM tag). A plain
//     success re-encodes (compressed or not) to an envelope that decodes to
//     the same bytes. Bit 0x02 also opens the bytes as a sealed box, which
//     must fail with EBADMSG.
//   build (bit 0x04): a blob, a name and settings from the input: encoding
//     then decoding gives the blob back; the sealed form under another name
//     or key is EBADMSG; a plain form read with a key is EBADMSG.
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/blob_envelope.h"
#include "crypto/key_ring.h"
#include "fuzz/fuzz_support.h"

using namespace amberfs;

namespace {

const SealKey& FixedKey(uint8_t which) {
  static const SealKey* keys[2] = {};
  if (keys[which] == nullptr) {
    SecretKey raw;
    for (size_t i = 0; i < SecretKey::kSize; ++i) raw.data()[i] = static_cast<uint8_t>(i + 97 * which);
    keys[which] = new SealKey(std::move(SealKey::From(raw)).value());  // lives for the run
  }
  return *keys[which];
}

constexpr size_t kLimit = 1 << 20;  // keeps a claimed length's allocation small

void Raw(uint8_t flags, std::span<const uint8_t> in) {
  const SealKey* key = (flags & 0x01) ? &FixedKey(0) : nullptr;
  Result<std::vector<uint8_t>> d = DecodeBlob(in, "fuzz", key, kLimit);
  if (!d.ok()) {
    const int code = d.status().code();
    const bool sealed = in.size() > 5 && in[5] == 1;
    FUZZ_CHECK(code == EBADMSG || (code == EACCES && key == nullptr && sealed),
               "decode error: " + d.status().ToString());
  } else {
    FUZZ_CHECK(key == nullptr, "a forged sealed envelope decoded");
    FUZZ_CHECK(d->size() <= kLimit, "decoded past the limit");
    for (bool compress : {false, true}) {
      Result<std::vector<uint8_t>> env = EncodeBlob(*d, "fuzz", {compress, 1, nullptr});
      FUZZ_CHECK(env.ok(), "re-encode failed");
      Result<std::vector<uint8_t>> again = DecodeBlob(*env, "fuzz", nullptr);
      FUZZ_CHECK(again.ok() && *again == *d, "re-encoded envelope does not decode to the same bytes");
    }
  }
  if (flags & 0x02) {
    Result<std::vector<uint8_t>> opened = Open(FixedKey(0), "blob", "fuzz", in);
    FUZZ_CHECK(!opened.ok() && opened.status().code() == EBADMSG, "sealed box: " + opened.status().ToString());
  }
}

void Build(FuzzedDataProvider& in) {
  const bool compress = in.ConsumeBool();
  const bool sealed = in.ConsumeBool();
  const int level = in.ConsumeIntegralInRange<int>(1, 3);
  const std::string name = in.ConsumeRandomLengthString(80);
  std::vector<uint8_t> blob = in.ConsumeRemainingBytes<uint8_t>();
  if (in.remaining_bytes() == 0 && !blob.empty() && (blob[0] & 1)) {
    // Repeat the input so zstd has something to find.
    std::vector<uint8_t> rep;
    for (int i = 0; i < 64; ++i) rep.insert(rep.end(), blob.begin(), blob.end());
    blob = std::move(rep);
  }
  const SealKey* key = sealed ? &FixedKey(0) : nullptr;
  Result<std::vector<uint8_t>> env = EncodeBlob(blob, name, {compress, level, key});
  FUZZ_CHECK(env.ok(), "encode failed: " + env.status().ToString());
  Result<std::vector<uint8_t>> back = DecodeBlob(*env, name, key);
  FUZZ_CHECK(back.ok() && *back == blob, "round trip failed");
  FUZZ_CHECK(env->size() <= blob.size() + 16 + (sealed ? kSealedOverhead : 0), "envelope grew past its overhead");
  if (sealed) {
    FUZZ_CHECK(DecodeBlob(*env, name + "x", key).status().code() == EBADMSG, "opened under another name");
    FUZZ_CHECK(DecodeBlob(*env, name, &FixedKey(1)).status().code() == EBADMSG, "opened with another key");
    FUZZ_CHECK(DecodeBlob(*env, name, nullptr).status().code() == EACCES, "opened without a key");
  } else {
    FUZZ_CHECK(DecodeBlob(*env, name, &FixedKey(0)).status().code() == EBADMSG, "a plain envelope passed a key");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 0x04, Build, Raw);
}
