#include "snapshot/chunk_hasher.h"

#include <doctest/doctest.h>

#include <random>
#include <thread>

using amberfs::ChunkBytes;
using amberfs::ChunkHasher;
using amberfs::Pointer;

TEST_CASE("hasher: SHA-256 per chunk in input order; zero chunks are null") {
  constexpr size_t kChunk = 64 << 10;
  constexpr size_t kCount = 40;
  std::vector<uint8_t> data(kChunk * kCount, 0);
  std::mt19937_64 rng(3);
  for (size_t i = 0; i < kCount; ++i) {
    if (i % 5 == 2) continue;  // all zero
    uint8_t* p = data.data() + i * kChunk;
    if (i % 5 == 4) {
      p[kChunk - 1] = 1;  // zero except the last byte: not null
      continue;
    }
    for (size_t k = 0; k < kChunk; k += 8) p[k] = static_cast<uint8_t>(rng());
  }
  std::vector<ChunkBytes> in;
  for (size_t i = 0; i < kCount; ++i) in.push_back({1000 + 7 * i, {data.data() + i * kChunk, kChunk}});
  in.push_back({5, {data.data(), 0}});  // empty bytes count as zero

  for (int threads : {-1, 0, 3}) {
    ChunkHasher hasher(threads);
    CHECK(hasher.threads() >= 1);
    for (int rep = 0; rep < 3; ++rep) {
      auto out = hasher.Hash(in);
      REQUIRE(out.size() == in.size());
      for (size_t i = 0; i < kCount; ++i) {
        CHECK(out[i].chunk == in[i].chunk);
        if (i % 5 == 2) {
          CHECK(out[i].pointer.IsNull());
        } else {
          CHECK(out[i].pointer == Pointer::Of(in[i].bytes));
        }
      }
      CHECK(out.back().pointer.IsNull());
    }
    CHECK(hasher.Hash({}).empty());
  }
}

TEST_CASE("hasher: concurrent callers each get their own answers") {
  ChunkHasher hasher;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::vector<uint8_t>> chunks(20, std::vector<uint8_t>(4096, static_cast<uint8_t>(t + 1)));
      std::vector<ChunkBytes> in;
      for (size_t i = 0; i < chunks.size(); ++i) {
        chunks[i][0] = static_cast<uint8_t>(i);
        in.push_back({i, chunks[i]});
      }
      for (int rep = 0; rep < 5; ++rep) {
        auto out = hasher.Hash(in);
        REQUIRE(out.size() == in.size());
        for (size_t i = 0; i < in.size(); ++i) CHECK(out[i].pointer == Pointer::Of(chunks[i]));
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(amberfs::IsAllZero(std::vector<uint8_t>(100, 0)));
  CHECK_FALSE(amberfs::IsAllZero(std::vector<uint8_t>{0, 0, 1}));
  CHECK_FALSE(amberfs::IsAllZero(std::vector<uint8_t>{1}));
}
