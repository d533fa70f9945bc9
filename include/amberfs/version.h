// The version every amberfs program prints for --version.
#pragma once

namespace amberfs {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace amberfs
