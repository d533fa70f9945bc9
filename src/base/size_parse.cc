#include "amberfs/size_parse.h"

#include <charconv>

namespace amberfs {
namespace {

// Parses the leading decimal digits of `text` into *value; the rest is left in
// *rest. Fails on no digits or overflow.
Status ParseLeadingNumber(std::string_view text, std::string_view what, uint64_t* value,
                          std::string_view* rest) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (begin == end || *begin < '0' || *begin > '9') {
    return Status::Error(EINVAL, std::string(what) + " '" + std::string(text) +
                                     "' does not start with a number");
  }
  auto [ptr, ec] = std::from_chars(begin, end, *value);
  if (ec == std::errc::result_out_of_range) {
    return Status::Error(EINVAL, std::string(what) + " '" + std::string(text) + "' is too large");
  }
  *rest = text.substr(static_cast<size_t>(ptr - begin));
  return Status::OK();
}

}  // namespace

Result<uint64_t> ParseSize(std::string_view text) {
  uint64_t value = 0;
  std::string_view rest;
  AMBER_RETURN_IF_ERROR(ParseLeadingNumber(text, "size", &value, &rest));
  // A fraction ("1.5G"): its digits as a numerator over 10^digits, kept exact.
  uint64_t fraction = 0, denominator = 1;
  if (!rest.empty() && rest[0] == '.') {
    size_t n = 1;
    for (; n < rest.size() && rest[n] >= '0' && rest[n] <= '9'; ++n) {
      if (n > 18) return Status::Error(EINVAL, "size '" + std::string(text) + "': too many decimals");
      fraction = fraction * 10 + static_cast<uint64_t>(rest[n] - '0');
      denominator *= 10;
    }
    if (n == 1) return Status::Error(EINVAL, "size '" + std::string(text) + "': no digits after the point");
    rest = rest.substr(n);
  }
  std::string_view suffix = rest;
  unsigned shift = 0;
  if (!suffix.empty()) {
    switch (suffix[0]) {
      case 'K': case 'k': shift = 10; break;
      case 'M': case 'm': shift = 20; break;
      case 'G': case 'g': shift = 30; break;
      case 'T': case 't': shift = 40; break;
      default:
        return Status::Error(EINVAL, "size '" + std::string(text) +
                                         "': unknown suffix (use K, M, G or T)");
    }
    std::string_view unit = suffix.substr(1);
    if (!unit.empty() && unit != "B" && unit != "iB") {
      return Status::Error(EINVAL, "size '" + std::string(text) + "': trailing garbage after the suffix");
    }
  }
  const unsigned __int128 unit = static_cast<unsigned __int128>(1) << shift;
  const unsigned __int128 part = fraction * unit;
  if (part % denominator != 0) {
    return Status::Error(EINVAL, "size '" + std::string(text) + "' is not a whole number of bytes");
  }
  const unsigned __int128 bytes = value * unit + part / denominator;
  if (bytes == 0) return Status::Error(EINVAL, "size '" + std::string(text) + "' is zero");
  if (bytes > UINT64_MAX) return Status::Error(EINVAL, "size '" + std::string(text) + "' is too large");
  return static_cast<uint64_t>(bytes);
}

Result<std::chrono::microseconds> ParseDuration(std::string_view text) {
  uint64_t value = 0;
  std::string_view unit;
  AMBER_RETURN_IF_ERROR(ParseLeadingNumber(text, "duration", &value, &unit));
  uint64_t scale = 1;
  if (unit == "" || unit == "us") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1000;
  } else if (unit == "s") {
    scale = 1000000;
  } else {
    return Status::Error(EINVAL, "duration '" + std::string(text) + "': unknown unit (use us, ms or s)");
  }
  // Far beyond any sensible delay; keeps the arithmetic inside int64.
  constexpr uint64_t kMaxMicros = 3600ull * 1000000;
  if (value > kMaxMicros / scale) {
    return Status::Error(EINVAL, "duration '" + std::string(text) + "' is longer than an hour");
  }
  return std::chrono::microseconds(static_cast<int64_t>(value * scale));
}

std::string FormatSize(uint64_t bytes) {
  static constexpr struct { unsigned shift; char suffix; } kUnits[] = {
      {40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'K'}};
  if (bytes != 0) {
    for (const auto& u : kUnits) {
      if (bytes % (1ull << u.shift) == 0) return std::to_string(bytes >> u.shift) + u.suffix;
    }
  }
  return std::to_string(bytes);
}

}  // namespace amberfs
