// Sealed boxes: one object encrypted and authenticated as a whole with
// AES-256-GCM (OpenSSL EVP), bound to its name and role.
//
// Format (little-endian; docs/FORMATS.md, "Sealed box"), 56 bytes of overhead:
//    0  4  magic "AMSB"
//    4  1  version (1)
//    5  3  reserved, zero
//    8  4  ciphertext length L (= plaintext length)
//   12  8  key id: HMAC-SHA256(check key, "amberfs sealed-box key id")[0..8)
//   20  8  binding: HMAC-SHA256(check key, len32 role, role, len32 name, name)[0..8)
//   28 12  nonce, random per seal (RAND_bytes), or synthetic (SealNonce)
//   40  L  ciphertext
// 40+L 16  GCM tag
// Associated data: bytes 0..28 of the header, then len32 role, role, len32
// name, name. So a box opened under another name or role, a box replayed
// under a new name, and a flipped bit anywhere all fail the tag. The key id
// and binding only name the cause of a failure (another key; another name or
// role) before the tag is tried; they are not what makes Open safe, the tag is.
//
// A SealKey holds two sub-keys of one 256-bit key (HKDF: "amberfs sealed-box
// aes v1", "... check v1"), so the GCM key is never also an HMAC key.
// Random 96-bit nonces: a key must seal fewer than 2^32 boxes (NIST SP
// 800-38D); a volume of 64 KiB blobs reaches that at 256 TiB written.
//
// Errors: Seal: EINVAL for an empty or over-64-byte role or a role holding
// NUL, a plaintext over kMaxSealedPlain; EIO if OpenSSL fails. Open: the same
// EINVAL for the role, and EBADMSG with a message saying which of these it is:
// truncated (shorter than the header, or than its length says), extended
// (longer), not a sealed box (magic), unsupported version, damaged header
// (reserved bytes), sealed under another key, sealed for another name or role
// (swapped or replayed), damaged (the tag fails: a flipped bit in the header,
// nonce, ciphertext or tag). Open never returns unauthenticated bytes.
//
// Thread-safety: a SealKey is immutable once made; Seal and Open are
// reentrant (each call has its own cipher context).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "amberfs/status.h"
#include "crypto/secret.h"

namespace amberfs {

inline constexpr size_t kSealedHeaderBytes = 40;
inline constexpr size_t kSealedTagBytes = 16;
inline constexpr size_t kSealedOverhead = kSealedHeaderBytes + kSealedTagBytes;
inline constexpr size_t kMaxSealedPlain = size_t{1} << 30;
inline constexpr size_t kMaxSealRoleBytes = 64;

using SealKeyId = std::array<uint8_t, 8>;

class SealKey {
 public:
  static Result<SealKey> From(const SecretKey& key);
  const SealKeyId& key_id() const { return key_id_; }

 private:
  SealKey() = default;  // all-zero keys: only From and KeyRing (which assigns one at once) make one
  friend class SealAccess;
  friend class KeyRing;
  SecretKey aes_;
  SecretKey check_;
  SealKeyId key_id_{};
};

// How a box's nonce is chosen. kRandom: RAND_bytes, so sealing the same
// plaintext twice gives two boxes. kSynthetic: HMAC-SHA256 under the check
// key of (role, name, plaintext), first 12 bytes (SIV-style): the same
// plaintext, role and name under the same key always give the same box, which
// is what lets content-addressed blobs dedup while encrypted. GCM stays safe
// because a nonce repeats only with the very same plaintext (the nonce is a
// PRF of it); what an observer learns is only that two boxes are equal.
enum class SealNonce { kRandom, kSynthetic };

// Appends the box of the concatenated plaintext parts to *out (the parts are
// one plaintext: a header and a body can be sealed without joining them).
Status SealAppend(const SealKey& key, std::string_view role, std::string_view name,
                  std::initializer_list<std::span<const uint8_t>> plaintext, std::vector<uint8_t>* out,
                  SealNonce nonce = SealNonce::kRandom);
Result<std::vector<uint8_t>> Seal(const SealKey& key, std::string_view role, std::string_view name,
                                  std::span<const uint8_t> plaintext);

// Whether bytes begin as a sealed box does (its magic): tells a sealed
// object from a plain one before deciding how to read it; Open still checks
// everything.
bool LooksLikeSealedBox(std::span<const uint8_t> bytes);

// The plaintext length a well-formed box claims (EBADMSG as Open for a bad
// header or size); the key id a box was sealed under.
Result<size_t> SealedPlainSize(std::span<const uint8_t> box);
Result<SealKeyId> SealedKeyId(std::span<const uint8_t> box);

// Opens box into out, whose size must be SealedPlainSize(box) (else EINVAL).
// On any error out is zeroed, never left with unauthenticated bytes.
Status OpenInto(const SealKey& key, std::string_view role, std::string_view name, std::span<const uint8_t> box,
                std::span<uint8_t> out);
// The same into several parts, in order, whose sizes must add up to
// SealedPlainSize(box): what SealAppend sealed as a header and a body opens
// into a header and a body, with no copy to split them. On any error every
// part is zeroed.
Status OpenInto(const SealKey& key, std::string_view role, std::string_view name, std::span<const uint8_t> box,
                std::initializer_list<std::span<uint8_t>> out);
Result<std::vector<uint8_t>> Open(const SealKey& key, std::string_view role, std::string_view name,
                                  std::span<const uint8_t> box);

}  // namespace amberfs
