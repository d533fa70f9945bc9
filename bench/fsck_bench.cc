// fsck_bench: what fsck.amberfs costs.
//
//   build/bench/fsck_bench [--dir DIR] [--fsck PATH] [--runs N] [--data-volume DIR]
//
// --data-volume reuses (or builds once and keeps) the 1 GiB volume, whose
// construction (every blob fsynced into two stores) takes minutes.
//
// 1. --read-data on a 1 GiB volume of random data with several snapshots
//    (four 256 MiB fills, then two snapshots rewriting 5% of the chunks),
//    against `openssl dgst -sha256` over the same blob files on one core.
//    Figure of merit: fsck bytes/s per hashing thread / openssl bytes/s
//    (target >= 0.7).
// 2. The default (structural) check of a 64 GiB sparse volume with 100 small
//    snapshots (4 changed chunks each); target < 2 s.
// Both run the real fsck.amberfs binary (default: next to this program's
// directory, ../fsck.amberfs). Medians of --runs runs (default 3). Targets are
// reported, never asserted.
#include <sys/wait.h>
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

#include "support/fsck_test_volume.h"

using amberfs::testing::TestVolume;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fsck_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(const amberfs::Status& st, const char* what) {
  if (!st.ok()) Die(std::string(what) + ": " + st.ToString());
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Runs a shell command, returns (seconds, exit status).
std::pair<double, int> Timed(const std::string& cmd) {
  auto start = Clock::now();
  int rc = std::system(cmd.c_str());
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  return {s, WIFEXITED(rc) ? WEXITSTATUS(rc) : 128};
}

std::vector<uint8_t> Random(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> out(n);
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t x = rng();
    std::memcpy(&out[i], &x, 8);
  }
  return out;
}

uint64_t BlobBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

void BuildDataVolume(const std::string& dir) {
  constexpr uint64_t kSize = 1ull << 30, kChunk = 64 << 10, kFill = 256ull << 20;
  auto v = TestVolume::Create(dir, kSize, kChunk, 256);
  Check(v.status(), "create the 1 GiB volume");
  std::mt19937_64 rng(42);
  int n = 0;
  for (uint64_t off = 0; off < kSize; off += kFill) {
    for (uint64_t o = off; o < off + kFill; o += 4 << 20) Check((*v)->Write(o, Random(rng, 4 << 20)), "write");
    Check((*v)->Snapshot("fill" + std::to_string(n++)), "snapshot");
  }
  for (int s = 0; s < 2; ++s) {
    for (uint64_t i = 0; i < kSize / kChunk / 20; ++i) {
      Check((*v)->Write(rng() % (kSize / kChunk) * kChunk, Random(rng, kChunk)), "rewrite");
    }
    Check((*v)->Snapshot("rewrite" + std::to_string(s)), "snapshot");
  }
  Check((*v)->Close(), "close");
}

