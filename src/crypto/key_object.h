// The key object: a volume's master key wrapped under its passphrase, kept in
// the volume directory and the slow store (docs/FORMATS.md, "Key object").
//
// Format (148 bytes, little-endian):
//     0   8  magic "AMBRKEYS"
//     8   2  version (1)
//    10   1  kdf (1 = scrypt)
//    11   1  log2(N)
//    12   4  r
//    16   4  p
//    20  32  salt (random per wrap)
//    52  88  sealed box (crypto/sealed_box.h) of the 32-byte master key, under
//            the scrypt-derived key, role "master-key", name = bytes 0..52
//            (so the parameters and salt are authenticated by the tag too)
//   140   8  xxh3-64 of bytes 0..140 (tells a damaged file from a wrong passphrase)
//
// Decoding is strict (EBADMSG): size, magic, version, kdf, checksum, and the
// scrypt bounds of crypto/kdf.h, checked before any derivation, so a hostile
// object cannot make us allocate gigabytes or spin for minutes.
//
// Errors: WrapMasterKey: EINVAL for an empty passphrase or out-of-bounds
// parameters. UnwrapMasterKey: EBADMSG for a malformed or damaged object;
// EACCES "wrong passphrase" when the derived key is not the one the box was
// sealed under (also what a deliberately re-checksummed edit of the
// parameters or salt looks like: it never yields a wrong master key); EBADMSG
// if the key matches but the tag fails. Never returns unauthenticated bytes.
// Callers annotate errors with the object's path or store name.
//
// Thread-safety: reentrant. Cost: one scrypt per wrap or unwrap (~0.1 s and
// 32 MiB at the defaults); RewrapMasterKey is two.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "amberfs/status.h"
#include "crypto/kdf.h"
#include "crypto/secret.h"

namespace amberfs {

inline constexpr size_t kKeyObjectBytes = 148;

struct KeyObjectInfo {
  ScryptParams params;
  std::array<uint8_t, 32> salt{};
};

// Checks the framing and bounds only (no scrypt): what fsck and the fuzzer call.
Result<KeyObjectInfo> DecodeKeyObject(std::span<const uint8_t> object);

Result<std::vector<uint8_t>> WrapMasterKey(const SecretKey& master, std::span<const uint8_t> passphrase,
                                           const ScryptParams& params = DefaultScryptParams());
Result<SecretKey> UnwrapMasterKey(std::span<const uint8_t> object, std::span<const uint8_t> passphrase);
// A new object holding the same master key under new_passphrase (new salt).
Result<std::vector<uint8_t>> RewrapMasterKey(std::span<const uint8_t> object, std::span<const uint8_t> old_passphrase,
                                             std::span<const uint8_t> new_passphrase,
                                             const ScryptParams& params = DefaultScryptParams());

}  // namespace amberfs
