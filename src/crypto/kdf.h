// Key derivation: scrypt (passphrase -> wrapping key), HKDF-SHA256 (master
// key -> purpose sub-keys) and HMAC-SHA256 (keyed names and checks).
//
// scrypt's cost is stored in the key object, which may come from a hostile
// store, so CheckScryptParams bounds it before any derivation: N = 2^log2_n
// with log2_n in [10, 20], r in [1, 32], p in [1, 16], memory 128*N*r at most
// kScryptMaxMemory (256 MiB) and work N*r*p at most 2^24 (a few seconds here).
// Out of bounds is EINVAL from CheckScryptParams and from DeriveScrypt.
// DefaultScryptParams() is N=2^15, r=8, p=1: 32 MiB and about 0.1 s on one
// core of a 2-core box (measured 0.14 s: docs/FORMATS.md, key object).
//
// Errors: EINVAL for bad parameters; EIO when OpenSSL itself fails (it
// should not: a failure there is an allocation failure or a broken build).
//
// Thread-safety: reentrant; each call uses its own OpenSSL contexts.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "amberfs/status.h"
#include "crypto/secret.h"

namespace amberfs {

struct ScryptParams {
  uint8_t log2_n = 15;
  uint32_t r = 8;
  uint32_t p = 1;
};

inline constexpr uint64_t kScryptMaxMemory = 256ull << 20;
inline constexpr uint64_t kScryptMaxWork = 1ull << 24;  // N*r*p

ScryptParams DefaultScryptParams();
Status CheckScryptParams(const ScryptParams& params);

// The 256-bit key scrypt derives from passphrase and salt.
Result<SecretKey> DeriveScrypt(std::span<const uint8_t> passphrase, std::span<const uint8_t> salt,
                               const ScryptParams& params);

// HKDF-SHA256 (RFC 5869) of a 256-bit input key with an empty salt and the
// given info string: one sub-key per purpose.
Result<SecretKey> DeriveSubKey(const SecretKey& key, std::string_view info);

using Mac256 = std::array<uint8_t, 32>;
// HMAC-SHA256 of the concatenation of parts under key (throws bad_alloc only
// when OpenSSL cannot allocate, like Sha256).
Mac256 HmacSha256(const SecretKey& key, std::initializer_list<std::span<const uint8_t>> parts);

// Fills out with bytes from OpenSSL's CSPRNG (RAND_bytes); EIO if it fails.
Status RandomBytes(std::span<uint8_t> out);

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace amberfs
