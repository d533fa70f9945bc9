// envelope_bench: what the blob envelope (crypto/blob_envelope.h) costs per
// blob, encode then decode, in MB/s of plaintext, on 64 KiB random blobs and
// on 64 KiB of English-like text, for each setting: off (no compression, no
// key), zstd, aes (AES-256-GCM), zstd+aes. SHA-256 of the same bytes (what a
// snapshot already pays per blob) is the reference line. Medians of 5 runs
// over 16 MiB each.
//
//   build/bench/envelope_bench [--dir DIR]   (DIR unused: all in memory)
//
// Issue 15 asks for snapshot throughput with both on at >= 0.8x of both off
// on random data; the envelope's share of that is the "random" row's ratio.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "crypto/blob_envelope.h"
#include "crypto/key_ring.h"
#include "store/pointer.h"

using namespace amberfs;

namespace {

constexpr size_t kBlob = 64 << 10;
constexpr size_t kBlobs = 256;
constexpr int kRuns = 5;

std::vector<std::vector<uint8_t>> RandomBlobs() {
  std::mt19937_64 rng(1);
  std::vector<std::vector<uint8_t>> out(kBlobs, std::vector<uint8_t>(kBlob));
  for (auto& b : out)
    for (auto& c : b) c = static_cast<uint8_t>(rng());
  return out;
}

std::vector<std::vector<uint8_t>> TextBlobs() {
  static const char* kWords[] = {"the", "volume", "snapshot", "of", "a", "block", "store", "is", "written", "to",
                                 "slow", "fast", "and", "each", "chunk", "carries", "its", "hash", "when", "drained",
                                 "under", "another", "name", "compressed", "sealed", "with", "key", "file", "mount"};
  std::mt19937 rng(2);
  std::vector<std::vector<uint8_t>> out;
  for (size_t i = 0; i < kBlobs; ++i) {
    std::string s;
    while (s.size() < kBlob) {
      s += kWords[rng() % 29];
      s += (rng() % 11 == 0) ? ".\n" : " ";
    }
    s.resize(kBlob);
    out.emplace_back(s.begin(), s.end());
  }
  return out;
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

template <typename F>
double MedianMBps(F&& pass) {
  std::vector<double> r;
  for (int i = 0; i < kRuns; ++i) {
    const double t0 = CpuSeconds();
    pass();
    r.push_back(kBlobs * kBlob / 1048576.0 / (CpuSeconds() - t0));
  }
  std::sort(r.begin(), r.end());
  return r[r.size() / 2];
}

double RoundTrip(const std::vector<std::vector<uint8_t>>& blobs, const EnvelopeOptions& o, size_t* stored) {
  return MedianMBps([&] {
    *stored = 0;
    for (const auto& b : blobs) {
      auto env = EncodeBlob(b, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", o);
      auto back = DecodeBlob(*env, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", o.key);
      if (!env.ok() || !back.ok() || back->size() != b.size()) {
        std::fprintf(stderr, "envelope_bench: round trip failed\n");
        std::exit(1);
      }
      *stored += env->size();
    }
  });
}

}  // namespace

int main() {
  auto ring = KeyRing::FromMaster(*NewMasterKey());
  const SealKey* key = &ring->data();
  struct Setting {
    const char* name;
    EnvelopeOptions o;
  };
  const Setting settings[] = {{"off", {false, 1, nullptr}},
                              {"zstd", {true, 1, nullptr}},
                              {"aes", {false, 1, key}},
                              {"zstd+aes", {true, 1, key}}};
  std::printf("%-8s %-9s %10s %8s %12s\n", "data", "setting", "MB/s cpu", "vs off", "stored/in");
  for (auto [label, blobs] : {std::pair{"random", RandomBlobs()}, std::pair{"text", TextBlobs()}}) {
    double off = 0;
    for (const auto& s : settings) {
      size_t stored = 0;
      double mbps = RoundTrip(blobs, s.o, &stored);
      if (off == 0) off = mbps;
      std::printf("%-8s %-9s %10.0f %7.2fx %12.3f\n", label, s.name, mbps, mbps / off,
                  static_cast<double>(stored) / (kBlobs * kBlob));
    }
    double sha = MedianMBps([&] {
      for (const auto& b : blobs) (void)Pointer::Of(b);
    });
    std::printf("%-8s %-9s %10.0f\n", label, "sha256", sha);
    double pipe[2];
    for (int on = 0; on < 2; ++on) {
      const EnvelopeOptions o = on ? settings[3].o : settings[0].o;
      pipe[on] = MedianMBps([&] {
        for (const auto& b : blobs) {
          Pointer id = Pointer::Of(b);
          auto env = EncodeBlob(b, id.Hex(), o);
          if (!env.ok()) std::exit(1);
        }
      });
    }
    std::printf("%-8s %-9s %10.0f %7.2fx   (snapshot CPU per blob: hash + encode, zstd+aes vs off %.0f MB/s)\n", label,
                "sha+enc", pipe[1], pipe[1] / pipe[0], pipe[0]);
  }
  return 0;
}
