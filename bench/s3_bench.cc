// s3_bench: upload throughput of S3Store — distinct blobs of one size put
// from several threads until a byte total is reached. Prints one line:
//   amberfs-s3 blob_bytes=N threads=T bytes=B seconds=S bytes_per_s=R
//
// usage: s3_bench --endpoint URL --bucket B [--prefix P] [--blob-size BYTES]
//                 [--total BYTES] [--threads N] [--create-bucket]
// Credentials as for any S3 store: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
// or ~/.aws/credentials.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "store/s3_store.h"

using namespace amberfs;

namespace {

int Usage() {
  std::fprintf(stderr,
               "usage: s3_bench --endpoint URL --bucket B [--prefix P] [--blob-size BYTES] [--total BYTES]\n"
               "                [--threads N] [--create-bucket]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  S3StoreOptions options;
  size_t blob_size = 64 * 1024, total = 64 << 20;
  int threads = 16;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "--create-bucket") {
      options.bucket_at_open = S3StoreOptions::BucketAtOpen::kCreate;
      continue;
    }
    if ((v = next()) == nullptr) return Usage();
    if (arg == "--endpoint") options.endpoint = v;
    else if (arg == "--bucket") options.bucket = v;
    else if (arg == "--prefix") options.prefix = v;
    else if (arg == "--blob-size") blob_size = std::strtoull(v, nullptr, 10);
    else if (arg == "--total") total = std::strtoull(v, nullptr, 10);
    else if (arg == "--threads") threads = std::atoi(v);
    else return Usage();
  }
  if (options.endpoint.empty() || options.bucket.empty() || blob_size == 0 || threads < 1) return Usage();
  auto creds = LoadS3Credentials("");
  if (!creds.ok()) {
    std::fprintf(stderr, "s3_bench: %s\n", creds.status().ToString().c_str());
    return 1;
  }
  options.credentials = *creds;
  auto opened = S3Store::Open(options);
  if (!opened.ok()) {
    std::fprintf(stderr, "s3_bench: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  S3Store& store = **opened;

  // Pseudo-random base bytes; each blob stamps its index and the run's start
  // time in front so every blob (and every run) is distinct.
  std::vector<uint8_t> base(blob_size);
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (auto& b : base) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = static_cast<uint8_t>(x);
  }
  const uint64_t run_id = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  const size_t count = (total + blob_size - 1) / blob_size;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      std::vector<uint8_t> blob = base;
      for (size_t i = next++; i < count && !failed; i = next++) {
        uint64_t stamp[2] = {run_id, i};
        std::memcpy(blob.data(), stamp, std::min(sizeof stamp, blob.size()));
        Status s = store.Put(Pointer::Of(blob), blob);
        if (!s.ok()) {
          std::fprintf(stderr, "s3_bench: %s\n", s.ToString().c_str());
          failed = true;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) return 1;
  double bytes = static_cast<double>(count * blob_size);
  std::printf("amberfs-s3 blob_bytes=%zu threads=%d bytes=%.0f seconds=%.3f bytes_per_s=%.0f\n", blob_size, threads,
              bytes, seconds, bytes / seconds);
  return 0;
}
