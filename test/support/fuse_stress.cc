// fuse_stress: a concurrent workload against a mounted amberfs, for finding
// races in the daemon (run it against a daemon built with ASan or TSan).
//
//   fuse_stress MOUNTPOINT [--seconds N] [--clients N] [--cycles N]
//               [--writers N] [--no-snapshots]
//
// Threads, all at once until the time (or every client's cycle count) is up:
//   - `clients` control clients, each cycle: open ctl, write `help`, read the
//     reply, close; open stats, read it whole, close; open one snapshots/
//     file, read a few blocks, close. Every few cycles a malformed command,
//     which must fail with EINVAL.
//   - `writers` volume writers (default 2), each owning a disjoint region: pwrite blocks of
//     random size at random offsets, fsync now and then, and read back what
//     they last wrote (a mismatch is a failure).
//   - unless --no-snapshots, one snapshotter: `snapshot`, `delete` of the oldest but two, `gc` every
//     few rounds, `drain` now and then, and every third round `delete same; snapshot same`
//     (the volume writers change the volume in between).
//   - each control client, when `same` exists, opens it, reads a block, runs
//     its cycle, and reads the block again through the same open file: the
//     two reads must agree (an open snapshot file never switches to a later
//     snapshot of its name), or the second fails with ESTALE or EIO.
// Snapshot files may vanish between listing and reading (ENOENT, ESTALE) and
// a snapshot may be refused while another runs (EBUSY); anything else that
// fails is counted as an error. Prints the operations done and exits 0 only
// with zero errors. Network: none; it touches only MOUNTPOINT.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::string mnt;
  double seconds = 30;
  unsigned clients = 2;
  uint64_t cycles = 0;  // per control client; 0 = until the time is up
  unsigned writers = 2;
  bool snapshots = true;
};

std::atomic<uint64_t> g_ops{0}, g_errors{0};
std::atomic<bool> g_stop{false};
std::atomic<unsigned> g_clients_done{0};
std::mutex g_print_mu;

void Error(const char* what, int err) {
  g_errors.fetch_add(1);
  std::lock_guard<std::mutex> lock(g_print_mu);
  std::fprintf(stderr, "fuse_stress: %s: %s\n", what, std::strerror(err));
}

// A file descriptor closed on every path.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// Reads fd to its end; false with errno set on an error.
bool ReadAll(int fd, std::string* out) {
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return false;
    if (n == 0) return true;
    out->append(buf, static_cast<size_t>(n));
  }
}

std::vector<std::string> ListSnapshots(const std::string& mnt) {
  std::vector<std::string> names;
  DIR* dir = opendir((mnt + "/snapshots").c_str());
  if (dir == nullptr) return names;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  closedir(dir);
  return names;
}

// Sends one ctl command on a fresh open and returns its errno (0 = ok) and reply.
int CtlCommand(const std::string& mnt, const std::string& command, std::string* reply) {
  Fd fd(open((mnt + "/ctl").c_str(), O_RDWR));
  if (fd.fd < 0) return errno;
  ssize_t n = write(fd.fd, command.data(), command.size());
  int err = n < 0 ? errno : 0;
  // The reply of a failed command sits at the offset the write started at.
  if (err != 0 && lseek(fd.fd, 0, SEEK_SET) < 0) return errno;
  if (!ReadAll(fd.fd, reply)) return errno;
  return err;
}

// Reads one block of snapshots/same twice through one open file, with a
// ctl round trip and a pause in between (time for `same` to be deleted and
// taken again).
void SameSnapshotTwice(const Config& cfg, std::mt19937_64& rng) {
  Fd fd(open((cfg.mnt + "/snapshots/same").c_str(), O_RDONLY));
  if (fd.fd < 0) {
    if (errno != ENOENT && errno != ESTALE) Error("open snapshots/same", errno);
    return;
  }
  char first[16384], second[16384];
  const off_t off = static_cast<off_t>((rng() % 256) * sizeof first);
  if (pread(fd.fd, first, sizeof first, off) != static_cast<ssize_t>(sizeof first)) {
    if (errno != ESTALE && errno != EIO) Error("read snapshots/same", errno);
    return;
  }
  std::string reply;
  CtlCommand(cfg.mnt, "help\n", &reply);
  std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 20));
  if (pread(fd.fd, second, sizeof second, off) != static_cast<ssize_t>(sizeof second)) {
    if (errno != ESTALE && errno != EIO) Error("second read of snapshots/same", errno);
    return;
  }
  if (std::memcmp(first, second, sizeof first) != 0) Error("an open snapshot file switched content", EPROTO);
  g_ops.fetch_add(1);
}

