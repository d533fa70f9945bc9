// TempDir: a scratch directory under /tmp (or the given base) removed
// (recursively) on destruction. path() is empty if it could not be made.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace amberfs::testing {

class TempDir {
 public:
  explicit TempDir(const char* tag = "blobs", const char* base = "/tmp") {
    std::string templ = std::string(base) + "/" + tag + "-XXXXXX";
    char* p = ::mkdtemp(templ.data());
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

}  // namespace amberfs::testing
