#include "crypto/key_ring.h"

#include "crypto/kdf.h"

namespace amberfs {

Result<SecretKey> NewMasterKey() {
  SecretKey key;
  AMBER_RETURN_IF_ERROR(RandomBytes({key.data(), SecretKey::kSize}));
  return key;
}

Result<KeyRing> KeyRing::FromMaster(const SecretKey& master) {
  AMBER_ASSIGN_OR_RETURN(SecretKey data, DeriveSubKey(master, "amberfs v1 data"));
  AMBER_ASSIGN_OR_RETURN(SealKey sealing, SealKey::From(data));
  AMBER_ASSIGN_OR_RETURN(SecretKey naming, DeriveSubKey(master, "amberfs v1 object names"));
  KeyRing ring;
  ring.data_ = std::move(sealing);
  ring.naming_ = std::move(naming);
  return ring;
}

std::string KeyRing::ObjectName(std::string_view kind, std::span<const uint8_t> id) const {
  static const uint8_t kZero = 0;
  Mac256 mac = HmacSha256(naming_, {AsBytes(kind), {&kZero, 1}, id});
  static const char kDigits[] = "0123456789abcdef";
  std::string out(2 * mac.size(), '0');
  for (size_t i = 0; i < mac.size(); ++i) {
    out[2 * i] = kDigits[mac[i] >> 4];
    out[2 * i + 1] = kDigits[mac[i] & 15];
  }
  return out;
}

}  // namespace amberfs
