// Helpers for unit tests that open whole volumes (amberfs/volume.h): a small
// cache, plain I/O, and a REQUIRE that names the error. Header-only.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "amberfs/volume.h"
#include "amberfs/volume_create.h"

namespace amberfs::testing {

// A fresh volume of `size` bytes with the default geometry and slow store.
inline void CreateTestVolume(const std::string& voldir, uint64_t size) {
  CreateVolumeOptions create;
  create.voldir = voldir;
  create.size = size;
  Result<VolumeConfig> created = CreateVolume(create);
  REQUIRE_MESSAGE(created.ok(), created.status().ToString());
}

inline std::unique_ptr<Volume> OpenTestVolume(const std::string& voldir, bool read_only = false) {
  VolumeOptions o;
  o.cache_bytes = 1 << 20;
  o.io = IoBackend::kPlain;
  o.read_only = read_only;
  Result<std::unique_ptr<Volume>> v = Volume::Open(voldir, o);
  REQUIRE_MESSAGE(v.ok(), v.status().ToString());
  return std::move(v).value();
}

// n bytes of a pattern that differs with the seed.
inline std::vector<uint8_t> PatternBytes(uint8_t seed, size_t n) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

}  // namespace amberfs::testing
