// Conductor benchmarks. Each table compares against a baseline
// measured in the same run, on the same disk, and prints the ratio.
//
//   seq     WriteAt in 1 MiB pieces over SIZE plus Flush, against plain
//           pwrite + fdatasync of the same bytes to a file on the same disk.
//   rand    random 4 KiB writes over a working set 4x the cache, plus Flush:
//           the io_uring backend against the plain backend (buffered and
//           O_DIRECT images).
//   group   8 threads each doing 4 KiB WriteAt + Flush in a loop, against the
//           same loop with group commit off (one fdatasync per Flush), and
//           against 8 threads doing raw pwrite + fdatasync each.
//   policy  hit ratio of S3-FIFO against LRU on a zipfian hot set with
//           periodic large sequential scans (a trace replayed on the policy).
//
// Usage: conductor_bench [--dir DIR] [--size MiB] [--rounds N] [--only NAME]
// DIR must be on the disk being measured (default: ./build/bench-tmp).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/aligned_buffer.h"
#include "cache/conductor.h"
#include "cache/s3fifo.h"
#include "base/unique_fd.h"

using namespace amberfs;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_dir = "build/bench-tmp";
uint64_t g_size = 1ull << 30;

double Seconds(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void Die(const Status& st, const char* what) {
  if (st.ok()) return;
  std::fprintf(stderr, "conductor_bench: %s: %s\n", what, st.ToString().c_str());
  std::exit(1);
}

std::string MakeImage(const char* name, uint64_t size) {
  std::string path = g_dir + "/" + name;
  unlink(path.c_str());
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644));
  if (!fd.valid() || ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  return path;
}

void DropCaches() {
  sync();
  UniqueFd fd(open("/proc/sys/vm/drop_caches", O_WRONLY));
  if (fd.valid()) {
    ssize_t n = write(fd.get(), "3\n", 2);
    (void)n;  // needs root; without it the runs are just warmer
  }
}

std::unique_ptr<Conductor> OpenConductor(const std::string& path, bool uring, bool direct, ConductorOptions o) {
  auto device = Device::Open(path, {.direct = direct});
  Die(device.status(), "open device");
  std::unique_ptr<BatchIO> io;
  if (uring) {
    auto r = OpenUringIO(128);
    Die(r.status(), "io_uring");
    io = std::move(r).value();
  } else {
    io = OpenPlainIO();
  }
  auto c = Conductor::Open(std::move(device).value(), std::move(io), o);
  Die(c.status(), "open conductor");
  return std::move(c).value();
}

void Row(const char* name, double value, const char* unit, double baseline) {
  std::printf("  %-44s %10.1f %-6s %6.2fx\n", name, value, unit, baseline > 0 ? value / baseline : 0.0);
}

// ---- seq ------------------------------------------------------------------

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int g_rounds = 5;

void BenchSequential() {
  const size_t piece = 1 << 20;
  AlignedBuffer buf(piece);
  std::mt19937_64 rng(1);
  for (size_t i = 0; i < piece; i += 8) {
    uint64_t v = rng();
    std::memcpy(buf.data() + i, &v, 8);
  }
  const double mib = double(g_size) / (1 << 20);
  // The disk's speed swings a lot on this kind of machine, so the two are
  // measured in alternation, round by round, and medians are reported.
  std::vector<double> raw_rates, amber_rates, ratios;
  for (int round = 0; round < g_rounds; ++round) {
    // Baseline: plain pwrite + fdatasync of the same bytes.
    std::string raw = MakeImage("seq-raw", g_size);
    DropCaches();
    auto start = Clock::now();
    {
      UniqueFd fd(open(raw.c_str(), O_RDWR));
      for (uint64_t off = 0; off < g_size; off += piece)
        if (pwrite(fd.get(), buf.data(), piece, static_cast<off_t>(off)) != static_cast<ssize_t>(piece)) std::exit(1);
      if (fdatasync(fd.get()) != 0) std::exit(1);
    }
    double raw_rate = mib / Seconds(start);
    unlink(raw.c_str());

    std::string image = MakeImage("seq-amber", g_size);
    DropCaches();
    ConductorOptions o;
    o.cache_bytes = 256ull << 20;
    auto c = OpenConductor(image, true, false, o);
    start = Clock::now();
    for (uint64_t off = 0; off < g_size; off += piece) Die(c->WriteAt(buf.data(), piece, off), "WriteAt");
    Die(c->Flush(), "Flush");
    double amber_rate = mib / Seconds(start);
    Die(c->Close(), "Close");
    unlink(image.c_str());
    raw_rates.push_back(raw_rate);
    amber_rates.push_back(amber_rate);
    ratios.push_back(amber_rate / raw_rate);
  }
  std::printf("\nSequential write, 1 MiB pieces over %.0f MiB, then flush (MiB/s, medians of %d alternating rounds; target >= 0.9x)\n",
              mib, g_rounds);
  Row("pwrite + fdatasync (baseline)", Median(raw_rates), "MiB/s", Median(raw_rates));
  Row("Conductor WriteAt + Flush (io_uring)", Median(amber_rates), "MiB/s", Median(raw_rates));
  std::printf("  %-44s %10.2fx (per-round ratios:", "median of the per-round ratios", Median(ratios));
  for (double r : ratios) std::printf(" %.2f", r);
  std::printf(")\n");
}

