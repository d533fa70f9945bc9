// StderrCapture: while alive, what the process writes to stderr (the log)
// goes to a temp file instead; Text() returns it so far, Lines(needle) counts
// the lines containing needle. Restores stderr on destruction.
//
// Not thread-safe to create or destroy while other threads log (they may
// write to either file); background threads may log while it is alive.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace amberfs::testing {

class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    char path[] = "/tmp/stderr-capture-XXXXXX";
    fd_ = ::mkstemp(path);
    path_ = path;
    saved_ = ::dup(STDERR_FILENO);
    if (fd_ >= 0 && saved_ >= 0) ::dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    if (saved_ >= 0) {
      ::dup2(saved_, STDERR_FILENO);
      ::close(saved_);
    }
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;

  std::string Text() const {
    std::ifstream in(path_);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }
  int Lines(const std::string& needle) const {
    std::istringstream in(Text());
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
    return n;
  }

 private:
  int fd_ = -1, saved_ = -1;
  std::string path_;
};

}  // namespace amberfs::testing
