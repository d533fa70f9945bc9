// Helpers the bench programs share: Die prints "<program>: <what>" on stderr
// and exits 1; Must unwraps a Result (or checks a Status) or dies saying what
// failed. A program names itself first: bench::SetProgramName("x_bench").
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "amberfs/status.h"

namespace amberfs::bench {

inline std::string& ProgramName() {
  static std::string name = "bench";
  return name;
}
inline void SetProgramName(const char* name) { ProgramName() = name; }

[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", ProgramName().c_str(), what.c_str());
  std::exit(1);
}

template <typename T>
T Must(Result<T> r, const char* what) {
  if (!r.ok()) Die(std::string(what) + ": " + r.status().ToString());
  return std::move(r).value();
}

inline void Must(const Status& st, const char* what) {
  if (!st.ok()) Die(std::string(what) + ": " + st.ToString());
}

}  // namespace amberfs::bench