void ControlClient(const Config& cfg, unsigned id, uint64_t* cycles_done) {
  std::mt19937_64 rng(id * 7919 + 1);
  uint64_t cycle = 0;
  while (!g_stop.load() && (cfg.cycles == 0 || cycle < cfg.cycles)) {
    ++cycle;
    std::string reply;
    int err = CtlCommand(cfg.mnt, "help\n", &reply);
    if (err != 0) Error("ctl help", err);
    else if (reply.find("snapshot") == std::string::npos && reply.find("flush") == std::string::npos)
      Error("ctl help: reply lists no commands", EPROTO);
    g_ops.fetch_add(1);
    if (cycle % 8 == 0) {
      reply.clear();
      err = CtlCommand(cfg.mnt, "no-such-command\n", &reply);
      if (err != EINVAL) Error("malformed ctl command not refused with EINVAL", err ? err : EPROTO);
      else if (reply.rfind("error:", 0) != 0) Error("malformed ctl command: reply does not start with error:", EPROTO);
      g_ops.fetch_add(1);
    }
    {
      Fd fd(open((cfg.mnt + "/stats").c_str(), O_RDONLY));
      std::string text;
      if (fd.fd < 0 || !ReadAll(fd.fd, &text)) Error("stats", errno);
      else if (text.find("amberfs_") == std::string::npos) Error("stats: no amberfs metrics", EPROTO);
      g_ops.fetch_add(1);
    }
    std::vector<std::string> names = ListSnapshots(cfg.mnt);
    if (cycle % 4 == 0) SameSnapshotTwice(cfg, rng);
    if (!names.empty()) {
      const std::string& name = names[rng() % names.size()];
      Fd fd(open((cfg.mnt + "/snapshots/" + name).c_str(), O_RDONLY));
      if (fd.fd < 0) {
        if (errno != ENOENT && errno != ESTALE) Error("open snapshot", errno);
      } else {
        char buf[16384];
        for (int i = 0; i < 3; ++i) {
          off_t off = static_cast<off_t>((rng() % 256) * sizeof buf);
          if (pread(fd.fd, buf, sizeof buf, off) < 0 && errno != ENOENT && errno != ESTALE && errno != EIO) {
            Error("read snapshot", errno);
          }
        }
      }
      g_ops.fetch_add(1);
    }
  }
  *cycles_done = cycle;
  g_clients_done.fetch_add(1);
}

void VolumeWriter(const Config& cfg, unsigned id, uint64_t region_offset, uint64_t region_size) {
  Fd fd(open((cfg.mnt + "/volume").c_str(), O_RDWR));
  if (fd.fd < 0) {
    Error("open volume", errno);
    return;
  }
  std::mt19937_64 rng(id * 104729 + 3);
  std::vector<char> data(256 << 10), back(256 << 10);
  uint64_t n = 0;
  while (!g_stop.load()) {
    size_t len = 512 * (1 + rng() % 512);
    uint64_t off = region_offset + (rng() % ((region_size - len) / 512)) * 512;
    for (size_t i = 0; i < len; i += 8) {
      uint64_t word = off + i + (n << 40);
      std::memcpy(&data[i], &word, 8);
    }
    if (pwrite(fd.fd, data.data(), len, static_cast<off_t>(off)) != static_cast<ssize_t>(len)) {
      Error("write volume", errno);
      continue;
    }
    if (++n % 16 == 0 && fsync(fd.fd) != 0) Error("fsync volume", errno);
    if (pread(fd.fd, back.data(), len, static_cast<off_t>(off)) != static_cast<ssize_t>(len)) {
      Error("read volume", errno);
    } else if (std::memcmp(data.data(), back.data(), len) != 0) {
      Error("volume read back differs from what was written", EIO);
    }
    g_ops.fetch_add(2);
  }
}