void BuildSparseVolume(const std::string& dir) {
  constexpr uint64_t kSize = 64ull << 30, kChunk = 64 << 10;
  auto v = TestVolume::Create(dir, kSize, kChunk, 256);
  Check(v.status(), "create the 64 GiB volume");
  std::mt19937_64 rng(7);
  for (int s = 0; s < 100; ++s) {
    for (int i = 0; i < 4; ++i) Check((*v)->Write(rng() % (kSize / kChunk) * kChunk, Random(rng, kChunk)), "write");
    Check((*v)->Snapshot("s" + std::to_string(s)), "snapshot");
  }
  Check((*v)->Close(), "close");
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = "/tmp", fsck, keep_data;
  int runs = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) base = argv[++i];
    else if (a == "--fsck" && i + 1 < argc) fsck = argv[++i];
    else if (a == "--runs" && i + 1 < argc) runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--data-volume" && i + 1 < argc) keep_data = argv[++i];
    else Die("usage: fsck_bench [--dir DIR] [--fsck PATH] [--runs N]");
  }
  if (fsck.empty()) {
    fsck = std::filesystem::path(std::filesystem::canonical("/proc/self/exe")).parent_path().parent_path() /
           "fsck.amberfs";
  }
  if (!std::filesystem::exists(fsck)) Die(fsck + " not found (run make)");
  if (std::system("command -v openssl >/dev/null") != 0) Die("openssl not installed");
  char templ[4096];
  std::snprintf(templ, sizeof templ, "%s/fsck-bench-XXXXXX", base.c_str());
  if (::mkdtemp(templ) == nullptr) Die("mkdtemp in " + base);
  const std::string work = templ;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());

  // 1. --read-data against openssl.
  const std::string data_vol = keep_data.empty() ? work + "/data" : keep_data;
  auto t0 = Clock::now();
  if (keep_data.empty() || !std::filesystem::exists(data_vol + "/config")) BuildDataVolume(data_vol);
  const uint64_t bytes = BlobBytes(data_vol + "/fast/blobs");
  std::printf("built a 1 GiB volume, 6 snapshots, %.0f MiB of blobs in %.1f s\n", bytes / 1048576.0,
              std::chrono::duration<double>(Clock::now() - t0).count());
  std::vector<double> ours, theirs, structural_only;
  const std::string openssl =
      "find " + data_vol + "/fast/blobs -type f -print0 | xargs -0 openssl dgst -sha256 >/dev/null";
  const std::string ours_cmd = fsck + " --read-data --no-progress --threads " + std::to_string(cores) + " " +
                               data_vol + " >/dev/null";
  Timed(openssl);  // warm the page cache: both then read from memory
  for (int r = 0; r < runs; ++r) {
    auto [ts, rcs] = Timed(openssl);
    if (rcs != 0) Die("openssl failed");
    theirs.push_back(ts);
    auto [to, rco] = Timed(ours_cmd);
    if (rco != 0) Die("fsck.amberfs --read-data exited " + std::to_string(rco) + " on a clean volume");
    ours.push_back(to);
    auto [tn, rcn] = Timed(fsck + " --no-progress " + data_vol + " >/dev/null");
    if (rcn != 0) Die("fsck.amberfs exited " + std::to_string(rcn) + " on a clean volume");
    structural_only.push_back(tn);
  }
  // The checks without --read-data (the image comparison hashes the 1 GiB
  // image too) are taken out, so the figure is the data read alone.
  const double read_time = std::max(1e-6, Median(ours) - Median(structural_only));
  const double ours_bps = bytes / read_time, theirs_bps = bytes / Median(theirs);
  std::printf("\n%-44s %10s %12s %14s\n", "read-data (same bytes, page cache warm)", "seconds", "MiB/s",
              "MiB/s per core");
  std::printf("%-44s %10.3f %12.0f %14.0f\n", "openssl dgst -sha256 (1 core)", Median(theirs), theirs_bps / 1048576,
              theirs_bps / 1048576);
  std::printf("%-44s %10.3f\n", "fsck.amberfs without --read-data", Median(structural_only));
  std::printf("%-44s %10.3f\n", "fsck.amberfs --read-data", Median(ours));
  std::printf("%-44s %10.3f %12.0f %14.0f\n", ("  the data read (" + std::to_string(cores) + " threads)").c_str(),
              read_time, ours_bps / 1048576, ours_bps / cores / 1048576);
  std::printf("ratio per core: %.2fx openssl (target >= 0.70)\n", ours_bps / cores / theirs_bps);
  if (keep_data.empty()) std::filesystem::remove_all(data_vol);

  // 2. Structural check of a 64 GiB sparse volume with 100 small snapshots.
  const std::string sparse_vol = work + "/sparse";
  t0 = Clock::now();
  BuildSparseVolume(sparse_vol);
  std::printf("\nbuilt a 64 GiB sparse volume with 100 snapshots in %.1f s\n",
              std::chrono::duration<double>(Clock::now() - t0).count());
  std::vector<double> structural;
  for (int r = 0; r < runs; ++r) {
    auto [t, rc] = Timed(fsck + " --no-progress " + sparse_vol + " >/dev/null");
    if (rc != 0) Die("fsck.amberfs exited " + std::to_string(rc) + " on a clean volume");
    structural.push_back(t);
  }
  std::printf("%-44s %10.3f s (target < 2 s)\n", "fsck.amberfs structural check, 64 GiB, 100 snaps", Median(structural));
  std::filesystem::remove_all(work);
  return 0;
}
