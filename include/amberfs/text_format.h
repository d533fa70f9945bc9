// Text for people and for JSON, shared by the programs' reports (fsck.amberfs,
// amberctl).
//
// HumanBytes: binary units, "512 bytes", "1 byte", "1.5 MiB", "64 MiB" (one
// decimal below 10 when the value is not whole).
// JsonString: a JSON string literal, quotes included; quote, backslash and
// control characters escaped, other bytes (UTF-8) as they are.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace amberfs {

std::string HumanBytes(uint64_t bytes);
std::string JsonString(std::string_view s);

}  // namespace amberfs
