// One ctl command, the way docs/FORMATS.md ("ctl protocol") says: open
// MNT/ctl, one write(2) of the command, then read(2) the reply the mount kept
// for this open file. A failed write still leaves the reply
// ("error: <command>: <message>"), which is the text to show; the errno is
// the fallback when there is none.
//
// With a timeout the exchange runs on a second thread and the caller gives up
// waiting after it; the command goes on in the daemon (a FUSE request cannot
// be taken back), and the process exit ends the blocked thread.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>

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

// timeout 0: wait as long as the command takes. ETIMEDOUT when it ran out.
inline amberfs::Result<CtlReply> SendCtl(const std::string& mnt, const std::string& command,
                                         std::chrono::seconds timeout = std::chrono::seconds(0)) {
  if (timeout.count() == 0) return CtlExchange(mnt, command);
  auto task = std::make_shared<std::packaged_task<amberfs::Result<CtlReply>()>>(
      [mnt, command] { return CtlExchange(mnt, command); });
  std::future<amberfs::Result<CtlReply>> done = task->get_future();
  std::thread([task] { (*task)(); }).detach();
  if (done.wait_for(timeout) == std::future_status::ready) return done.get();
  return amberfs::Status::Error(ETIMEDOUT, command + " did not finish within " + std::to_string(timeout.count()) +
                                               " s; it goes on in the daemon");
}

}  // namespace amberctl
