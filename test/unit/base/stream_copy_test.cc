// StreamCopy (base/stream_copy.h): the bytes of memcpy, for every size and
// alignment of source and destination around its edges (below its
// threshold, the unaligned head, the 64-byte body, the tail), and not a
// byte written outside the destination.
#include "base/stream_copy.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace amberfs {
namespace {

TEST_CASE("StreamCopy copies exactly the bytes memcpy does, at any alignment, and nothing around them") {
  constexpr size_t kGuard = 64;
  std::vector<size_t> sizes = {0, 1, 15, 16, 63, 64, 65, kStreamCopyMin - 1, kStreamCopyMin, kStreamCopyMin + 1,
                               kStreamCopyMin + 63, 65536, 65536 + 16, (size_t{1} << 20) + 7};
  std::vector<uint8_t> src((size_t{1} << 20) + 64 + 32);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>((i * 2654435761u) >> 11);
  std::vector<uint8_t> dst(src.size() + 2 * kGuard);
  for (size_t n : sizes) {
    for (size_t src_off : {0, 1, 8, 15, 16, 33}) {
      for (size_t dst_off : {0, 1, 7, 16, 31, 48}) {
        CAPTURE(n);
        CAPTURE(src_off);
        CAPTURE(dst_off);
        std::fill(dst.begin(), dst.end(), 0x5a);
        uint8_t* to = dst.data() + kGuard + dst_off;
        StreamCopy(to, src.data() + src_off, n);
        REQUIRE(std::equal(to, to + n, src.begin() + static_cast<std::ptrdiff_t>(src_off)));
        auto untouched = [](const uint8_t* from, const uint8_t* end) {
          return std::all_of(from, end, [](uint8_t b) { return b == 0x5a; });
        };
        REQUIRE(untouched(dst.data(), to));
        REQUIRE(untouched(to + n, dst.data() + dst.size()));
      }
    }
  }
}

}  // namespace
}  // namespace amberfs
