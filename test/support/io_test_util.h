// Helpers shared by the batch I/O and device tests: a scratch directory,
// patterned data, and both backends to run a case against.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "io/batch_io.h"
#include "base/unique_fd.h"

namespace amberfs::testing {

// mkdtemp under /tmp, removed with its contents on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const char* tag) {
    std::string tmpl = std::string("/tmp/io-") + tag + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::perror("mkdtemp");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline UniqueFd OpenFile(const std::string& path, int flags = O_RDWR | O_CREAT) {
  return UniqueFd(::open(path.c_str(), flags | O_CLOEXEC, 0644));
}

// Deterministic bytes that differ by seed and by position.
inline std::vector<uint8_t> Pattern(size_t len, uint32_t seed) {
  std::vector<uint8_t> out(len);
  std::mt19937 rng(seed);
  for (auto& b : out) b = static_cast<uint8_t>(rng() | 1);  // never zero, so holes show
  return out;
}

struct NamedIO {
  std::string label;
  std::unique_ptr<BatchIO> io;
};

// The plain backend, and the io_uring one when it can be set up here (a SKIP
// line says so when it cannot).
inline std::vector<NamedIO> BothBackends(unsigned queue_depth = 64) {
  std::vector<NamedIO> out;
  out.push_back({"plain", OpenPlainIO()});
  Result<std::unique_ptr<BatchIO>> uring = OpenUringIO(queue_depth);
  if (uring.ok()) {
    out.push_back({"io_uring", std::move(uring).value()});
  } else {
    std::printf("SKIP: io_uring backend cases: %s\n", uring.status().ToString().c_str());
  }
  return out;
}

}  // namespace amberfs::testing
