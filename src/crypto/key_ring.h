// KeyRing: the sub-keys of a volume's master key, one per purpose, so no key
// serves two jobs (docs/FORMATS.md, "Key hierarchy"):
//
//   data key    HKDF-SHA256(master, info "amberfs v1 data"): seals blobs,
//               pack tails, index objects, records and refs (SealKey).
//   naming key  HKDF-SHA256(master, info "amberfs v1 object names"): an
//               HMAC-SHA256 key; ObjectName(kind, id) is the hex HMAC of
//               kind, a zero byte and id, so a slow-store name derived from a
//               content hash reveals nothing about the content to a reader
//               without the key, and two kinds never share a name.
//
// The master key itself comes from NewMasterKey and lives wrapped in the key
// object (crypto/key_object.h). Errors: EIO if OpenSSL fails (HKDF, RAND).
// Thread-safety: immutable once made; any number of readers.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "amberfs/status.h"
#include "crypto/sealed_box.h"
#include "crypto/secret.h"

namespace amberfs {

// 256 fresh random bits (RAND_bytes).
Result<SecretKey> NewMasterKey();

class KeyRing {
 public:
  static Result<KeyRing> FromMaster(const SecretKey& master);

  const SealKey& data() const { return data_; }
  // 64 lowercase hex digits: HMAC-SHA256(naming key, kind || 0x00 || id).
  std::string ObjectName(std::string_view kind, std::span<const uint8_t> id) const;

 private:
  SealKey data_;
  SecretKey naming_;
};

}  // namespace amberfs
