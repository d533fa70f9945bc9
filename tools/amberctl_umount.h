// amberctl umount: unmount, then wait until the daemon has flushed, released
// the volume and exited, and report how it ended.
//
// umount(2) and fusermount3 -u return once the kernel has detached the
// mount; the daemon then writes back what is dirty, syncs, clears the
// volume's unclean marker and exits, and only then releases VOLDIR/lock.
// So: find the daemon first (the holder of VOLDIR/lock, amberfs/
// volume_holder.h), watch it through a pidfd, unmount, wait for the pidfd
// and then for the lock to be free. The daemon is not our child, so its exit
// code is read from what it leaves: a read-write daemon that shut down
// cleanly removed VOLDIR/mounted; one whose final flush failed (or that was
// killed) left the marker that names its pid.
//
// TARGET may be a volume directory whose mount is gone but whose daemon
// still flushes (after umount(8) or a timeout): then only the wait. If no
// daemon has it any more, there is nothing to wait for: exit 0 when its last
// mount shut down cleanly, else 1.
#pragma once

#include <poll.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "amberctl_util.h"
#include "amberfs/volume_holder.h"

extern char** environ;

namespace amberctl {

// Detaches the mount: umount2 as root, else fusermount3 -u (which prints its
// own error). Returns "" or why it failed.
inline std::string Unmount(const std::string& mnt) {
  if (::geteuid() == 0) {
    // A process that is just closing a file keeps the mount busy for a
    // moment: retry EBUSY for a second before giving up.
    for (int attempt = 0;; ++attempt) {
      if (::umount2(mnt.c_str(), UMOUNT_NOFOLLOW) == 0) return "";
      if (errno != EBUSY || attempt == 20) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    int err = errno;
    if (err == EBUSY) {
      return mnt + " is busy: something still uses it (an open file, a process inside it, or a loop device on " +
             mnt + "/volume: see losetup -j " + mnt + "/volume and fuser -vm " + mnt + ")";
    }
    return "umount " + mnt + ": " + std::strerror(err);
  }
  const char* argv[] = {"fusermount3", "-u", mnt.c_str(), nullptr};
  pid_t pid;
  int err = ::posix_spawnp(&pid, "fusermount3", nullptr, nullptr, const_cast<char* const*>(argv), environ);
  if (err != 0) return std::string("cannot run fusermount3: ") + std::strerror(err);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "" : "fusermount3 -u " + mnt + " failed";
}

// Waits until fd (a pidfd) is readable (the process exited) or the deadline.
inline bool WaitPidfd(int fd, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// Waits until nobody holds the volume's lock, or the deadline.
inline bool WaitLockFree(const std::string& voldir, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    auto holder = amberfs::FindVolumeHolder(voldir);
    if (holder.ok() && !*holder) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// How the daemon ended, from the unclean marker it leaves or clears.
inline int DaemonVerdict(const std::string& voldir, pid_t pid) {
  auto marker = amberfs::ReadMountedMarker(voldir);
  if (!marker.ok()) return Fail("the daemon exited, but " + marker.status().message());
  if (!*marker) return kExitOk;
  if (amberfs::PidNamedIn(**marker) != pid) {
    std::fprintf(stderr, "amberctl: note: %s still carries an older unclean marker (%s); fsck.amberfs %s checks it\n",
                 voldir.c_str(), (*marker)->c_str(), voldir.c_str());
    return kExitOk;
  }
  return Fail("the daemon (pid " + std::to_string(pid) +
              ") exited without a clean shutdown: its final flush failed or it was killed, so " + voldir +
              " stays marked unclean; see its log (syslog, or stderr with -f) and run fsck.amberfs " + voldir);
}

inline int RunUmount(const std::string& voldir, const std::string& mnt, std::chrono::seconds timeout) {
  auto holder = amberfs::FindVolumeHolder(voldir);
  if (!holder.ok()) return Fail(holder.status().message());
  if (*holder && (*holder)->what.rfind("mount", 0) != 0 && !(*holder)->what.empty()) {
    return Fail(voldir + " is held by another program, not a mount: " + (*holder)->what);
  }
  if (mnt.empty() && !*holder) {
    // Nothing to wait for: say how the last mount ended.
    auto marker = amberfs::ReadMountedMarker(voldir);
    if (marker.ok() && *marker) {
      return Fail(voldir + " is not mounted, and its last mount did not shut down cleanly (" + **marker +
                  "); run fsck.amberfs " + voldir);
    }
    std::fprintf(stderr, "amberctl: %s is not mounted; nothing to wait for\n", voldir.c_str());
    return kExitOk;
  }
  const pid_t pid = *holder ? (*holder)->pid : 0;
  // Watch the daemon before unmounting, so its pid cannot be reused unseen.
  Fd pidfd(pid ? static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)) : -1);
  if (!mnt.empty()) {
    std::string err = Unmount(mnt);
    if (!err.empty()) return Fail(err);
  }
  if (!pid) {
    return Fail("unmounted " + mnt + ", but no daemon had " + voldir +
                " (it died before): the volume is marked unclean; run fsck.amberfs " + voldir);
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline =
      timeout.count() == 0 ? std::chrono::steady_clock::time_point::max() : start + timeout;
  bool told = false;
  auto tell = [&] {
    if (told) return;
    told = true;
    std::fprintf(stderr, "amberctl: waiting for the amberfs daemon (pid %d) to flush and exit...\n", static_cast<int>(pid));
  };
  bool exited = true;
  if (pidfd.valid()) {
    exited = WaitPidfd(pidfd.get(), std::min(deadline, start + std::chrono::seconds(1)));
    if (!exited) {
      tell();
      exited = WaitPidfd(pidfd.get(), deadline);
    }
  }
  if (exited) exited = WaitLockFree(voldir, deadline);
  if (!exited) {
    return Fail("the daemon (pid " + std::to_string(pid) + ") is still flushing after " +
                std::to_string(timeout.count()) + " s; " + (mnt.empty() ? voldir : mnt) +
                " is unmounted but the volume is not released yet. Wait for it with: amberctl umount " + voldir);
  }
  return DaemonVerdict(voldir, pid);
}

}  // namespace amberctl
