// BuildPack: a sealed pack of test blobs, written by PackWriter under a
// directory and read back whole (its name, entries, bytes and blobs), for
// tests that store packs as objects. Header-only.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "base/durable_file.h"
#include "store/pack_file.h"
#include "store/pack_format.h"
#include "support/store_test_util.h"

namespace amberfs::testing {

// A sealed pack's name, entries and bytes, with the blobs it holds.
struct BuiltPack {
  SealedPack sealed;
  std::vector<uint8_t> bytes;
  std::vector<std::vector<uint8_t>> blobs;
};

// A pack of `count` blobs of assorted sizes (seeded by first), written by
// PackWriter under dir and read back whole.
inline BuiltPack BuildPack(const std::string& dir, int first, int count) {
  BuiltPack out;
  auto writer = PackWriter::Create(dir);
  REQUIRE(writer.ok());
  for (int i = first; i < first + count; ++i) {
    out.blobs.push_back(TestBlob(i, 1000 + 3000 * static_cast<size_t>(i % 5)));
    REQUIRE((*writer)->Append(Pointer::Of(out.blobs.back()), out.blobs.back()).ok());
  }
  auto sealed = (*writer)->Seal();
  REQUIRE(sealed.ok());
  out.sealed = *sealed;
  auto bytes = ReadSmallFile(dir + "/" + sealed->name.Hex(), kMaxPackBytes);
  REQUIRE(bytes.ok());
  out.bytes = *bytes;
  return out;
}

}  // namespace amberfs::testing
