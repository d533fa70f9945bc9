// Size and duration parsing for the command line, mount options and config.
//
// ParseSize accepts a decimal number with an optional binary suffix:
// K, M, G, T (either case), each optionally followed by "iB" or "B"
// ("64K", "64k", "64KiB", "1G"). The number may have a fraction when the
// result is a whole number of bytes ("1.5G", "0.5K"; not "1.5" nor
// "0.0001K"). Nothing else is allowed: no sign, no spaces, no exponent, no
// empty string. Zero and values that overflow 64 bits are rejected. Every
// error is EINVAL with a message naming the text. Every program and mount
// option that takes a size uses it.
//
// ParseDuration accepts a decimal number with an optional unit "us", "ms" or
// "s"; a bare number is microseconds. Zero is allowed (it means "none").
//
// FormatSize renders bytes with the largest binary suffix that divides them
// exactly ("64K", "1G", "1000"), so FormatSize's output parses back to the
// same number.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "amberfs/status.h"

namespace amberfs {

Result<uint64_t> ParseSize(std::string_view text);
Result<std::chrono::microseconds> ParseDuration(std::string_view text);
std::string FormatSize(uint64_t bytes);

inline bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

}  // namespace amberfs
