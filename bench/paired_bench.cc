// paired_bench: Put throughput of 64 KiB blobs into a PairedStore (fast = a
// local directory, slow = another local directory) against the raw cost of
// writing and fsyncing the same files, at 1 and at N concurrent writers.
//
//   paired_bench [--dir DIR] [--slow-dir DIR] [--count N] [--threads T] [--rounds R] [--batch B]
//
// The slow store goes in --slow-dir (default: --dir, i.e. the same disk, so
// background uploads compete with the puts for it).
//
// Baselines, per file:
//   write+fsync          open(O_CREAT), write, fsync, close
//   temp+fsync+rename    the store's protocol done naively: temp file, write,
//                        fdatasync, rename, fsync of the directory
// The Paired figure counts Put calls only, each durable on return (the blob's
// bytes in the upload log, its fast copy written unsynced and synced at the
// next checkpoint; see paired_store.h); uploads run in the background, and
// the time to Drain them afterwards is printed separately. "no carry" is the
// same with carry_data_in_log off: the fast store's own durable Put (temp
// file, fdatasync, rename, directory fsync), then the log record. The batch figure
// is the way snapshots store blobs: PutBatch, committed every --batch blobs
// (each batch durable, files, entries and log records, when Commit returns).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "store/disk_store.h"
#include "store/paired_store.h"
#include "support/fault_store.h"

using namespace amberfs;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kBlobSize = 64 * 1024;

std::vector<std::vector<uint8_t>> MakeBlobs(int count, int salt) {
  std::vector<std::vector<uint8_t>> blobs(count, std::vector<uint8_t>(kBlobSize));
  uint64_t x = 0x9e3779b97f4a7c15ull * static_cast<uint64_t>(salt + 1);
  for (auto& b : blobs)
    for (size_t i = 0; i < kBlobSize; i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::memcpy(&b[i], &x, 8);
    }
  return blobs;
}

void Die(const std::string& what) {
  std::fprintf(stderr, "paired_bench: %s\n", what.c_str());
  std::exit(1);
}

void WriteFile(const std::string& path, const std::vector<uint8_t>& data, bool datasync) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Die("open " + path + ": " + std::strerror(errno));
  if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) Die("write " + path);
  if ((datasync ? ::fdatasync(fd) : ::fsync(fd)) != 0) Die("fsync " + path);
  ::close(fd);
}

void FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || ::fsync(fd) != 0) Die("fsync dir " + dir);
  ::close(fd);
}

// Runs op(i) for i in [0, count) on `threads` threads; returns seconds.
double Run(int count, int threads, const std::function<void(int)>& op) {
  std::atomic<int> next{0};
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < count;) op(i);
    });
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Row {
  int threads;
  double plain, atomic, paired, drain, paired_paused, batched, uncarried;
};

int g_batch = 64;

// Puts every blob into a fresh PairedStore under dir; returns puts per second
// and (when uploads run) the seconds Drain took afterwards.
double PairedPuts(const std::string& dir, const std::string& slow_dir, const std::vector<std::vector<uint8_t>>& blobs,
                  int threads, bool slow_down, double* drain_secs, bool batched = false, bool carry = true) {
  auto fast = DiskStore::Open(dir + "/fast", {.exclusive = true});
  auto slow = DiskStore::Open(slow_dir);
  if (!fast.ok() || !slow.ok()) Die("open stores");
  auto faulty = std::make_unique<testing::FaultStore>(std::move(slow).value());
  faulty->SetDown(slow_down);
  PairedOptions options;
  options.carry_data_in_log = carry;
  auto paired = PairedStore::Open(std::move(fast).value(), std::move(faulty), dir + "/upload.log", options);
  if (!paired.ok()) Die(paired.status().ToString());
  std::vector<Pointer> keys;
  for (auto& b : blobs) keys.push_back(Pointer::Of(b));
  int count = static_cast<int>(blobs.size());
  double secs;
  if (!batched) {
    secs = Run(count, threads, [&](int i) {
      Status s = (*paired)->Put(keys[i], blobs[i]);
      if (!s.ok()) Die(s.ToString());
    });
  } else {
    // Each thread fills its own batch and commits it every g_batch blobs.
    std::atomic<int> next{0};
    auto start = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        auto batch = (*paired)->NewPutBatch();
        int staged = 0;
        for (int i; (i = next.fetch_add(1)) < count;) {
          if (Status s = batch->Put(keys[i], blobs[i]); !s.ok()) Die(s.ToString());
          if (++staged == g_batch) {
            if (Status s = batch->Commit(); !s.ok()) Die(s.ToString());
            batch = (*paired)->NewPutBatch();
            staged = 0;
          }
        }
        if (Status s = batch->Commit(); !s.ok()) Die(s.ToString());
      });
    for (auto& th : pool) th.join();
    secs = std::chrono::duration<double>(Clock::now() - start).count();
  }
  if (!slow_down) {
    auto drain_start = Clock::now();
    Status drained = (*paired)->Drain();
    if (!drained.ok()) Die(drained.ToString());
    *drain_secs = std::chrono::duration<double>(Clock::now() - drain_start).count();
  }
  return count / secs;
}

