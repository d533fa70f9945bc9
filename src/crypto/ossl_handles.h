// Owning handles for the OpenSSL and zstd objects of src/crypto, so every
// context is freed on every path (an early error return included).
//
// Internal to src/crypto's .cc files: no other header includes it, so OpenSSL
// and zstd types stay out of the layer's interfaces (see DESIGN.md, style).
#pragma once

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <zstd.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "crypto/secret.h"

namespace amberfs::crypto_internal {

struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }  // also cleanses the expanded key
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct ZstdCctxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct ZstdDctxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using ZstdCctx = std::unique_ptr<ZSTD_CCtx, ZstdCctxFree>;
using ZstdDctx = std::unique_ptr<ZSTD_DCtx, ZstdDctxFree>;

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};

// A streaming HMAC-SHA256 (EVP_MAC): for MACs over large inputs, which the
// one-shot HmacSha256 of kdf.h would first copy into one buffer. Each call
// returns false if OpenSSL fails; Final may be called once.
class MacCtx {
 public:
  bool Init(const SecretKey& key) {
    static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);  // shared, never freed
    if (hmac == nullptr) return false;
    ctx_.reset(EVP_MAC_CTX_new(hmac));
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
    return ctx_ && EVP_MAC_init(ctx_.get(), key.data(), SecretKey::kSize, params) == 1;
  }
  bool Update(std::span<const uint8_t> bytes) {
    return bytes.empty() || EVP_MAC_update(ctx_.get(), bytes.data(), bytes.size()) == 1;
  }
  bool Final(std::array<uint8_t, 32>* out) {
    size_t len = 0;
    return EVP_MAC_final(ctx_.get(), out->data(), &len, out->size()) == 1 && len == out->size();
  }

 private:
  std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx_;
};

}  // namespace amberfs::crypto_internal
