// Owning handles for the OpenSSL and zstd objects of src/crypto, so every
// context is freed on every path (an early error return included).
//
// Internal to src/crypto's .cc files: no other header includes it, so OpenSSL
// and zstd types stay out of the layer's interfaces (see DESIGN.md, style).
#pragma once

#include <openssl/evp.h>
#include <zstd.h>

#include <memory>

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

}  // namespace amberfs::crypto_internal