// ---- rand -----------------------------------------------------------------

double RandomWrites(bool uring, bool direct, uint64_t cache, uint64_t working_set, uint64_t ops) {
  std::string image = MakeImage(uring ? "rand-uring" : "rand-plain", working_set);
  DropCaches();
  ConductorOptions o;
  o.cache_bytes = cache;
  auto c = OpenConductor(image, uring, direct, o);
  std::vector<uint8_t> block(4096, 0xA5);
  std::mt19937_64 rng(42);
  uint64_t blocks = working_set / 4096;
  auto start = Clock::now();
  for (uint64_t i = 0; i < ops; ++i) Die(c->WriteAt(block.data(), 4096, (rng() % blocks) * 4096), "WriteAt");
  Die(c->Flush(), "Flush");
  double s = Seconds(start);
  Die(c->Close(), "Close");
  unlink(image.c_str());
  return double(ops) / s;
}

void BenchRandom() {
  const uint64_t cache = 64ull << 20, working_set = 4 * cache, ops = 200000;
  std::printf("\nRandom 4 KiB writes over a %llu MiB working set (4x a %llu MiB cache), %llu writes + flush (IOPS; target io_uring >= 1.3x plain)\n",
              (unsigned long long)(working_set >> 20), (unsigned long long)(cache >> 20), (unsigned long long)ops);
  for (bool direct : {false, true}) {
    double plain = RandomWrites(false, direct, cache, working_set, ops);
    double uring = RandomWrites(true, direct, cache, working_set, ops);
    Row(direct ? "plain backend, O_DIRECT image (baseline)" : "plain backend, buffered image (baseline)", plain, "IOPS", plain);
    Row(direct ? "io_uring backend, O_DIRECT image" : "io_uring backend, buffered image", uring, "IOPS", plain);
  }
}

// ---- group ----------------------------------------------------------------

// Runs op(thread, i, block) for i = 0, 1, ... on `threads` threads until
// `duration` has passed, where block is the thread's own 4 KiB filled with
// its number; returns the seconds it took.
template <typename Op>
double RunThreadsFor(int threads, std::chrono::seconds duration, Op op) {
  std::vector<std::thread> pool;
  auto stop_at = Clock::now() + duration;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::vector<uint8_t> block(4096, static_cast<uint8_t>(t));
      for (uint64_t i = 0; Clock::now() < stop_at; ++i) op(t, i, block);
    });
  for (auto& th : pool) th.join();
  return Seconds(start);
}

