// Secret material that wipes itself: SecretBytes (a passphrase, any length)
// and SecretKey (256 bits: a master key, a sub-key, a derived wrapping key).
//
// Both clear their bytes with OPENSSL_cleanse when destroyed or overwritten,
// so a key does not linger in freed heap or stack memory (a core dump, a
// later allocation). SecretBytes never grows in place (its size is fixed at
// construction), so no reallocation leaves an unwiped copy behind. Copies are
// explicit (Clone) so that every copy of a key is one the code chose to make.
//
// Thread-safety: value types; a const object may be read from many threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

namespace amberfs {

// Overwrites n bytes at p in a way the compiler cannot drop (OPENSSL_cleanse).
void WipeBytes(void* p, size_t n);

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size);
  SecretBytes(std::span<const uint8_t> bytes);  // NOLINT: copies bytes in
  ~SecretBytes();
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  SecretBytes Clone() const { return SecretBytes(span()); }
  // Keeps the first n bytes (n <= size()), wiping the rest.
  void Truncate(size_t n);

  uint8_t* data() { return data_.get(); }
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const uint8_t> span() const { return {data_.get(), size_}; }

 private:
  void Wipe();
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

class SecretKey {
 public:
  static constexpr size_t kSize = 32;

  SecretKey() { bytes_.fill(0); }
  explicit SecretKey(std::span<const uint8_t, kSize> bytes);
  ~SecretKey();
  SecretKey(SecretKey&& other) noexcept;
  SecretKey& operator=(SecretKey&& other) noexcept;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  SecretKey Clone() const { return SecretKey(std::span<const uint8_t, kSize>(bytes_)); }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  std::span<const uint8_t, kSize> span() const { return std::span<const uint8_t, kSize>(bytes_); }
  // Constant-time comparison (CRYPTO_memcmp): tests and key checks only.
  bool SameAs(const SecretKey& other) const;

 private:
  std::array<uint8_t, kSize> bytes_;
};

}  // namespace amberfs
