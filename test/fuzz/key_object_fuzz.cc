// Fuzz target: the key object (crypto/key_object.h), read from the volume
// directory and from a slow store that may hold anything.
//
// Input: a flags byte, then either
//   raw (bit 0x04 clear): the object's bytes. Bit 0x01 fixes the checksum up
//     (when the size is right) so the fuzzer reaches the fields behind it.
//     DecodeKeyObject must fail with EBADMSG or return parameters that pass
//     CheckScryptParams. Bit 0x02 also unwraps with the passphrase "pw" when
//     the parameters are cheap (N <= 2^11, r*p <= 16: a hostile object's
//     bounded cost is the unit test's job, not this loop's): the result is
//     EBADMSG or EACCES, never a key (nothing here can forge the GCM tag).
//   build (bit 0x04): a passphrase and a master key from the input, wrapped at
//     the cheapest parameters: unwrap gives the same key back, another
//     passphrase is EACCES, and a rewrap keeps the key.
#include <xxhash.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "crypto/key_object.h"
#include "fuzz/fuzz_support.h"

using namespace amberfs;

namespace {

constexpr ScryptParams kCheap{10, 1, 1};

void Raw(uint8_t flags, std::span<const uint8_t> in) {
  std::vector<uint8_t> obj(in.begin(), in.end());
  if ((flags & 0x01) && obj.size() == kKeyObjectBytes) PutLE64(obj.data() + 140, XXH3_64bits(obj.data(), 140));
  Result<KeyObjectInfo> info = DecodeKeyObject(obj);
  if (!info.ok()) {
    FUZZ_CHECK(info.status().code() == EBADMSG, "decode error is not EBADMSG: " + info.status().ToString());
    return;
  }
  FUZZ_CHECK(CheckScryptParams(info->params).ok(), "decoded parameters out of bounds");
  FUZZ_CHECK(obj.size() == kKeyObjectBytes, "decoded an object of the wrong size");
  const uint64_t n = 1ull << info->params.log2_n;
  if (!(flags & 0x02) || n > 2048 || uint64_t{info->params.r} * info->params.p > 16) return;
  Result<SecretKey> key = UnwrapMasterKey(obj, AsBytes("pw"));
  FUZZ_CHECK(!key.ok(), "a forged key object unwrapped");
  FUZZ_CHECK(key.status().code() == EBADMSG || key.status().code() == EACCES,
             "unwrap error is not EBADMSG/EACCES: " + key.status().ToString());
}

void Build(FuzzedDataProvider& in) {
  std::string pass = in.ConsumeRandomLengthString(64);
  if (pass.empty()) pass = "x";
  SecretKey master;
  for (size_t i = 0; i < SecretKey::kSize; ++i) master.data()[i] = in.ConsumeIntegral<uint8_t>();
  Result<std::vector<uint8_t>> obj = WrapMasterKey(master, AsBytes(pass), kCheap);
  FUZZ_CHECK(obj.ok(), "wrap failed: " + obj.status().ToString());
  FUZZ_CHECK(obj->size() == kKeyObjectBytes, "wrapped object of the wrong size");
  Result<SecretKey> back = UnwrapMasterKey(*obj, AsBytes(pass));
  FUZZ_CHECK(back.ok() && back->SameAs(master), "unwrap did not give the master key back");
  const std::string other = pass + "!";
  FUZZ_CHECK(UnwrapMasterKey(*obj, AsBytes(other)).status().code() == EACCES, "another passphrase was not EACCES");
  Result<std::vector<uint8_t>> re = RewrapMasterKey(*obj, AsBytes(pass), AsBytes(other), kCheap);
  FUZZ_CHECK(re.ok(), "rewrap failed: " + re.status().ToString());
  Result<SecretKey> again = UnwrapMasterKey(*re, AsBytes(other));
  FUZZ_CHECK(again.ok() && again->SameAs(master), "rewrap lost the master key");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 0x04, Build, Raw);
}
