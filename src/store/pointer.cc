#include "store/pointer.h"

#include <openssl/evp.h>

#include <cstring>
#include <new>

namespace amberfs {

Pointer Pointer::Of(std::span<const uint8_t> data) {
  Sha256 sha;
  sha.Update(data.data(), data.size());
  return sha.Finish();
}

Pointer Pointer::FromBytes(const uint8_t* bytes) {
  std::array<uint8_t, kSize> raw;
  std::memcpy(raw.data(), bytes, kSize);
  return Pointer(raw);
}

bool Pointer::IsNull() const {
  for (uint8_t b : bytes_)
    if (b != 0) return false;
  return true;
}

std::string Pointer::Hex() const {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(2 * kSize, '0');
  for (size_t i = 0; i < kSize; ++i) {
    out[2 * i] = kDigits[bytes_[i] >> 4];
    out[2 * i + 1] = kDigits[bytes_[i] & 15];
  }
  return out;
}

Result<Pointer> Pointer::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kSize)
    return Status::Error(EINVAL, "pointer must be 64 hex digits, got " + std::to_string(hex.size()) + " characters");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::array<uint8_t, kSize> raw;
  for (size_t i = 0; i < kSize; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status::Error(EINVAL, "pointer has a character that is not lowercase hex");
    raw[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return Pointer(raw);
}

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) != 1)
    throw std::bad_alloc();  // only on allocation failure inside OpenSSL
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::Update(const void* data, size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size);
}

Pointer Sha256::Finish() {
  std::array<uint8_t, Pointer::kSize> raw;
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), raw.data(), &len);
  return Pointer(raw);
}

}  // namespace amberfs
