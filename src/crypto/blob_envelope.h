// The per-blob envelope: how one blob's bytes are stored once compression and
// encryption are on (restic's model: each blob compressed, then sealed on its
// own; docs/FORMATS.md, "Blob envelope"). It lives in src/crypto so that the
// store layer (packs) can use it without the crypto layer knowing stores.
//
// Format (little-endian):
//   outer   0 4 magic "AMBE"   4 1 version (1)   5 1 mode (0 plain, 1 sealed)
//           6 2 reserved, zero
//   then, for mode 0 the inner part itself, for mode 1 a sealed box
//   (crypto/sealed_box.h, role "blob", name = the caller's name for the blob)
//   whose plaintext is the inner part:
//   inner   0 1 codec (0 raw, 1 zstd)   1 3 reserved, zero
//           4 4 plaintext length P      8 .. the data (P raw bytes, or one zstd frame of P bytes)
//
// EncodeBlob compresses with zstd at options.zstd_level (default 1: fast) and
// keeps the result only if it saves at least 1/32 (~3%) of the bytes; else
// the blob is stored raw. Data that does not compress is found cheaply: a
// blob of 16 KiB or more is first probed by compressing a 4 KiB sample from
// its middle; when the sample saves under 1/32 the blob is stored raw
// without compressing the rest (zstd on random data costs about as much as
// AES-GCM). A blob whose sample is random but whose whole compresses (a
// random block repeated) is the price: it is stored raw. With a key the inner
// part is sealed; without one it is stored as is (mode 0).
//
// DecodeBlob verifies and returns the plaintext. The caller still checks
// SHA-256(plaintext) == the blob id: the envelope authenticates where the
// bytes came from (key, name), the id what they are.
//
// Errors (DecodeBlob): EBADMSG with a message naming the blob for any
// malformed, damaged or tampered envelope (the sealed box's own distinct
// messages included), for a plaintext length over max_plain (checked before
// allocating), and for a plain (mode 0) envelope when a key is given: a store
// that encrypts never holds a plaintext blob, so one is a downgrade. EACCES
// for a sealed envelope without a key. EncodeBlob: EINVAL for a blob over
// kMaxEnvelopePlain; EIO if zstd or OpenSSL fail.
//
// Thread-safety: reentrant; each thread keeps its own zstd contexts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "amberfs/status.h"
#include "crypto/sealed_box.h"

namespace amberfs {

inline constexpr size_t kEnvelopeHeaderBytes = 8;  // outer
inline constexpr size_t kEnvelopeInnerBytes = 8;
// The largest plaintext: 64 MiB, the largest chunk (store.h's kMaxBlobBytes
// leaves room for the envelope around it).
inline constexpr size_t kMaxEnvelopePlain = size_t{64} << 20;
inline constexpr std::string_view kBlobRole = "blob";

enum class BlobCodec : uint8_t { kRaw = 0, kZstd = 1 };

struct EnvelopeOptions {
  bool compress = true;         // --compress zstd (true) | none (false)
  int zstd_level = 1;
  const SealKey* key = nullptr;  // null: not encrypted
  // Seal with a synthetic nonce (SealNonce::kSynthetic): the same blob, name
  // and key always give the same envelope, so a store named by the SHA-256 of
  // the envelope still dedups equal blobs.
  bool deterministic = false;
};

// Whether bytes begin as an envelope of this version does (magic and
// version): tells an envelope from a raw blob; DecodeBlob still checks all.
bool LooksLikeEnvelope(std::span<const uint8_t> bytes);

Result<std::vector<uint8_t>> EncodeBlob(std::span<const uint8_t> plain, std::string_view name,
                                        const EnvelopeOptions& options);
Result<std::vector<uint8_t>> DecodeBlob(std::span<const uint8_t> envelope, std::string_view name, const SealKey* key,
                                        size_t max_plain = kMaxEnvelopePlain);
// DecodeBlob into *out (resized to the plaintext), reusing its memory: a
// caller decoding many blobs a thread (restore) allocates and zero-fills
// nothing once *out has held one blob, and a sealed raw blob is decrypted
// straight into it. On any error *out is left empty.
Status DecodeBlobInto(std::span<const uint8_t> envelope, std::string_view name, const SealKey* key,
                      std::vector<uint8_t>* out, size_t max_plain = kMaxEnvelopePlain);

// The codec EncodeBlob chose (after opening, for stats and tests); EBADMSG/
// EACCES as DecodeBlob.
Result<BlobCodec> EnvelopeCodec(std::span<const uint8_t> envelope, std::string_view name, const SealKey* key);

}  // namespace amberfs
