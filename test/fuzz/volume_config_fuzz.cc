// Fuzz target: the volume config file (VolumeConfig::Parse, Serialize,
// Validate), VOLDIR/config, the first file every tool reads.
//
// Input: one flags byte, then the text. Bit 0 treats the text as the body
// and appends its correct checksum line, so the fuzzer gets past the
// checksum to the keys; bit 1 instead builds a config from the bytes and
// round-trips it.
//
// Invariants: errors are EINVAL; a parsed config validates and serializes to
// text that parses to the same config; Parse(Serialize(c)) == c for every
// config that validates.
#include <fuzzer/FuzzedDataProvider.h>
#include <xxhash.h>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <string>

#include "amberfs/volume_config.h"
#include "fuzz/fuzz_support.h"

using namespace amberfs;

namespace {

bool Same(const VolumeConfig& a, const VolumeConfig& b) {
  return a.uuid == b.uuid && a.size == b.size && a.block_size == b.block_size && a.chunk_size == b.chunk_size &&
         a.image == b.image && a.slow_url == b.slow_url;
}

void CheckRoundTrip(const VolumeConfig& c) {
  const std::string text = c.Serialize();
  Result<VolumeConfig> back = VolumeConfig::Parse(text);
  FUZZ_CHECK(back.ok(), "a valid config does not parse back: " + back.status().ToString());
  FUZZ_CHECK(Same(*back, c), "Parse(Serialize(c)) != c");
  FUZZ_CHECK(back->Serialize() == text, "serializing is not stable");
}

void Build(FuzzedDataProvider& in) {
  VolumeConfig c;
  static const char* kUuids[] = {"8c1f0e2a-3b4c-4d5e-8f60-718293a4b5c6", "00000000-0000-0000-0000-000000000000"};
  c.uuid = in.ConsumeBool() ? kUuids[in.ConsumeIntegralInRange(0, 1)] : in.ConsumeRandomLengthString(40);
  c.block_size = in.ConsumeBool() ? 1u << in.ConsumeIntegralInRange(8, 17) : in.ConsumeIntegral<uint32_t>();
  c.chunk_size = in.ConsumeBool() ? 1u << in.ConsumeIntegralInRange(8, 27) : in.ConsumeIntegral<uint32_t>();
  c.size = in.ConsumeBool() ? uint64_t{c.chunk_size} * in.ConsumeIntegralInRange<uint64_t>(0, 1ull << 30)
                            : in.ConsumeIntegral<uint64_t>();
  c.image = in.ConsumeRandomLengthString(64);
  c.slow_url = in.ConsumeRemainingBytesAsString();
  Status valid = c.Validate();
  if (!valid.ok()) {
    FUZZ_CHECK(valid.code() == EINVAL, "Validate: " + valid.ToString());
    return;
  }
  CheckRoundTrip(c);
}

void ParseText(uint8_t flags, std::span<const uint8_t> input) {
  std::string text(fuzz::AsText(input));
  if (flags & 1) {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016" PRIx64, static_cast<uint64_t>(XXH3_64bits(text.data(), text.size())));
    text += "checksum xxh3 " + std::string(hex) + "\n";
  }
  Result<VolumeConfig> c = VolumeConfig::Parse(text);
  if (!c.ok()) {
    FUZZ_CHECK(c.status().code() == EINVAL, "a config error is not EINVAL: " + c.status().ToString());
    return;
  }
  FUZZ_CHECK(c->Validate().ok(), "a parsed config does not validate");
  CheckRoundTrip(*c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 2, Build, ParseText);
}
