#include "crypto/kdf.h"

#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <new>
#include <string>

#include "crypto/ossl_handles.h"

namespace amberfs {

using crypto_internal::PkeyCtx;

namespace {

Status OpensslError(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return Status::Error(EIO, std::string(what) + ": OpenSSL: " + buf);
}

}  // namespace

ScryptParams DefaultScryptParams() { return ScryptParams{15, 8, 1}; }

Status CheckScryptParams(const ScryptParams& params) {
  const std::string got = "scrypt N=2^" + std::to_string(params.log2_n) + " r=" + std::to_string(params.r) +
                          " p=" + std::to_string(params.p);
  if (params.log2_n < 10 || params.log2_n > 20) return Status::Error(EINVAL, got + ": log2(N) must be 10..20");
  if (params.r < 1 || params.r > 32) return Status::Error(EINVAL, got + ": r must be 1..32");
  if (params.p < 1 || params.p > 16) return Status::Error(EINVAL, got + ": p must be 1..16");
  const uint64_t n = 1ull << params.log2_n;
  if (128 * n * params.r > kScryptMaxMemory)
    return Status::Error(EINVAL, got + ": needs over " + std::to_string(kScryptMaxMemory >> 20) + " MiB of memory");
  if (n * params.r * params.p > kScryptMaxWork) return Status::Error(EINVAL, got + ": N*r*p over 2^24 (too slow)");
  return Status::OK();
}

Result<SecretKey> DeriveScrypt(std::span<const uint8_t> passphrase, std::span<const uint8_t> salt,
                               const ScryptParams& params) {
  AMBER_RETURN_IF_ERROR(CheckScryptParams(params));
  SecretKey out;
  // maxmem: what the checked parameters need plus p blocks of 128*r, so
  // OpenSSL's own (32 MiB) default never refuses a parameter set we accept.
  const uint64_t n = 1ull << params.log2_n;
  const uint64_t maxmem = 128 * n * params.r + 128ull * params.r * params.p + (1 << 20);
  if (EVP_PBE_scrypt(reinterpret_cast<const char*>(passphrase.data()), passphrase.size(), salt.data(), salt.size(), n,
                     params.r, params.p, maxmem, out.data(), SecretKey::kSize) != 1)
    return OpensslError("scrypt");
  return out;
}

Result<SecretKey> DeriveSubKey(const SecretKey& key, std::string_view info) {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  SecretKey out;
  size_t len = SecretKey::kSize;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), key.data(), SecretKey::kSize) != 1 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), reinterpret_cast<const unsigned char*>(info.data()),
                                  static_cast<int>(info.size())) != 1 ||
      EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1 || len != SecretKey::kSize)
    return OpensslError("HKDF");
  return out;
}

Mac256 HmacSha256(const SecretKey& key, std::initializer_list<std::span<const uint8_t>> parts) {
  // EVP_MAC would need a fetched algorithm and two more handles; the one-shot
  // HMAC() over a joined buffer is enough for the short inputs we MAC.
  size_t total = 0;
  for (auto p : parts) total += p.size();
  SecretBytes joined(total);  // may hold key-derived bytes (a name's context): wiped
  size_t at = 0;
  for (auto p : parts) {
    std::copy(p.begin(), p.end(), joined.data() + at);
    at += p.size();
  }
  Mac256 mac{};
  unsigned int len = 0;
  static const unsigned char kNothing = 0;
  const unsigned char* data = joined.size() ? joined.data() : &kNothing;
  if (HMAC(EVP_sha256(), key.data(), SecretKey::kSize, data, joined.size(), mac.data(), &len) == nullptr ||
      len != mac.size())
    throw std::bad_alloc();  // only on allocation failure inside OpenSSL, as Sha256 does
  return mac;
}

Status RandomBytes(std::span<uint8_t> out) {
  if (out.empty()) return Status::OK();
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) return OpensslError("RAND_bytes");
  return Status::OK();
}

}  // namespace amberfs
