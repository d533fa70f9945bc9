#include "crypto/sealed_box.h"

#include <openssl/crypto.h>
#include <openssl/err.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "base/byte_order.h"
#include "crypto/kdf.h"
#include "crypto/ossl_handles.h"
#include "crypto/secret.h"

namespace amberfs {

using crypto_internal::CipherCtx;
using crypto_internal::MacCtx;

namespace {

constexpr uint8_t kMagic[4] = {'A', 'M', 'S', 'B'};
constexpr uint8_t kVersion = 1;
constexpr size_t kAdHeaderBytes = 28;  // magic .. binding: what the AD covers of the header
constexpr size_t kNonceAt = 28;
constexpr size_t kNonceBytes = 12;

std::span<const uint8_t> Bytes(std::string_view s) { return AsBytes(s); }

// "role NAME" for messages; a name that is not printable text is shown by size.
std::string Describe(std::string_view role, std::string_view name) {
  bool printable = name.size() <= 200 && std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  return "sealed " + std::string(role) + " " + (printable ? std::string(name) : "(" + std::to_string(name.size()) + "-byte name)");
}

Status CheckRole(std::string_view role) {
  if (role.empty() || role.size() > kMaxSealRoleBytes || role.find('\0') != std::string_view::npos)
    return Status::Error(EINVAL, "sealed box role must be 1.." + std::to_string(kMaxSealRoleBytes) + " bytes without NUL");
  return Status::OK();
}

std::array<uint8_t, 8> Binding(const SecretKey& check, std::string_view role, std::string_view name) {
  uint8_t lens[8];
  PutLE32(lens, static_cast<uint32_t>(role.size()));
  PutLE32(lens + 4, static_cast<uint32_t>(name.size()));
  Mac256 mac = HmacSha256(check, {std::span<const uint8_t>(lens, 4), Bytes(role), std::span<const uint8_t>(lens + 4, 4),
                                  Bytes(name)});
  std::array<uint8_t, 8> out;
  std::copy_n(mac.begin(), out.size(), out.begin());
  return out;
}

// Feeds the associated data (header prefix, role, name) to a GCM context.
bool FeedAd(EVP_CIPHER_CTX* ctx, const uint8_t* header, std::string_view role, std::string_view name, bool encrypt) {
  uint8_t rl[4], nl[4];
  PutLE32(rl, static_cast<uint32_t>(role.size()));
  PutLE32(nl, static_cast<uint32_t>(name.size()));
  const std::span<const uint8_t> parts[] = {{header, kAdHeaderBytes}, {rl, 4}, Bytes(role), {nl, 4}, Bytes(name)};
  for (auto p : parts) {
    if (p.empty()) continue;
    int outl = 0;
    int ok = encrypt ? EVP_EncryptUpdate(ctx, nullptr, &outl, p.data(), static_cast<int>(p.size()))
                     : EVP_DecryptUpdate(ctx, nullptr, &outl, p.data(), static_cast<int>(p.size()));
    if (ok != 1) return false;
  }
  return true;
}

Status CipherFailed(std::string_view what) {
  ERR_clear_error();
  return Status::Error(EIO, std::string(what) + ": OpenSSL AES-256-GCM failed");
}

// The header checks every reader shares; returns L.
Result<size_t> CheckFrame(std::span<const uint8_t> box) {
  if (box.size() < kSealedOverhead)
    return Status::Error(EBADMSG, "truncated: " + std::to_string(box.size()) + " bytes, a sealed box has at least " +
                                      std::to_string(kSealedOverhead));
  if (std::memcmp(box.data(), kMagic, 4) != 0) return Status::Error(EBADMSG, "not a sealed box (bad magic)");
  if (box[4] != kVersion)
    return Status::Error(EBADMSG, "sealed box version " + std::to_string(box[4]) + " is not supported (only 1)");
  if (box[5] != 0 || box[6] != 0 || box[7] != 0) return Status::Error(EBADMSG, "damaged header (reserved bytes set)");
  const uint64_t len = GetLE32(box.data() + 8);
  const uint64_t want = len + kSealedOverhead;
  if (box.size() < want)
    return Status::Error(EBADMSG, "truncated: " + std::to_string(box.size()) + " bytes where the header says " +
                                      std::to_string(want));
  if (box.size() > want)
    return Status::Error(EBADMSG, "extended: " + std::to_string(box.size()) + " bytes where the header says " +
                                      std::to_string(want));
  return static_cast<size_t>(len);
}

// HMAC-SHA256(check, "amberfs sealed-box synthetic nonce v1", len32 role,
// role, len32 name, name, plaintext)[0..12), streamed (a blob is 64 KiB and
// more; HmacSha256 would copy it).
Status SyntheticNonce(const SecretKey& check, std::string_view role, std::string_view name,
                      std::initializer_list<std::span<const uint8_t>> plaintext, uint8_t* nonce) {
  static constexpr std::string_view kLabel = "amberfs sealed-box synthetic nonce v1";
  uint8_t rl[4], nl[4];
  PutLE32(rl, static_cast<uint32_t>(role.size()));
  PutLE32(nl, static_cast<uint32_t>(name.size()));
  MacCtx mac;
  bool ok = mac.Init(check) && mac.Update(Bytes(kLabel)) && mac.Update({rl, 4}) && mac.Update(Bytes(role)) &&
            mac.Update({nl, 4}) && mac.Update(Bytes(name));
  for (auto p : plaintext) ok = ok && mac.Update(p);
  Mac256 full{};
  ok = ok && mac.Final(&full);
  if (!ok) {
    ERR_clear_error();
    return Status::Error(EIO, "synthetic nonce: OpenSSL HMAC failed");
  }
  std::memcpy(nonce, full.data(), kNonceBytes);
  WipeBytes(full.data(), full.size());
  return Status::OK();
}

}  // namespace

class SealAccess {
 public:
  static const SecretKey& Aes(const SealKey& k) { return k.aes_; }
  static const SecretKey& Check(const SealKey& k) { return k.check_; }
  static void Set(SealKey& k, SecretKey aes, SecretKey check) {
    k.aes_ = std::move(aes);
    k.check_ = std::move(check);
    Mac256 id = HmacSha256(k.check_, {Bytes("amberfs sealed-box key id")});
    std::copy_n(id.begin(), k.key_id_.size(), k.key_id_.begin());
  }
};

Result<SealKey> SealKey::From(const SecretKey& key) {
  AMBER_ASSIGN_OR_RETURN(SecretKey aes, DeriveSubKey(key, "amberfs sealed-box aes v1"));
  AMBER_ASSIGN_OR_RETURN(SecretKey check, DeriveSubKey(key, "amberfs sealed-box check v1"));
  SealKey out;
  SealAccess::Set(out, std::move(aes), std::move(check));
  return out;
}

Status SealAppend(const SealKey& key, std::string_view role, std::string_view name,
                  std::initializer_list<std::span<const uint8_t>> plaintext, std::vector<uint8_t>* out,
                  SealNonce nonce) {
  AMBER_RETURN_IF_ERROR(CheckRole(role));
  size_t len = 0;
  for (auto p : plaintext) len += p.size();
  if (len > kMaxSealedPlain)
    return Status::Error(EINVAL, Describe(role, name) + ": " + std::to_string(len) + " bytes is over the box limit");
  const size_t start = out->size();
  out->resize(start + kSealedOverhead + len);
  uint8_t* h = out->data() + start;
  std::memcpy(h, kMagic, 4);
  h[4] = kVersion;
  h[5] = h[6] = h[7] = 0;
  PutLE32(h + 8, static_cast<uint32_t>(len));
  std::copy(key.key_id().begin(), key.key_id().end(), h + 12);
  auto binding = Binding(SealAccess::Check(key), role, name);
  std::copy(binding.begin(), binding.end(), h + 20);
  Status st = nonce == SealNonce::kRandom ? RandomBytes({h + kNonceAt, kNonceBytes})
                                          : SyntheticNonce(SealAccess::Check(key), role, name, plaintext, h + kNonceAt);
  if (!st.ok()) {
    out->resize(start);
    return st;
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int outl = 0;
  uint8_t* c = h + kSealedHeaderBytes;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, SealAccess::Aes(key).data(), h + kNonceAt) == 1 &&
            FeedAd(ctx.get(), h, role, name, true);
  for (auto p : plaintext) {
    if (!ok || p.empty()) continue;
    ok = EVP_EncryptUpdate(ctx.get(), c, &outl, p.data(), static_cast<int>(p.size())) == 1 &&
         static_cast<size_t>(outl) == p.size();
    c += p.size();
  }
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), c, &outl) == 1 && outl == 0 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kSealedTagBytes, c) == 1;
  if (!ok) {
    out->resize(start);
    return CipherFailed(Describe(role, name));
  }
  return Status::OK();
}

