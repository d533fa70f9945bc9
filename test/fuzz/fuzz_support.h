// Shared pieces of the fuzz targets (test/fuzz/*_fuzz.cc, see README.md).
//
//   FUZZ_CHECK(cond, what)  a broken invariant: prints what and the condition
//                           and aborts, so libFuzzer keeps the input as a crash.
//   QuietLogs()             silences amberfs's log (a parser that logs every
//                           bad input would spend the run writing to stderr);
//                           FUZZ_LOG=1 in the environment keeps it.
//   ScratchDir              a directory in /dev/shm (else /tmp) for targets
//                           that parse files: Write() replaces a file, Reset()
//                           empties the directory; removed at exit.
//   FlaggedInput            runs a target whose input is a flags byte and
//                           either raw bytes or a FuzzedDataProvider program.
//   MemStore                a Store in memory, for code that reads a slow
//                           store (index trees, lock markers). Like every
//                           Store, Get verifies the SHA-256 of what it returns.
//
// Header-only; the targets are single-threaded (one input at a time).
#pragma once

#include <fcntl.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/log.h"
#include "store/store.h"
#include "support/temp_dir.h"

#define FUZZ_CHECK(cond, what)                                                                  \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n  (%s)\n", __FILE__, __LINE__, #cond, \
                   std::string(what).c_str());                                                   \
      std::abort();                                                                             \
    }                                                                                           \
  } while (0)

namespace amberfs::fuzz {

inline void QuietLogs() {
  const char* keep = std::getenv("FUZZ_LOG");
  // One below kError: no message passes (LogLevel is an int-backed enum class).
  if (!keep || std::string_view(keep) != "1") SetLogLevel(static_cast<LogLevel>(-1));
}

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsText(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

class ScratchDir {
 public:
  ScratchDir() {
    // The pid in the name lets run.sh remove what a crashed run left behind.
    const std::string tag = "amberfs-fuzz-" + std::to_string(::getpid());
    for (const char* base : {"/dev/shm", "/tmp"}) {
      dir_ = std::make_unique<testing::TempDir>(tag.c_str(), base);
      if (!dir_->path().empty()) break;
    }
    FUZZ_CHECK(!path().empty(), "cannot create a scratch directory");
  }

  const std::string& path() const { return dir_->path(); }
  std::string operator/(std::string_view name) const { return path() + "/" + std::string(name); }

  void Reset() const {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(path(), ec))
      std::filesystem::remove_all(entry.path(), ec);
  }

  void Write(std::string_view name, std::span<const uint8_t> bytes) const {
    const std::string file = *this / name;
    int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0, "cannot create " + file);
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      FUZZ_CHECK(n > 0, "cannot write " + file);
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  }

 private:
  std::unique_ptr<testing::TempDir> dir_;
};

// The input shape most targets share: a flags byte, then the rest. With
// build_bit set the rest feeds a FuzzedDataProvider for build(in); else
// raw(flags, rest) gets it. Empty inputs are skipped.
template <typename Build, typename Raw>
int FlaggedInput(const uint8_t* data, size_t size, uint8_t build_bit, Build&& build, Raw&& raw) {
  QuietLogs();
  if (size == 0) return 0;
  if (data[0] & build_bit) {
    FuzzedDataProvider in(data + 1, size - 1);
    build(in);
  } else {
    raw(data[0], std::span<const uint8_t>(data + 1, size - 1));
  }
  return 0;
}

class MemStore : public Store {
 public:
  std::string Describe() const override { return "mem://fuzz"; }
  Status Put(const Pointer& key, std::span<const uint8_t> data) override {
    if (key.IsNull() || Pointer::Of(data) != key) return Status::Error(EINVAL, "put: key is not the data's SHA-256");
    blobs_[key].assign(data.begin(), data.end());
    return Status::OK();
  }
  // Stores bytes under their own hash whatever they are (the test's way in).
  Pointer Add(std::span<const uint8_t> data) {
    Pointer key = Pointer::Of(data);
    blobs_[key].assign(data.begin(), data.end());
    return key;
  }
  Result<std::vector<uint8_t>> Get(const Pointer& key) override {
    auto it = blobs_.find(key);
    if (it == blobs_.end()) return Status::Error(ENOENT, "blob " + key.Hex() + " is missing");
    return it->second;
  }
  Result<bool> Contains(const Pointer& key) override { return blobs_.count(key) != 0; }
  Status Delete(const Pointer& key) override {
    blobs_.erase(key);
    return Status::OK();
  }
  Status List(const std::function<Status(const Pointer&)>& fn) override {
    for (const auto& [key, data] : blobs_) AMBER_RETURN_IF_ERROR(fn(key));
    return Status::OK();
  }
  Status PutRef(std::string_view name, std::span<const uint8_t> data) override {
    AMBER_RETURN_IF_ERROR(ValidateRefName(name));
    refs_[std::string(name)].assign(data.begin(), data.end());
    return Status::OK();
  }
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override {
    AMBER_RETURN_IF_ERROR(ValidateRefName(name));
    auto it = refs_.find(std::string(name));
    if (it == refs_.end()) return Status::Error(ENOENT, "ref " + std::string(name) + " is missing");
    return it->second;
  }
  Status DeleteRef(std::string_view name) override {
    AMBER_RETURN_IF_ERROR(ValidateRefName(name));
    refs_.erase(std::string(name));
    return Status::OK();
  }
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override {
    AMBER_RETURN_IF_ERROR(ValidateRefPrefix(prefix));
    std::vector<std::string> out;
    for (const auto& [name, data] : refs_)
      if (name.starts_with(prefix)) out.push_back(name);
    return out;
  }
  size_t blob_count() const { return blobs_.size(); }

 private:
  std::map<Pointer, std::vector<uint8_t>> blobs_;
  std::map<std::string, std::vector<uint8_t>> refs_;
};

}  // namespace amberfs::fuzz
