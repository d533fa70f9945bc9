// blob_index_bench: the blob index at scale: build time, open time, memory
// and lookup rates for N blobs (default 10 million).
//
//   build/bench/blob_index_bench [--dir DIR] [--blobs N]
//
// A child process builds the index (commits of 1,600 blobs, a snapshot
// batch of 100 MiB of 64 KiB chunks) and exits; the parent then opens it
// and measures the open's wall time and its resident-memory growth
// (VmRSS), then lookups of present and absent blobs. The bound is
// at most 16 bytes of resident memory a blob.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "store/blob_index.h"

using namespace amberfs;
using Clock = std::chrono::steady_clock;

namespace {

Pointer Id(uint64_t i) { return Pointer::Of(&i, sizeof i); }

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "blob_index_bench: %s\n", what.c_str());
  std::exit(1);
}

void Build(const std::string& dir, uint64_t n) {
  auto index = BlobIndex::Open(dir);
  if (!index.ok()) Die(index.status().ToString());
  const auto t0 = Clock::now();
  std::vector<IndexUpdate> batch;
  for (uint64_t i = 0; i < n; ++i) {
    batch.push_back(IndexUpdate{Id(i), false, BlobLocation{Id(~(i / 256)), static_cast<uint32_t>((i % 256) * 65536), 65536, 1}});
    if (batch.size() == 1600 || i + 1 == n) {
      Status s = (*index)->Commit(batch);
      if (!s.ok()) Die(s.ToString());
      batch.clear();
    }
  }
  const BlobIndexStats st = (*index)->Stats();
  std::printf("build: %llu blobs in %.1f s (%.0f blobs/s, commits of 1,600), %llu flushes, %llu merges\n",
              (unsigned long long)n, Seconds(t0, Clock::now()), n / Seconds(t0, Clock::now()),
              (unsigned long long)st.flushes, (unsigned long long)st.merges);
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = "/tmp";
  uint64_t n = 10'000'000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--dir") base = argv[i + 1];
    else if (std::string(argv[i]) == "--blobs") n = std::strtoull(argv[i + 1], nullptr, 10);
    else Die(std::string("unknown option ") + argv[i]);
  }
  const std::string dir = base + "/blob-index-bench-" + std::to_string(::getpid());
  pid_t child = ::fork();
  if (child == 0) {
    Build(dir, n);
    std::fflush(stdout);
    std::_Exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("the build failed");
  uint64_t disk = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) disk += e.file_size();

  const long rss0 = RssKiB();
  const auto t0 = Clock::now();
  auto index = BlobIndex::Open(dir);
  const auto t1 = Clock::now();
  if (!index.ok()) Die(index.status().ToString());
  const long rss1 = RssKiB();
  const BlobIndexStats st = (*index)->Stats();
  constexpr uint64_t kLookups = 200'000;
  uint64_t found = 0, absent = 0;
  const auto t2 = Clock::now();
  for (uint64_t i = 0; i < kLookups; ++i) found += (*index)->Lookup(Id((i * 7919) % n)).ok();
  const auto t3 = Clock::now();
  for (uint64_t i = 0; i < kLookups; ++i) absent += !(*index)->Contains(Id(n + i)).value();
  const auto t4 = Clock::now();
  const long rss2 = RssKiB();
  std::printf("open: %.1f ms; RSS +%ld KiB at open (%.2f B/blob), +%ld KiB after %llu lookups (%.2f B/blob); "
              "bound 16 B/blob\n",
              Seconds(t0, t1) * 1e3, rss1 - rss0, (rss1 - rss0) * 1024.0 / n, rss2 - rss0,
              (unsigned long long)(2 * kLookups), (rss2 - rss0) * 1024.0 / n);
  std::printf("index: %llu segments, %llu in the memtable, %.1f MiB on disk (%.1f B/blob), estimate %.2f B/blob\n",
              (unsigned long long)st.segments, (unsigned long long)st.memtable_entries, disk / 1048576.0,
              double(disk) / n, double(st.resident_bytes) / n);
  std::printf("lookups: present %.0f/s (%llu of %llu found), absent %.0f/s (%llu of %llu absent)\n",
              kLookups / Seconds(t2, t3), (unsigned long long)found, (unsigned long long)kLookups,
              kLookups / Seconds(t3, t4), (unsigned long long)absent, (unsigned long long)kLookups);
  index->reset();
  std::filesystem::remove_all(dir);
  return found == kLookups && absent == kLookups ? 0 : 1;
}