Result<std::vector<uint8_t>> Seal(const SealKey& key, std::string_view role, std::string_view name,
                                  std::span<const uint8_t> plaintext) {
  std::vector<uint8_t> out;
  AMBER_RETURN_IF_ERROR(SealAppend(key, role, name, {plaintext}, &out));
  return out;
}

bool LooksLikeSealedBox(std::span<const uint8_t> bytes) {
  return bytes.size() >= sizeof kMagic && std::memcmp(bytes.data(), kMagic, sizeof kMagic) == 0;
}

Result<size_t> SealedPlainSize(std::span<const uint8_t> box) { return CheckFrame(box); }

Result<SealKeyId> SealedKeyId(std::span<const uint8_t> box) {
  AMBER_RETURN_IF_ERROR(CheckFrame(box).status());
  SealKeyId id;
  std::copy_n(box.data() + 12, id.size(), id.begin());
  return id;
}

Status OpenInto(const SealKey& key, std::string_view role, std::string_view name, std::span<const uint8_t> box,
                std::span<uint8_t> out) {
  return OpenInto(key, role, name, box, {out});
}

Status OpenInto(const SealKey& key, std::string_view role, std::string_view name, std::span<const uint8_t> box,
                std::initializer_list<std::span<uint8_t>> out) {
  AMBER_RETURN_IF_ERROR(CheckRole(role));
  const std::string what = Describe(role, name);
  Result<size_t> len = CheckFrame(box);
  if (!len.ok()) return len.status().Annotate(what);
  size_t room = 0;
  for (auto p : out) room += p.size();
  if (room != *len) return Status::Error(EINVAL, what + ": output buffer is not the plaintext's size");
  auto wipe = [&] {
    for (auto p : out) WipeBytes(p.data(), p.size());
  };
  const uint8_t* h = box.data();
  if (CRYPTO_memcmp(h + 12, key.key_id().data(), key.key_id().size()) != 0)
    return Status::Error(EBADMSG, what + ": sealed under another key (or its key id was damaged)");
  auto binding = Binding(SealAccess::Check(key), role, name);
  if (CRYPTO_memcmp(h + 20, binding.data(), binding.size()) != 0)
    return Status::Error(EBADMSG, what + ": sealed for another name or role (swapped or replayed), or its binding was damaged");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int outl = 0;
  const uint8_t* c = h + kSealedHeaderBytes;
  uint8_t tag[kSealedTagBytes];
  std::memcpy(tag, c + *len, kSealedTagBytes);
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, SealAccess::Aes(key).data(), h + kNonceAt) == 1 &&
            FeedAd(ctx.get(), h, role, name, false);
  for (auto p : out) {  // GCM is a stream: each part comes out whole
    if (!ok || p.empty()) continue;
    ok = EVP_DecryptUpdate(ctx.get(), p.data(), &outl, c, static_cast<int>(p.size())) == 1 &&
         static_cast<size_t>(outl) == p.size();
    c += p.size();
  }
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kSealedTagBytes, tag) == 1;
  if (!ok) {
    wipe();
    return CipherFailed(what);
  }
  uint8_t fin[16];
  if (EVP_DecryptFinal_ex(ctx.get(), fin, &outl) != 1) {
    ERR_clear_error();
    wipe();  // decrypted but unauthenticated: never handed out
    return Status::Error(EBADMSG, what + ": damaged: authentication failed (a changed bit in the header, nonce, "
                                         "ciphertext or tag)");
  }
  return Status::OK();
}

Result<std::vector<uint8_t>> Open(const SealKey& key, std::string_view role, std::string_view name,
                                  std::span<const uint8_t> box) {
  Result<size_t> len = CheckFrame(box);
  if (!len.ok()) {
    AMBER_RETURN_IF_ERROR(CheckRole(role));
    return len.status().Annotate(Describe(role, name));
  }
  std::vector<uint8_t> out(*len);
  AMBER_RETURN_IF_ERROR(OpenInto(key, role, name, box, out));
  return out;
}

}  // namespace amberfs
