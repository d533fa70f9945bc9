// One ctl command, the way docs/FORMATS.md ("ctl protocol") says: open
// MNT/ctl, one write(2) of the command, then read(2) the reply the mount kept
// for this open file. A failed write still leaves the reply
// ("error: <command>: <message>"), which is the text to show; the errno is
// the fallback when there is none.
//
// With a timeout the exchange runs in a child process and the caller gives up
// waiting after it; the command goes on in the daemon (see SendCtl).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "amberfs/status.h"
#include "amberctl_util.h"

namespace amberctl {

struct CtlReply {
  int err = 0;       // 0: the command succeeded
  std::string text;  // the reply without "error: " and the final newline
};

inline std::string CtlOpenError(const std::string& mnt, int err) {
  const std::string why = std::strerror(err);
  if (err == ENOTCONN) {
    return mnt + ": the amberfs daemon is gone (" + why + "); clear the dead mount with: fusermount3 -u " + mnt;
  }
  if (err == EROFS) {
    return mnt + " is mounted read-only, so its ctl takes no commands; snapshot, delete, rollback, gc, drain and "
                 "flush need a read-write mount";
  }
  if (err == EACCES) return mnt + "/ctl: " + why + " (ctl is writable by the mount's owner only; try as root)";
  return "open " + mnt + "/ctl: " + why;
}

inline amberfs::Result<CtlReply> CtlExchange(const std::string& mnt, const std::string& command) {
  const std::string path = mnt + "/ctl";
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return amberfs::Status::Error(errno, CtlOpenError(mnt, errno));
  CtlReply reply;
  const std::string line = command + "\n";
  ssize_t n;
  do {
    n = ::write(fd.get(), line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) reply.err = errno;
  // read(2) goes on from where the write left the file position: the
  // reply's first byte, then the rest (FORMATS.md: offsets below that
  // position restart the reply, so pread loops would repeat it).
  char buf[4096];
  for (;;) {
    ssize_t got = ::read(fd.get(), buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    reply.text.append(buf, static_cast<size_t>(got));
  }
  while (!reply.text.empty() && reply.text.back() == '\n') reply.text.pop_back();
  if (reply.err != 0) {
    if (reply.text.rfind("error: ", 0) == 0) reply.text.erase(0, 7);
    if (reply.text.empty()) reply.text = command + ": " + std::strerror(reply.err);
  }
  return reply;
}

// The exchange in a child process that reports over a pipe: "R <errno>\n<reply>"
// when the command was sent, "F <errno>\n<message>" when it could not be.
// The child's standard streams go to /dev/null, so a caller reading our
// output (out=$(amberctl ...)) is not kept waiting for it.
inline void RunExchangeChild(const std::string& mnt, const std::string& command, int report_fd) {
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd <= 2 && null >= 0; ++fd) ::dup2(null, fd);
  amberfs::Result<CtlReply> r = CtlExchange(mnt, command);
  std::string out = r.ok() ? "R " + std::to_string(r->err) + "\n" + r->text
                           : "F " + std::to_string(r.status().code()) + "\n" + r.status().message();
  for (size_t done = 0; done < out.size();) {
    ssize_t n = ::write(report_fd, out.data() + done, out.size() - done);
    if (n <= 0) break;  // the parent gave up waiting
    done += static_cast<size_t>(n);
  }
  ::_exit(0);
}

// timeout 0: wait as long as the command takes. ETIMEDOUT when it ran out.
// A FUSE request the daemon has started cannot be abandoned: the process
// that wrote it cannot exit before the reply (not even when killed). So with
// a timeout the write happens in a child process, which stays behind, blocked,
// until the daemon answers, while amberctl itself returns.
inline amberfs::Result<CtlReply> SendCtl(const std::string& mnt, const std::string& command,
                                         std::chrono::seconds timeout = std::chrono::seconds(0)) {
  if (timeout.count() == 0) return CtlExchange(mnt, command);
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return amberfs::Status::FromErrno(errno, "pipe");
  Fd read_end(pipefd[0]);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[1]);
    return amberfs::Status::FromErrno(errno, "fork");
  }
  if (pid == 0) RunExchangeChild(mnt, command, pipefd[1]);
  ::close(pipefd[1]);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string got;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{read_end.get(), POLLIN, 0};
    int n = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000))) : 0;
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && left.count() <= 0) {
      return amberfs::Status::Error(ETIMEDOUT, command + " did not finish within " +
                                                   std::to_string(timeout.count()) + " s; it goes on in the daemon");
    }
    if (n <= 0) continue;
    char buf[4096];
    ssize_t r = ::read(read_end.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  size_t eol = got.find('\n');
  if (eol == std::string::npos || got.size() < 3 || (got[0] != 'R' && got[0] != 'F')) {
    return amberfs::Status::Error(EIO, command + ": the ctl exchange ended without an answer");
  }
  const int err = std::atoi(got.c_str() + 2);
  std::string text = got.substr(eol + 1);
  if (got[0] == 'F') return amberfs::Status::Error(err > 0 ? err : EIO, text);
  return CtlReply{err, text};
}

}  // namespace amberctl