void BenchGroupCommit() {
  constexpr int kThreads = 8;
  const auto duration = std::chrono::seconds(3);
  // Baseline: each thread pwrite + fdatasync, one fdatasync per "flush".
  std::string raw = MakeImage("group-raw", 64ull << 20);
  std::atomic<uint64_t> raw_ops{0};
  {
    UniqueFd fd(open(raw.c_str(), O_RDWR));
    double s = RunThreadsFor(kThreads, duration, [&](int t, uint64_t i, const std::vector<uint8_t>& block) {
      if (pwrite(fd.get(), block.data(), 4096, static_cast<off_t>(((t * 1000 + i) % 16384) * 4096)) != 4096) std::exit(1);
      if (fdatasync(fd.get()) != 0) std::exit(1);
      ++raw_ops;
    });
    raw_ops = static_cast<uint64_t>(double(raw_ops) / s);
  }
  unlink(raw.c_str());

  std::printf("\nGroup commit: %d threads, 4 KiB write + flush in a loop (flushes/s; target >= 3x the loop with one "
              "fdatasync per flush, fdatasyncs <= 1/4 of flushes)\n", kThreads);
  Row("raw pwrite + fdatasync per flush, 8 threads", double(raw_ops), "ops/s", double(raw_ops));
  double own_sync_ops = 0;
  for (int delay_us : {-1, 0, 50, 200}) {  // -1: the same loop without group commit (the baseline)
    std::string image = MakeImage("group-amber", 64ull << 20);
    ConductorOptions o;
    o.cache_bytes = 64ull << 20;
    o.group_commit = delay_us >= 0;
    o.sync_delay = std::chrono::microseconds(std::max(delay_us, 0));
    auto c = OpenConductor(image, true, false, o);
    double s = RunThreadsFor(kThreads, duration, [&](int t, uint64_t i, const std::vector<uint8_t>& block) {
      Die(c->WriteAt(block.data(), 4096, ((t * 1000 + i) % 16384) * 4096), "WriteAt");
      Die(c->Flush(), "Flush");
    });
    ConductorStats st = c->Stats();
    const double ops = double(st.flushes) / s;
    char name[96];
    if (delay_us < 0) {
      own_sync_ops = ops;
      std::snprintf(name, sizeof name, "Conductor, one fdatasync per flush (fdatasyncs/flushes %.2f)",
                    double(st.fsyncs) / double(st.flushes));
    } else {
      std::snprintf(name, sizeof name, "Conductor, group commit, sync_delay=%dus (fdatasyncs/flushes %.2f)", delay_us,
                    double(st.fsyncs) / double(st.flushes));
    }
    Row(name, ops, "ops/s", double(raw_ops));
    if (delay_us >= 0) std::printf("  %-44s %10s %-6s %6.2fx  (target >= 3x)\n", "  ... against one fdatasync per flush", "", "", ops / own_sync_ops);
    Die(c->Close(), "Close");
    unlink(image.c_str());
  }
}

// ---- policy ---------------------------------------------------------------

std::vector<uint64_t> ZipfTrace(uint64_t keys, double alpha, size_t accesses, size_t scan_every, size_t scan_len, uint64_t seed) {
  // Inverse-CDF sampling of a zipfian distribution over `keys` ranks.
  std::vector<double> cdf(keys);
  double sum = 0;
  for (uint64_t i = 0; i < keys; ++i) cdf[i] = (sum += 1.0 / std::pow(double(i + 1), alpha));
  for (double& v : cdf) v /= sum;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<uint64_t> trace;
  uint64_t scan_key = keys * 10;
  for (size_t i = 0; i < accesses; ++i) {
    trace.push_back(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
    if (scan_every && i % scan_every == scan_every - 1)
      for (size_t j = 0; j < scan_len; ++j) trace.push_back(scan_key++);
  }
  return trace;
}

void BenchPolicy() {
  std::printf("\nReplacement policy: hit ratio on a zipfian(0.9) hot set of 100k blocks, cache 10k blocks (target >= LRU, > LRU with scans)\n");
  std::printf("  %-44s %10s %10s %7s\n", "trace", "LRU", "S3-FIFO", "ratio");
  struct Case {
    const char* name;
    size_t scan_every, scan_len;
  } cases[] = {{"zipfian, no scans", 0, 0}, {"zipfian + 30k-block scan every 100k", 100000, 30000},
               {"zipfian + 100k-block scan every 200k", 200000, 100000}};
  for (const Case& k : cases) {
    auto trace = ZipfTrace(100000, 0.9, 1000000, k.scan_every, k.scan_len, 7);
    double lru = SimulateHitRatio<Lru>(10000, trace), fifo = SimulateHitRatio<S3Fifo>(10000, trace);
    std::printf("  %-44s %10.4f %10.4f %6.2fx\n", k.name, lru, fifo, fifo / lru);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) g_dir = argv[++i];
    else if (a == "--size" && i + 1 < argc) g_size = std::stoull(argv[++i]) << 20;
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--rounds" && i + 1 < argc) g_rounds = std::max(1, std::stoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: conductor_bench [--dir DIR] [--size MiB] [--rounds N] [--only seq|rand|group|policy]\n");
      return 2;
    }
  }
  mkdir(g_dir.c_str(), 0755);
  std::printf("Conductor benchmarks in %s (2 cores; run a few times and quote the median)\n", g_dir.c_str());
  if (only.empty() || only == "policy") BenchPolicy();
  if (only.empty() || only == "seq") BenchSequential();
  if (only.empty() || only == "rand") BenchRandom();
  if (only.empty() || only == "group") BenchGroupCommit();
  return 0;
}