void Snapshotter(const Config& cfg) {
  std::deque<std::string> taken;
  uint64_t round = 0;
  while (!g_stop.load()) {
    ++round;
    std::string name = "stress-" + std::to_string(round);
    std::string reply;
    int err = CtlCommand(cfg.mnt, "snapshot " + name + "\n", &reply);
    if (err == 0) taken.push_back(name);
    else if (err != EBUSY) Error(("snapshot " + name).c_str(), err);
    g_ops.fetch_add(1);
    while (taken.size() > 2) {
      reply.clear();
      err = CtlCommand(cfg.mnt, "delete " + taken.front() + "\n", &reply);
      if (err != 0 && err != EBUSY) Error(("delete " + taken.front()).c_str(), err);
      if (err != EBUSY) taken.pop_front();
      g_ops.fetch_add(1);
      if (err == EBUSY) break;
    }
    if (round % 4 == 0) {
      reply.clear();
      err = CtlCommand(cfg.mnt, "gc\n", &reply);
      if (err != 0 && err != EBUSY) Error("gc", err);
      g_ops.fetch_add(1);
    }
    if (round % 3 == 0) {
      // The name `same` taken again and again, over changing data.
      reply.clear();
      err = CtlCommand(cfg.mnt, "delete same\n", &reply);
      if (err != 0 && err != ENOENT && err != EBUSY) Error("delete same", err);
      reply.clear();
      err = CtlCommand(cfg.mnt, "snapshot same\n", &reply);
      if (err != 0 && err != EEXIST && err != EBUSY) Error("snapshot same", err);
      g_ops.fetch_add(2);
    }
    if (round % 7 == 0) {
      reply.clear();
      err = CtlCommand(cfg.mnt, "drain\n", &reply);
      if (err != 0) Error("drain", err);
      g_ops.fetch_add(1);
    }
  }
}

uint64_t VolumeSize(const std::string& mnt) {
  Fd fd(open((mnt + "/volume").c_str(), O_RDONLY));
  if (fd.fd < 0) return 0;
  off_t end = lseek(fd.fd, 0, SEEK_END);
  return end < 0 ? 0 : static_cast<uint64_t>(end);
}

int Usage() {
  std::fprintf(stderr,
               "usage: fuse_stress MOUNTPOINT [--seconds N] [--clients N] [--cycles N] [--writers N] "
               "[--no-snapshots]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) cfg.seconds = std::atof(argv[++i]);
    else if (arg == "--clients" && i + 1 < argc) cfg.clients = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (arg == "--cycles" && i + 1 < argc) cfg.cycles = std::strtoull(argv[++i], nullptr, 10);
    else if (arg == "--writers" && i + 1 < argc) cfg.writers = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (arg == "--no-snapshots") cfg.snapshots = false;
    else if (cfg.mnt.empty() && arg[0] != '-') cfg.mnt = arg;
    else return Usage();
  }
  if (cfg.mnt.empty() || cfg.clients == 0 || cfg.writers > 8) return Usage();
  const uint64_t size = VolumeSize(cfg.mnt);
  if (size < (8u << 20)) {
    std::fprintf(stderr, "fuse_stress: %s/volume is missing or smaller than 8 MiB\n", cfg.mnt.c_str());
    return 2;
  }

  const auto start = Clock::now();
  std::vector<uint64_t> cycles(cfg.clients, 0);
  std::vector<std::thread> controls, others;
  for (unsigned i = 0; i < cfg.clients; ++i) controls.emplace_back(ControlClient, std::cref(cfg), i, &cycles[i]);
  if (cfg.writers > 0) {
    const uint64_t region = size / cfg.writers / 512 * 512;
    for (unsigned i = 0; i < cfg.writers; ++i) {
      others.emplace_back(VolumeWriter, std::cref(cfg), i, i * region, region);
    }
  }
  if (cfg.snapshots) others.emplace_back(Snapshotter, std::cref(cfg));

  // With --cycles the control clients decide the end; the time bounds it either way.
  const auto deadline = start + std::chrono::duration<double>(cfg.seconds);
  while (Clock::now() < deadline && g_clients_done.load() < cfg.clients) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  g_stop = true;
  for (std::thread& t : controls) t.join();
  for (std::thread& t : others) t.join();

  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  uint64_t total_cycles = 0;
  for (uint64_t c : cycles) total_cycles += c;
  std::printf("fuse_stress: %.1f s, %u control clients, %llu control cycles, %llu operations, %llu errors\n",
              took, cfg.clients, static_cast<unsigned long long>(total_cycles),
              static_cast<unsigned long long>(g_ops.load()), static_cast<unsigned long long>(g_errors.load()));
  return g_errors.load() == 0 ? 0 : 1;
}
