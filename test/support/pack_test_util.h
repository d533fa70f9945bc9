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

// A pack of `blobs` (in that order, entry i with flags[i] if given),
// written by PackWriter under dir (its table sealed by `tables` if given)
// and read back whole.
inline BuiltPack BuildPackOf(const std::string& dir, std::vector<std::vector<uint8_t>> blobs,
                             const std::vector<uint32_t>& flags = {},
                             std::shared_ptr<const PackTableCodec> tables = nullptr) {
  BuiltPack out;
  PackWriterOptions options;
  options.tables = std::move(tables);
  auto writer = PackWriter::Create(dir, options);
  REQUIRE(writer.ok());
  for (size_t i = 0; i < blobs.size(); ++i)
    REQUIRE((*writer)->Append(Pointer::Of(blobs[i]), blobs[i], flags.empty() ? 0 : flags[i]).ok());
  auto sealed = (*writer)->Seal();
  REQUIRE(sealed.ok());
  out.sealed = *sealed;
  auto bytes = ReadSmallFile(dir + "/" + sealed->name.Hex(), kMaxPackBytes);
  REQUIRE(bytes.ok());
  out.bytes = *bytes;
  out.blobs = std::move(blobs);
  return out;
}

// A pack of `count` blobs of assorted sizes (seeded by first): BuildPackOf.
inline BuiltPack BuildPack(const std::string& dir, int first, int count) {
  std::vector<std::vector<uint8_t>> blobs;
  for (int i = first; i < first + count; ++i) blobs.push_back(TestBlob(i, 1000 + 3000 * static_cast<size_t>(i % 5)));
  return BuildPackOf(dir, std::move(blobs));
}

}  // namespace amberfs::testing
