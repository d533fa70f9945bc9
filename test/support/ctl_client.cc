// ctl_client: sends one ctl command the way a program would, and says how it
// went and how long it took, for the mount tests.
//
//   ctl_client MOUNTPOINT COMMAND...
//
// Opens MOUNTPOINT/ctl (O_WRONLY | O_TRUNC, as `echo ... > ctl` does), writes
// the words joined by spaces with a newline, and prints one line:
//   ctl_client: <command>: ok|<errno name> after <ms> ms
// then, on success, the reply read back from the same open file. SIGINT and
// SIGTERM interrupt the write (their handler does nothing and has no
// SA_RESTART), so a test can check that a waiting command gives up with
// EINTR when its writer is signalled. Exit status: 0 when the command
// succeeded, 1 when it failed, 2 for a usage error.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

void Interrupt(int) {}

const char* ErrnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "E?";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: ctl_client MOUNTPOINT COMMAND...\n");
    return 2;
  }
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = Interrupt;  // no SA_RESTART: the write returns EINTR
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  std::string command;
  for (int i = 2; i < argc; ++i) command += (i > 2 ? " " : "") + std::string(argv[i]);
  const auto start = std::chrono::steady_clock::now();
  auto took_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  };
  const std::string path = std::string(argv[1]) + "/ctl";
  int fd = open(path.c_str(), O_RDWR | O_TRUNC);
  if (fd < 0) {
    int err = errno;
    std::printf("ctl_client: %s: open: %s after %lld ms\n", command.c_str(), ErrnoName(err), (long long)took_ms());
    return 1;
  }
  const std::string line = command + "\n";
  ssize_t n = write(fd, line.data(), line.size());
  int err = n < 0 ? errno : 0;
  std::printf("ctl_client: %s: %s after %lld ms\n", command.c_str(), err ? ErrnoName(err) : "ok",
              (long long)took_ms());
  if (err == 0) {
    char buf[4096];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) std::fwrite(buf, 1, static_cast<size_t>(r), stdout);
  }
  std::fflush(stdout);
  close(fd);
  return err == 0 ? 0 : 1;
}
