// The version every amberfs program prints for --version, and the commit it
// was built from (for the build-info metric).
#pragma once

namespace amberfs {
inline constexpr const char* kVersion = "0.1.0";
// The git commit of the build ("unknown" when built outside a git checkout).
const char* BuildCommit();
}  // namespace amberfs
