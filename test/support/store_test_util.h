// Helpers for the store layer's file-level tests (packs, the blob index):
// deterministic blob bytes, a directory's entries, one byte flipped in a file.
// Header-only.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace amberfs::testing {

// size bytes of an xorshift stream seeded by seed: distinct blobs for distinct seeds.
inline std::vector<uint8_t> TestBlob(int seed, size_t size) {
  std::vector<uint8_t> b(size);
  uint32_t x = 2654435761u * static_cast<uint32_t>(seed + 1);
  for (auto& byte : b) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    byte = static_cast<uint8_t>(x);
  }
  return b;
}

// The names in dir, sorted.
inline std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// XORs the byte at offset of path with mask (damage on purpose); false if it could not.
inline bool FlipByte(const std::string& path, off_t offset, uint8_t mask = 0x40) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  uint8_t b = 0;
  bool ok = ::pread(fd, &b, 1, offset) == 1;
  b ^= mask;
  ok = ok && ::pwrite(fd, &b, 1, offset) == 1;
  ::close(fd);
  return ok;
}

}  // namespace amberfs::testing
