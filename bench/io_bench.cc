// io_bench: random 4 KiB pwrite batches through the io_uring and the plain
// BatchIO backends, on the same file in the same run, buffered and O_DIRECT,
// each run ending with one fdatasync. Prints a table with the io_uring/plain
// ratio.
//
//   io_bench [--dir DIR] [--file-mib N] [--batches N] [--batch N] [--depth N] [--runs N]
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/aligned_buffer.h"
#include "io/batch_io.h"
#include "base/unique_fd.h"

namespace amberfs {
namespace {

constexpr size_t kBlock = 4096;

struct Options {
  std::string dir = "/tmp";
  size_t file_mib = 64;
  size_t batches = 200;
  size_t batch = 64;
  unsigned depth = 64;
  int runs = 3;
};

bool ParseArgs(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (a == "--dir") o->dir = v;
    else if (a == "--file-mib") o->file_mib = std::strtoull(v, nullptr, 10);
    else if (a == "--batches") o->batches = std::strtoull(v, nullptr, 10);
    else if (a == "--batch") o->batch = std::strtoull(v, nullptr, 10);
    else if (a == "--depth") o->depth = static_cast<unsigned>(std::strtoul(v, nullptr, 10));
    else if (a == "--runs") o->runs = std::atoi(v);
    else return false;
  }
  return o->file_mib > 0 && o->batches > 0 && o->batch > 0 && o->runs > 0;
}

// Seconds for `batches` batches of random 4 KiB writes plus one fdatasync.
double TimeRun(BatchIO& io, int fd, const Options& o, const uint8_t* data, uint32_t seed) {
  const uint64_t blocks = o.file_mib * (1 << 20) / kBlock;
  std::mt19937_64 rng(seed);
  std::vector<WriteOp> ops(o.batch);
  auto start = std::chrono::steady_clock::now();
  for (size_t b = 0; b < o.batches; ++b) {
    for (size_t i = 0; i < o.batch; ++i) ops[i] = WriteOp{data + i * kBlock, kBlock, (rng() % blocks) * kBlock};
    Status st = io.PwriteBatch(fd, ops);
    if (!st.ok()) {
      std::fprintf(stderr, "%s: %s\n", io.name(), st.ToString().c_str());
      std::exit(1);
    }
  }
  Status st = io.Fsync(fd);
  if (!st.ok()) {
    std::fprintf(stderr, "%s fsync: %s\n", io.name(), st.ToString().c_str());
    std::exit(1);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, &o)) {
    std::fprintf(stderr, "usage: io_bench [--dir DIR] [--file-mib N] [--batches N] [--batch N] [--depth N] [--runs N]\n");
    return 2;
  }
  std::string path = o.dir + "/io_bench-XXXXXX";
  UniqueFd setup_fd(::mkstemp(path.data()));
  if (!setup_fd.valid()) {
    std::perror(path.c_str());
    return 1;
  }
  // Written out in full first, so the runs overwrite allocated blocks rather
  // than measure the filesystem's allocator.
  AlignedBuffer data(o.batch * kBlock);
  std::memset(data.data(), 0xa5, data.size());
  for (uint64_t off = 0; off < o.file_mib << 20; off += data.size()) {
    size_t len = std::min<uint64_t>(data.size(), (o.file_mib << 20) - off);
    if (::pwrite(setup_fd.get(), data.data(), len, static_cast<off_t>(off)) != static_cast<ssize_t>(len)) {
      std::perror("pwrite");
      ::unlink(path.c_str());
      return 1;
    }
  }
  if (::fsync(setup_fd.get()) != 0) std::perror("fsync");

  std::unique_ptr<BatchIO> plain = OpenPlainIO();
  Result<std::unique_ptr<BatchIO>> uring = OpenUringIO(o.depth);
  if (!uring.ok()) {
    std::printf("SKIP: io_bench: io_uring unavailable: %s\n", uring.status().ToString().c_str());
    ::unlink(path.c_str());
    return 0;
  }

  std::printf("random %zu KiB writes, %zu batches of %zu over a %zu MiB file in %s, queue depth %u, median of %d runs\n",
              kBlock / 1024, o.batches, o.batch, o.file_mib, o.dir.c_str(), o.depth, o.runs);
  std::printf("%-9s %-9s %10s %9s %8s\n", "mode", "backend", "writes/s", "MiB/s", "ratio");
  for (bool direct : {false, true}) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0)));
    if (!fd.valid()) {
      std::printf("%-9s SKIP: open with O_DIRECT: %s\n", "direct", std::strerror(errno));
      continue;
    }
    std::vector<double> plain_s, uring_s;
    for (int r = 0; r < o.runs; ++r) {  // interleaved so drift hits both alike
      plain_s.push_back(TimeRun(*plain, fd.get(), o, data.data(), 100 + r));
      uring_s.push_back(TimeRun(**uring, fd.get(), o, data.data(), 100 + r));
    }
    const double writes = static_cast<double>(o.batches * o.batch);
    const double p = Median(plain_s), u = Median(uring_s);
    const char* mode = direct ? "O_DIRECT" : "buffered";
    std::printf("%-9s %-9s %10.0f %9.1f %8s\n", mode, "plain", writes / p, writes * kBlock / p / (1 << 20), "1.00x");
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.2fx", p / u);
    std::printf("%-9s %-9s %10.0f %9.1f %8s\n", mode, "io_uring", writes / u, writes * kBlock / u / (1 << 20), ratio);
  }
  ::unlink(path.c_str());
  return 0;
}

}  // namespace
}  // namespace amberfs

int main(int argc, char** argv) { return amberfs::Main(argc, argv); }
