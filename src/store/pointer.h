// Pointer: the SHA-256 of a blob's bytes, which is also the blob's key.
//
// The all-zero pointer is the null pointer: it names "no blob" (an all-zero
// chunk, an empty subtree) and is never stored. Hex form is 64 lowercase hex
// digits; FromHex is strict (exactly 64 chars of [0-9a-f]; uppercase, spaces,
// prefixes and other lengths are EINVAL), so a Pointer parsed from untrusted
// text is always safe to build a path from.
//
// Thread-safety: a value type.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "amberfs/status.h"

namespace amberfs {

class Pointer {
 public:
  static constexpr size_t kSize = 32;

  Pointer() = default;  // null
  explicit Pointer(const std::array<uint8_t, kSize>& bytes) : bytes_(bytes) {}

  // SHA-256 of data (OpenSSL EVP).
  static Pointer Of(std::span<const uint8_t> data);
  static Pointer Of(const void* data, size_t size) {
    return Of(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  }
  static Result<Pointer> FromHex(std::string_view hex);
  // From 32 raw bytes (an index node slot).
  static Pointer FromBytes(const uint8_t* bytes);

  static Pointer Null() { return Pointer(); }
  bool IsNull() const;
  std::string Hex() const;
  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }

  friend bool operator==(const Pointer& a, const Pointer& b) { return a.bytes_ == b.bytes_; }
  friend bool operator!=(const Pointer& a, const Pointer& b) { return !(a == b); }
  friend bool operator<(const Pointer& a, const Pointer& b) { return a.bytes_ < b.bytes_; }

 private:
  std::array<uint8_t, kSize> bytes_{};
};

// Incremental SHA-256 for data that arrives in pieces.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t size);
  Pointer Finish();  // may be called once

 private:
  void* ctx_;  // EVP_MD_CTX*, kept out of this header
};

}  // namespace amberfs

template <>
struct std::hash<amberfs::Pointer> {
  size_t operator()(const amberfs::Pointer& p) const noexcept {
    size_t h;
    static_assert(sizeof h <= amberfs::Pointer::kSize);
    __builtin_memcpy(&h, p.bytes().data(), sizeof h);  // already uniformly distributed
    return h;
  }
};
