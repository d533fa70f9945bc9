#include "crypto/key_object.h"

#include <xxhash.h>

#include <cstring>
#include <string>
#include <string_view>

#include "base/byte_order.h"
#include "crypto/sealed_box.h"

namespace amberfs {

namespace {

constexpr uint8_t kMagic[8] = {'A', 'M', 'B', 'R', 'K', 'E', 'Y', 'S'};
constexpr uint16_t kVersion = 1;
constexpr uint8_t kKdfScrypt = 1;
constexpr size_t kHeaderBytes = 52;
constexpr size_t kBoxBytes = SecretKey::kSize + kSealedOverhead;
constexpr size_t kSumAt = kHeaderBytes + kBoxBytes;
constexpr std::string_view kRole = "master-key";
static_assert(kSumAt + 8 == kKeyObjectBytes);

std::string_view HeaderName(std::span<const uint8_t> object) {
  return {reinterpret_cast<const char*>(object.data()), kHeaderBytes};
}

Status Bad(std::string what) { return Status::Error(EBADMSG, "key object: " + what); }

}  // namespace

Result<KeyObjectInfo> DecodeKeyObject(std::span<const uint8_t> object) {
  if (object.size() != kKeyObjectBytes)
    return Bad(std::to_string(object.size()) + " bytes, expected " + std::to_string(kKeyObjectBytes));
  if (std::memcmp(object.data(), kMagic, sizeof kMagic) != 0) return Bad("bad magic (not an amberfs key object)");
  if (GetLE16(object.data() + 8) != kVersion)
    return Bad("version " + std::to_string(GetLE16(object.data() + 8)) + " is not supported (only 1)");
  if (XXH3_64bits(object.data(), kSumAt) != GetLE64(object.data() + kSumAt)) return Bad("checksum mismatch (damaged)");
  if (object[10] != kKdfScrypt) return Bad("unknown key derivation " + std::to_string(object[10]));
  KeyObjectInfo info;
  info.params.log2_n = object[11];
  info.params.r = GetLE32(object.data() + 12);
  info.params.p = GetLE32(object.data() + 16);
  Status bounds = CheckScryptParams(info.params);
  if (!bounds.ok()) return Bad("parameters out of bounds: " + bounds.message());
  std::memcpy(info.salt.data(), object.data() + 20, info.salt.size());
  return info;
}

Result<std::vector<uint8_t>> WrapMasterKey(const SecretKey& master, std::span<const uint8_t> passphrase,
                                           const ScryptParams& params) {
  if (passphrase.empty()) return Status::Error(EINVAL, "key object: the passphrase is empty");
  AMBER_RETURN_IF_ERROR(CheckScryptParams(params));
  std::vector<uint8_t> out(kHeaderBytes);
  std::memcpy(out.data(), kMagic, sizeof kMagic);
  PutLE16(out.data() + 8, kVersion);
  out[10] = kKdfScrypt;
  out[11] = params.log2_n;
  PutLE32(out.data() + 12, params.r);
  PutLE32(out.data() + 16, params.p);
  AMBER_RETURN_IF_ERROR(RandomBytes({out.data() + 20, 32}));
  AMBER_ASSIGN_OR_RETURN(SecretKey wrapping, DeriveScrypt(passphrase, {out.data() + 20, 32}, params));
  AMBER_ASSIGN_OR_RETURN(SealKey seal, SealKey::From(wrapping));
  const std::string name(HeaderName(out));
  AMBER_RETURN_IF_ERROR(SealAppend(seal, kRole, name, {master.span()}, &out));
  out.resize(kKeyObjectBytes);
  PutLE64(out.data() + kSumAt, XXH3_64bits(out.data(), kSumAt));
  return out;
}

Result<SecretKey> UnwrapMasterKey(std::span<const uint8_t> object, std::span<const uint8_t> passphrase) {
  AMBER_ASSIGN_OR_RETURN(KeyObjectInfo info, DecodeKeyObject(object));
  if (passphrase.empty()) return Status::Error(EINVAL, "key object: the passphrase is empty");
  const std::span<const uint8_t> box = object.subspan(kHeaderBytes, kBoxBytes);
  Result<size_t> plain = SealedPlainSize(box);
  if (!plain.ok()) return Bad(plain.status().message());
  if (*plain != SecretKey::kSize) return Bad("the sealed key is not 32 bytes");
  AMBER_ASSIGN_OR_RETURN(SecretKey wrapping, DeriveScrypt(passphrase, info.salt, info.params));
  AMBER_ASSIGN_OR_RETURN(SealKey seal, SealKey::From(wrapping));
  AMBER_ASSIGN_OR_RETURN(SealKeyId id, SealedKeyId(box));
  if (id != seal.key_id()) return Status::Error(EACCES, "key object: wrong passphrase");
  SecretKey master;
  Status st = OpenInto(seal, kRole, HeaderName(object), box, {master.data(), SecretKey::kSize});
  if (!st.ok()) return Bad(st.message());
  return master;
}

Result<std::vector<uint8_t>> RewrapMasterKey(std::span<const uint8_t> object, std::span<const uint8_t> old_passphrase,
                                             std::span<const uint8_t> new_passphrase, const ScryptParams& params) {
  AMBER_ASSIGN_OR_RETURN(SecretKey master, UnwrapMasterKey(object, old_passphrase));
  return WrapMasterKey(master, new_passphrase, params);
}

}  // namespace amberfs
