// pack_store_bench: a snapshot's batch into the one-file-per-blob DiskStore
// against the PackedDiskStore (packs + blob index), as a library call.
//
//   build/bench/pack_store_bench [--dir DIR] [--blobs N]   (default 1,600 blobs of 64 KiB = 100 MiB)
//
// For each store, three rounds (fresh random blobs each) of one PutBatch of
// N blobs and its Commit; prints the median wall time, the syncs the commit
// made (fdatasync, fsync, syncfs: counted through FileOps) and the files it
// left, with the ratio. Put it on the disk the volumes live on (--dir).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "store/disk_store.h"
#include "store/packed_disk_store.h"
#include "support/fault_file_ops.h"

using namespace amberfs;
using Clock = std::chrono::steady_clock;
using amberfs::testing::FaultFileOps;

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pack_store_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Round {
  double seconds = 0;
  int fdatasyncs = 0, fsyncs = 0, syncfs = 0;
};

std::vector<std::vector<uint8_t>> RandomBlobs(uint32_t seed, int n) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<uint8_t>> blobs(n, std::vector<uint8_t>(64 << 10));
  for (auto& b : blobs)
    for (size_t i = 0; i < b.size(); i += 8) {
      const uint64_t v = rng();
      std::memcpy(&b[i], &v, 8);
    }
  return blobs;
}

Round OneBatch(Store& store, const std::vector<std::vector<uint8_t>>& blobs) {
  std::vector<Pointer> keys;
  for (const auto& b : blobs) keys.push_back(Pointer::Of(b));  // hashed before, as a snapshot does
  FaultFileOps counting;
  Round r;
  const auto t0 = Clock::now();
  {
    ScopedFileOps scoped(&counting);
    auto batch = store.NewPutBatch();
    for (size_t i = 0; i < blobs.size(); ++i) {
      Status s = batch->Put(keys[i], blobs[i]);
      if (!s.ok()) Die(s.ToString());
    }
    Status s = batch->Commit();
    if (!s.ok()) Die(s.ToString());
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.fdatasyncs = counting.Calls(FaultFileOps::Call::kFdatasync);
  r.fsyncs = counting.Calls(FaultFileOps::Call::kFsync);
  r.syncfs = counting.Calls(FaultFileOps::Call::kSyncfs);
  return r;
}

uint64_t CountFiles(const std::string& dir) {
  uint64_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

Round Median(std::vector<Round> v) {
  std::sort(v.begin(), v.end(), [](const Round& a, const Round& b) { return a.seconds < b.seconds; });
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = "/tmp";
  int n = 1600;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--dir") base = argv[i + 1];
    else if (std::string(argv[i]) == "--blobs") n = std::atoi(argv[i + 1]);
    else Die(std::string("unknown option ") + argv[i]);
  }
  const std::string root = base + "/pack-store-bench-" + std::to_string(::getpid());
  std::vector<Round> disk_rounds, packed_rounds;
  uint64_t disk_files = 0, packed_files = 0;
  for (int round = 0; round < 3; ++round) {
    const auto blobs = RandomBlobs(1000 + round, n);
    {
      std::filesystem::remove_all(root);
      auto disk = DiskStore::Open(root + "/disk", DiskStoreOptions{.exclusive = true});
      if (!disk.ok()) Die(disk.status().ToString());
      const uint64_t before = CountFiles(root + "/disk");
      disk_rounds.push_back(OneBatch(**disk, blobs));
      disk_files = CountFiles(root + "/disk") - before;
    }
    {
      auto packed = PackedDiskStore::Open(root + "/packed");
      if (!packed.ok()) Die(packed.status().ToString());
      const uint64_t before = CountFiles(root + "/packed");
      packed_rounds.push_back(OneBatch(**packed, blobs));
      packed_files = CountFiles(root + "/packed") - before;
    }
    std::filesystem::remove_all(root);
  }
  const Round d = Median(disk_rounds), p = Median(packed_rounds);
  std::printf("one batch of %d blobs of 64 KiB (%.0f MiB), median of 3, in %s\n", n, n / 16.0, base.c_str());
  std::printf("%-16s %10s %10s %7s %7s %8s\n", "store", "seconds", "MiB/s", "fdsync", "fsync", "syncfs");
  std::printf("%-16s %10.3f %10.0f %7d %7d %8d   files +%llu\n", "DiskStore", d.seconds, n / 16.0 / d.seconds,
              d.fdatasyncs, d.fsyncs, d.syncfs, (unsigned long long)disk_files);
  std::printf("%-16s %10.3f %10.0f %7d %7d %8d   files +%llu\n", "PackedDiskStore", p.seconds, n / 16.0 / p.seconds,
              p.fdatasyncs, p.fsyncs, p.syncfs, (unsigned long long)packed_files);
  std::printf("ratio (DiskStore / PackedDiskStore wall time): %.2fx\n", d.seconds / p.seconds);
  return 0;
}
