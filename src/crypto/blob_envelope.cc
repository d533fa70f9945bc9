#include "crypto/blob_envelope.h"

#include <cstring>
#include <string>

#include "base/byte_order.h"
#include "crypto/ossl_handles.h"

namespace amberfs {

using crypto_internal::ZstdCctx;
using crypto_internal::ZstdDctx;

namespace {

constexpr uint8_t kMagic[4] = {'A', 'M', 'B', 'E'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kModePlain = 0;
constexpr uint8_t kModeSealed = 1;
constexpr size_t kProbeMin = 16 << 10;
constexpr size_t kProbeBytes = 4 << 10;

// Keeps a compressed form only when it saves at least 1/32 of the bytes.
bool WorthIt(size_t plain, size_t packed) { return packed + plain / 32 <= plain && packed < plain; }

// One compression and one decompression context per thread: a ZSTD_CCtx is
// hundreds of KiB to set up, more than compressing a 64 KiB blob costs.
ZSTD_CCtx* ThreadCctx() {
  thread_local ZstdCctx ctx(ZSTD_createCCtx());
  return ctx.get();
}
ZSTD_DCtx* ThreadDctx() {
  thread_local ZstdDctx ctx(ZSTD_createDCtx());
  return ctx.get();
}

Status Bad(std::string_view name, const std::string& what) {
  return Status::Error(EBADMSG, "blob envelope " + std::string(name) + ": " + what);
}

// zstd output of plain at level into *out (resized to fit); false if it fails.
bool Compress(std::span<const uint8_t> plain, int level, std::vector<uint8_t>* out) {
  ZSTD_CCtx* cctx = ThreadCctx();
  if (cctx == nullptr) return false;
  out->resize(ZSTD_compressBound(plain.size()));
  size_t n = ZSTD_compressCCtx(cctx, out->data(), out->size(), plain.data(), plain.size(), level);
  if (ZSTD_isError(n)) return false;
  out->resize(n);
  return true;
}

// True when a sample from the middle of a large blob does not compress.
bool LooksIncompressible(std::span<const uint8_t> plain, int level) {
  if (plain.size() < kProbeMin) return false;
  std::vector<uint8_t> sample;
  const auto mid = plain.subspan(plain.size() / 2 - kProbeBytes / 2, kProbeBytes);
  if (!Compress(mid, level, &sample)) return false;  // let the real attempt report it
  return !WorthIt(mid.size(), sample.size());
}

}  // namespace

bool LooksLikeEnvelope(std::span<const uint8_t> bytes) {
  return bytes.size() > sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0 &&
         bytes[sizeof kMagic] == kVersion;
}

Result<std::vector<uint8_t>> EncodeBlob(std::span<const uint8_t> plain, std::string_view name,
                                        const EnvelopeOptions& options) {
  if (plain.size() > kMaxEnvelopePlain)
    return Status::Error(EINVAL, "blob envelope " + std::string(name) + ": " + std::to_string(plain.size()) +
                                     " bytes is over the largest blob");
  uint8_t inner[kEnvelopeInnerBytes] = {};
  inner[0] = static_cast<uint8_t>(BlobCodec::kRaw);
  PutLE32(inner + 4, static_cast<uint32_t>(plain.size()));
  std::vector<uint8_t> packed;
  std::span<const uint8_t> body = plain;
  if (options.compress && !plain.empty() && !LooksIncompressible(plain, options.zstd_level)) {
    if (!Compress(plain, options.zstd_level, &packed))
      return Status::Error(EIO, "blob envelope " + std::string(name) + ": zstd compression failed");
    if (WorthIt(plain.size(), packed.size())) {
      inner[0] = static_cast<uint8_t>(BlobCodec::kZstd);
      body = packed;
    }
  }
  std::vector<uint8_t> out;
  out.reserve(kEnvelopeHeaderBytes + kEnvelopeInnerBytes + body.size() + (options.key ? kSealedOverhead : 0));
  out.insert(out.end(), kMagic, kMagic + 4);
  out.push_back(kVersion);
  out.push_back(options.key ? kModeSealed : kModePlain);
  out.push_back(0);
  out.push_back(0);
  if (options.key == nullptr) {
    out.insert(out.end(), inner, inner + sizeof inner);
    out.insert(out.end(), body.begin(), body.end());
    return out;
  }
  AMBER_RETURN_IF_ERROR(
      SealAppend(*options.key, kBlobRole, name, {std::span<const uint8_t>(inner, sizeof inner), body}, &out,
                 options.deterministic ? SealNonce::kSynthetic : SealNonce::kRandom));
  return out;
}

namespace {

// The outer header's checks; the mode byte (plain or sealed, checked against
// the key).
Result<uint8_t> CheckOuter(std::span<const uint8_t> env, std::string_view name, const SealKey* key) {
  if (env.size() < kEnvelopeHeaderBytes)
    return Bad(name, "truncated: " + std::to_string(env.size()) + " bytes, shorter than the header");
  if (std::memcmp(env.data(), kMagic, 4) != 0) return Bad(name, "not a blob envelope (bad magic)");
  if (env[4] != kVersion) return Bad(name, "version " + std::to_string(env[4]) + " is not supported (only 1)");
  if (env[6] != 0 || env[7] != 0) return Bad(name, "damaged header (reserved bytes set)");
  if (env[5] == kModePlain) {
    if (key != nullptr)
      return Bad(name, "not encrypted, but this store encrypts every blob (a plaintext blob here is tampering)");
  } else if (env[5] == kModeSealed) {
    if (key == nullptr)
      return Status::Error(EACCES, "blob envelope " + std::string(name) + ": encrypted, and no key was given");
  } else {
    return Bad(name, "unknown mode " + std::to_string(env[5]));
  }
  return env[5];
}

// The inner header's checks (its 8 bytes, opened when sealed); the codec.
Result<BlobCodec> CheckInner(std::span<const uint8_t> inner, std::string_view name) {
  if (inner.size() < kEnvelopeInnerBytes) return Bad(name, "truncated: no room for the inner header");
  if (inner[0] > static_cast<uint8_t>(BlobCodec::kZstd)) return Bad(name, "unknown codec " + std::to_string(inner[0]));
  if (inner[1] != 0 || inner[2] != 0 || inner[3] != 0) return Bad(name, "damaged inner header (reserved bytes set)");
  return static_cast<BlobCodec>(inner[0]);
}

Status CheckPlainLength(size_t plain_len, std::string_view name, size_t max_plain) {
  if (plain_len > max_plain || plain_len > kMaxEnvelopePlain)
    return Bad(name, "plaintext length " + std::to_string(plain_len) + " is over the largest blob");
  return Status::OK();
}

// A raw (uncompressed) inner part's data must be exactly the plaintext.
Status CheckRawLength(size_t data_len, size_t plain_len, std::string_view name) {
  if (data_len == plain_len) return Status::OK();
  return Bad(name, "raw data is " + std::to_string(data_len) + " bytes where the header says " +
                       std::to_string(plain_len));
}

// One zstd frame of plain_len bytes into *out.
Status Inflate(std::span<const uint8_t> frame, size_t plain_len, std::string_view name, std::vector<uint8_t>* out) {
  const unsigned long long framed = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (framed != plain_len)
    return Bad(name, "the zstd frame's content size does not match the header's " + std::to_string(plain_len));
  ZSTD_DCtx* dctx = ThreadDctx();
  if (dctx == nullptr) return Status::Error(EIO, "blob envelope " + std::string(name) + ": zstd context");
  out->resize(plain_len);
  size_t n = ZSTD_decompressDCtx(dctx, out->data(), out->size(), frame.data(), frame.size());
  if (ZSTD_isError(n)) return Bad(name, std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != plain_len) return Bad(name, "zstd gave " + std::to_string(n) + " bytes, the header says " + std::to_string(plain_len));
  return Status::OK();
}

// A plain (mode 0) envelope's inner part, rest, decoded into *out.
Status DecodePlainInto(std::span<const uint8_t> rest, std::string_view name, size_t max_plain,
                       std::vector<uint8_t>* out) {
  AMBER_ASSIGN_OR_RETURN(BlobCodec codec, CheckInner(rest, name));
  const size_t plain_len = GetLE32(rest.data() + 4);
  AMBER_RETURN_IF_ERROR(CheckPlainLength(plain_len, name, max_plain));
  const auto data = rest.subspan(kEnvelopeInnerBytes);
  if (codec == BlobCodec::kZstd) return Inflate(data, plain_len, name, out);
  AMBER_RETURN_IF_ERROR(CheckRawLength(data.size(), plain_len, name));
  out->assign(data.begin(), data.end());
  return Status::OK();
}

// A sealed (mode 1) envelope's box decoded into *out. The inner header is
// opened apart from the rest, so a raw blob (the usual sealed one: data that
// does not compress) is decrypted straight into *out, with no copy after.
// Nothing of *out is read or kept before the box's tag has checked it.
Status DecodeSealedInto(std::span<const uint8_t> box, std::string_view name, const SealKey& key, size_t max_plain,
                        std::vector<uint8_t>* out) {
  Result<size_t> sealed = SealedPlainSize(box);
  if (!sealed.ok()) return Bad(name, sealed.status().message());
  if (*sealed < kEnvelopeInnerBytes) return Bad(name, "truncated: no room for the inner header");
  uint8_t inner[kEnvelopeInnerBytes];
  out->resize(*sealed - kEnvelopeInnerBytes);  // no zero fill when *out is reused at the same size
  if (Status st = OpenInto(key, kBlobRole, name, box, {std::span<uint8_t>(inner), std::span<uint8_t>(*out)});
      !st.ok())
    return Bad(name, st.message());
  AMBER_ASSIGN_OR_RETURN(BlobCodec codec, CheckInner(inner, name));
  const size_t plain_len = GetLE32(inner + 4);
  AMBER_RETURN_IF_ERROR(CheckPlainLength(plain_len, name, max_plain));
  if (codec == BlobCodec::kRaw) return CheckRawLength(out->size(), plain_len, name);
  std::vector<uint8_t> frame;
  frame.swap(*out);
  return Inflate(frame, plain_len, name, out);
}

}  // namespace

Status DecodeBlobInto(std::span<const uint8_t> envelope, std::string_view name, const SealKey* key,
                      std::vector<uint8_t>* out, size_t max_plain) {
  Result<uint8_t> mode = CheckOuter(envelope, name, key);
  Status st = mode.status();
  if (st.ok()) {
    const auto rest = envelope.subspan(kEnvelopeHeaderBytes);
    st = *mode == kModeSealed ? DecodeSealedInto(rest, name, *key, max_plain, out)
                              : DecodePlainInto(rest, name, max_plain, out);
  }
  if (!st.ok()) out->clear();  // never a part-decoded or unauthenticated plaintext
  return st;
}

Result<std::vector<uint8_t>> DecodeBlob(std::span<const uint8_t> envelope, std::string_view name, const SealKey* key,
                                        size_t max_plain) {
  std::vector<uint8_t> out;
  AMBER_RETURN_IF_ERROR(DecodeBlobInto(envelope, name, key, &out, max_plain));
  return out;
}

Result<BlobCodec> EnvelopeCodec(std::span<const uint8_t> envelope, std::string_view name, const SealKey* key) {
  AMBER_ASSIGN_OR_RETURN(uint8_t mode, CheckOuter(envelope, name, key));
  const auto rest = envelope.subspan(kEnvelopeHeaderBytes);
  if (mode == kModePlain) return CheckInner(rest, name);
  Result<std::vector<uint8_t>> inner = Open(*key, kBlobRole, name, rest);
  if (!inner.ok()) return Bad(name, inner.status().message());
  return CheckInner(*inner, name);
}

}  // namespace amberfs
