#include "crypto/secret.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <utility>

namespace amberfs {

void WipeBytes(void* p, size_t n) {
  if (p != nullptr && n != 0) OPENSSL_cleanse(p, n);
}

SecretBytes::SecretBytes(size_t size) : data_(size ? new uint8_t[size]() : nullptr), size_(size) {}

SecretBytes::SecretBytes(std::span<const uint8_t> bytes) : SecretBytes(bytes.size()) {
  std::copy(bytes.begin(), bytes.end(), data_.get());
}

SecretBytes::~SecretBytes() { Wipe(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SecretBytes::Truncate(size_t n) {
  if (n >= size_) return;
  WipeBytes(data_.get() + n, size_ - n);
  size_ = n;  // the buffer keeps its capacity; Wipe clears only size_ bytes, the rest is already wiped
}

void SecretBytes::Wipe() {
  WipeBytes(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

SecretKey::SecretKey(std::span<const uint8_t, kSize> bytes) { std::copy(bytes.begin(), bytes.end(), bytes_.begin()); }

SecretKey::~SecretKey() { WipeBytes(bytes_.data(), kSize); }

SecretKey::SecretKey(SecretKey&& other) noexcept : bytes_(other.bytes_) { WipeBytes(other.bytes_.data(), kSize); }

SecretKey& SecretKey::operator=(SecretKey&& other) noexcept {
  if (this != &other) {
    bytes_ = other.bytes_;
    WipeBytes(other.bytes_.data(), kSize);
  }
  return *this;
}

bool SecretKey::SameAs(const SecretKey& other) const { return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), kSize) == 0; }

}  // namespace amberfs
