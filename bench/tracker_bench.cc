// tracker_bench: what change tracking costs on the write path.
//
//   build/bench/tracker_bench [--dir DIR]   (default /tmp; use a dir on the volume's disk)
//
// Prints ns per WillChange on the hit path (chunk marked already) and on the
// first mark of a chunk, ns per BeforeImageWrite with nothing new, and the
// time of a BeforeImageWrite that has one new mark to persist against a
// 4 KiB pwrite + fdatasync to a file in the same directory (the cost of the
// write it guards), as medians of several runs, with the ratio.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "snapshot/change_tracker.h"

using amberfs::ChangeTracker;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint32_t kChunk = 64 << 10;
constexpr uint64_t kVolume = 64ull << 30;  // 1 Mi chunks, 33 bitmap pages

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "tracker_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(const amberfs::Status& st) {
  if (!st.ok()) Die(st.ToString());
}

std::unique_ptr<ChangeTracker> Fresh(const std::string& dir, int n) {
  std::string path = dir + "/changes." + std::to_string(n);
  auto t = ChangeTracker::Create(path, kVolume, kChunk);
  if (!t.ok()) Die(t.status().ToString());
  return std::move(t).value();
}

// ns per WillChange of a 4 KiB write to a chunk that is marked already
// (t == null: the same loop without the call, to subtract).
double HitPath(ChangeTracker* t, int threads) {
  const uint64_t hot = 4096;  // chunks, all marked
  for (uint64_t c = 0; t && c < hot; ++c) Check(t->WillChange(c * kChunk, 4096));
  const uint64_t per_thread = 20'000'000 / threads;
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
      for (uint64_t k = 0; k < per_thread; ++k) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t off = (x % (hot * kChunk / 4096)) * 4096;
        if (t == nullptr) {
          asm volatile("" : : "r"(off));
        } else if (!t->WillChange(off, 4096).ok()) {
          std::abort();
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  return Seconds(start, Clock::now()) * 1e9 / static_cast<double>(per_thread);
}

double MissPath(ChangeTracker& t) {
  const uint64_t n = t.chunk_count();
  auto start = Clock::now();
  for (uint64_t c = 0; c < n; ++c) Check(t.WillChange(c * kChunk, 4096));
  return Seconds(start, Clock::now()) * 1e9 / static_cast<double>(n);
}

double CleanBarrier(ChangeTracker& t) {
  Check(t.BeforeImageWrite());
  const int n = 10'000'000;
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) Check(t.BeforeImageWrite());
  return Seconds(start, Clock::now()) * 1e9 / n;
}

// Seconds per (first mark of a new chunk + BeforeImageWrite).
double DirtyBarrier(ChangeTracker& t, uint64_t* next_chunk, int n) {
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    Check(t.WillChange((*next_chunk)++ * kChunk * 37 % kVolume, 4096));
    Check(t.BeforeImageWrite());
  }
  return Seconds(start, Clock::now()) / n;
}

double PwriteFsync(const std::string& path, int n) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("open " + path);
  std::vector<uint8_t> buf(4096, 0x5a);
  auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(i % 64) * 4096) != 4096) Die("pwrite");
    if (::fdatasync(fd) != 0) Die("fdatasync");
  }
  double s = Seconds(start, Clock::now()) / n;
  ::close(fd);
  return s;
}

// Four threads each doing mark + BeforeImageWrite: how many fdatasyncs serve them.
void GroupCommit(ChangeTracker& t, int per_thread) {
  std::atomic<uint64_t> next{1'000'000};
  auto before = t.Stats();
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int i = 0; i < 4; ++i) {
    pool.emplace_back([&] {
      for (int k = 0; k < per_thread; ++k) {
        uint64_t c = next++ % t.chunk_count();
        Check(t.WillChange(c * kChunk, 4096));
        Check(t.BeforeImageWrite());
      }
    });
  }
  for (auto& th : pool) th.join();
  double secs = Seconds(start, Clock::now());
  auto after = t.Stats();
  std::printf("group commit, 4 threads x %d (mark + BeforeImageWrite): %llu fdatasyncs for %d calls, %.0f calls/s\n",
              per_thread, static_cast<unsigned long long>(after.syncs - before.syncs), 4 * per_thread,
              4 * per_thread / secs);
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = "/tmp";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else {
      Die("usage: tracker_bench [--dir DIR]");
    }
  }
  std::string templ = base + "/tracker-bench-XXXXXX";
  if (!::mkdtemp(templ.data())) Die("mkdtemp in " + base);
  const std::string dir = templ;

  std::printf("change tracker, %llu GiB volume, %u KiB chunks, state in %s\n",
              static_cast<unsigned long long>(kVolume >> 30), kChunk >> 10, dir.c_str());
  {
    auto t = Fresh(dir, 0);
    std::vector<double> one, two, loop;
    for (int r = 0; r < 3; ++r) loop.push_back(HitPath(nullptr, 1));
    for (int r = 0; r < 3; ++r) one.push_back(HitPath(t.get(), 1));
    for (int r = 0; r < 3; ++r) two.push_back(HitPath(t.get(), 2));
    std::printf("WillChange, chunk marked already:  %6.1f ns/call (1 thread), %6.1f ns/call per thread (2 threads),\n"
                "                                   %6.1f ns of which is the benchmark's own loop (random offset)\n",
                Median(one), Median(two), Median(loop));
    std::printf("BeforeImageWrite, nothing new:     %6.1f ns/call\n", CleanBarrier(*t));
    // A round scans the whole bitmap for pages that differ from the file.
    const int n = 2000;
    auto start = Clock::now();
    for (int i = 0; i < n; ++i) Check(t->Sync());
    std::printf("write round, bitmap scan only:     %6.1f us/round (%llu bitmap pages)\n",
                Seconds(start, Clock::now()) * 1e6 / n,
                static_cast<unsigned long long>((t->chunk_count() + ChangeTracker::kChunksPerPage - 1) /
                                                ChangeTracker::kChunksPerPage));
  }
  {
    auto t = Fresh(dir, 1);
    std::printf("WillChange, first mark of a chunk: %6.1f ns/call\n", MissPath(*t));
  }
  {
    auto t = Fresh(dir, 2);
    uint64_t next = 0;
    const int n = 200;
    std::vector<double> tracker, plain;
    for (int r = 0; r < 5; ++r) {
      tracker.push_back(DirtyBarrier(*t, &next, n));
      plain.push_back(PwriteFsync(dir + "/plain", n));
    }
    double a = Median(tracker), b = Median(plain);
    std::printf("BeforeImageWrite with 1 new mark:  %8.1f us   (median of 5 x %d)\n", a * 1e6, n);
    std::printf("4 KiB pwrite + fdatasync:          %8.1f us   (median of 5 x %d)\n", b * 1e6, n);
    std::printf("ratio BeforeImageWrite / (pwrite + fdatasync): %.2f\n", a / b);
    GroupCommit(*t, 100);
    auto s = t->Stats();
    std::printf("pages written per round: %.2f\n",
                s.rounds ? static_cast<double>(s.pages_written) / static_cast<double>(s.syncs) : 0.0);
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