Row Measure(const std::string& base, const std::string& slow_base, int count, int threads, int round) {
  Row row{threads, 0, 0, 0, 0, 0, 0, 0};
  auto blobs = MakeBlobs(count, round * 100 + threads);
  std::string dir = base + "/r" + std::to_string(round) + "t" + std::to_string(threads);
  std::filesystem::create_directories(dir + "/plain");
  std::filesystem::create_directories(dir + "/atomic");
  for (int s = 0; s < 256; ++s) {
    char sub[8];
    std::snprintf(sub, sizeof sub, "/%02x", s);
    std::filesystem::create_directories(dir + "/atomic" + sub);
  }

  double secs = Run(count, threads, [&](int i) { WriteFile(dir + "/plain/" + std::to_string(i), blobs[i], false); });
  row.plain = count / secs;

  secs = Run(count, threads, [&](int i) {
    std::string hex = Pointer::Of(blobs[i]).Hex();
    std::string sub = dir + "/atomic/" + hex.substr(0, 2);
    std::string temp = sub + "/.tmp." + std::to_string(i);
    WriteFile(temp, blobs[i], true);
    if (::rename(temp.c_str(), (sub + "/" + hex).c_str()) != 0) Die("rename");
    FsyncDir(sub);
  });
  row.atomic = count / secs;

  std::string slow_dir = slow_base + "/r" + std::to_string(round) + "t" + std::to_string(threads);
  row.paired = PairedPuts(dir + "/p1", slow_dir + "/slow1", blobs, threads, false, &row.drain);
  double unused;
  row.paired_paused = PairedPuts(dir + "/p2", slow_dir + "/slow2", blobs, threads, true, &unused);
  row.batched = PairedPuts(dir + "/p3", slow_dir + "/slow3", blobs, threads, false, &unused, /*batched=*/true);
  row.uncarried = PairedPuts(dir + "/p4", slow_dir + "/slow4", blobs, threads, false, &unused, false, /*carry=*/false);
  std::filesystem::remove_all(slow_dir);
  std::filesystem::remove_all(dir);
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp", slow_dir;
  int count = 1000, threads = 16, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--dir") dir = argv[i + 1];
    else if (flag == "--slow-dir") slow_dir = argv[i + 1];
    else if (flag == "--count") count = std::atoi(argv[i + 1]);
    else if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--rounds") rounds = std::atoi(argv[i + 1]);
    else if (flag == "--batch") g_batch = std::atoi(argv[i + 1]);
    else Die("unknown flag " + flag);
  }
  if (count <= 0 || threads <= 0 || rounds <= 0 || g_batch <= 0)
    Die("--count, --threads, --rounds and --batch must be positive");
  std::string base = dir + "/paired_bench." + std::to_string(::getpid());
  std::string slow_base = (slow_dir.empty() ? dir : slow_dir) + "/paired_bench_slow." + std::to_string(::getpid());

  std::printf("Put of %d x 64 KiB blobs, fast store in %s, slow store in %s (median of %d rounds)\n", count,
              dir.c_str(), slow_dir.empty() ? dir.c_str() : slow_dir.c_str(), rounds);
  std::printf("%7s %13s %19s %12s %9s %9s %8s %16s %9s %14s %9s %15s %9s\n", "writers", "write+fsync/s",
              "temp+fsync+rename/s", "paired put/s", "vs plain", "vs atomic", "drain s", "put/s, slow down", "vs plain",
              "batch put/s", "vs plain", "no carry put/s", "vs plain");
  for (int t : {1, threads}) {
    std::vector<Row> rows;
    for (int r = 0; r < rounds; ++r) rows.push_back(Measure(base, slow_base, count, t, r));
    auto median = [&](double Row::*field) {
      std::vector<double> v;
      for (auto& row : rows) v.push_back(row.*field);
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    double plain = median(&Row::plain), atomic = median(&Row::atomic), paired = median(&Row::paired);
    // Each ratio is the median of the rounds' ratios: a round's figures share
    // the disk's mood, which on a noisy machine swings between rounds.
    auto ratio = [&](double Row::*num, double Row::*den) {
      std::vector<double> v;
      for (auto& row : rows) v.push_back(row.*num / row.*den);
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    double paused = median(&Row::paired_paused), batched = median(&Row::batched);
    double uncarried = median(&Row::uncarried);
    std::printf("%7d %13.0f %19.0f %12.0f %8.2fx %8.2fx %8.2f %16.0f %8.2fx %14.0f %8.2fx %15.0f %8.2fx\n", t, plain,
                atomic, paired, ratio(&Row::paired, &Row::plain), ratio(&Row::paired, &Row::atomic),
                median(&Row::drain), paused, ratio(&Row::paired_paused, &Row::plain), batched,
                ratio(&Row::batched, &Row::plain), uncarried, ratio(&Row::uncarried, &Row::plain));
  }
  std::filesystem::remove_all(base);
  std::filesystem::remove_all(slow_base);
  return 0;
}
