// BlobIndex (blob_index.h): lookups through the memtable, the log and the
// segments; flushes and merges; crashes (torn log tails, leftovers of an
// interrupted flush); damage; faults; concurrency; and a million entries
// with their open time and memory.
#include "store/blob_index.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "base/durable_file.h"
#include "store/store.h"
#include "support/fault_file_ops.h"
#include "support/store_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::FaultFileOps;
using testing::TempDir;

std::vector<std::string> Files(const std::string& dir) { return testing::DirEntries(dir); }

Pointer Id(uint64_t i) {
  const std::string s = "blob " + std::to_string(i);
  return Pointer::Of(s.data(), s.size());
}
Pointer Pack(uint64_t i) {
  const std::string s = "pack " + std::to_string(i);
  return Pointer::Of(s.data(), s.size());
}
BlobLocation Where(uint64_t i, uint64_t version = 0) {
  return BlobLocation{Pack(i / 100 + version * 1000003), static_cast<uint32_t>((i % 100) * 65536),
                      static_cast<uint32_t>(65536 - version), static_cast<uint32_t>(i % 4)};
}
IndexUpdate Put(uint64_t i, uint64_t version = 0) { return IndexUpdate{Id(i), false, Where(i, version)}; }
IndexUpdate Remove(uint64_t i) { return IndexUpdate{Id(i), true, {}}; }

std::unique_ptr<BlobIndex> MustOpen(const std::string& dir, BlobIndexOptions o = {}) {
  auto r = BlobIndex::Open(dir, o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(*r);
}


std::string OnlyFile(const std::string& dir, const std::string& prefix) {
  std::string found;
  for (const std::string& f : Files(dir))
    if (f.rfind(prefix, 0) == 0) found = f;
  return dir + "/" + found;
}

// What the index must say, against a model.
void CheckAgainst(const BlobIndex& index, const std::map<Pointer, BlobLocation>& model, uint64_t ids) {
  for (uint64_t i = 0; i < ids; ++i) {
    auto it = model.find(Id(i));
    auto got = index.Lookup(Id(i));
    if (it == model.end()) {
      CHECK(got.status().code() == ENOENT);
    } else {
      REQUIRE_MESSAGE(got.ok(), got.status().ToString());
      CHECK(*got == it->second);
    }
  }
  std::vector<std::pair<Pointer, BlobLocation>> listed;
  REQUIRE(index.ForEach([&](const Pointer& p, const BlobLocation& w) {
    listed.emplace_back(p, w);
    return Status::OK();
  }).ok());
  CHECK(listed == std::vector<std::pair<Pointer, BlobLocation>>(model.begin(), model.end()));
}

TEST_CASE("blob index: commits are found, survive reopen, later updates and removals win") {
  TempDir dir("bidx");
  const std::string d = dir / "index";
  {
    auto index = MustOpen(d);
    CHECK(index->Lookup(Id(1)).status().code() == ENOENT);
    std::vector<IndexUpdate> batch = {Put(1), Put(2), Put(3)};
    REQUIRE(index->Commit(batch).ok());
    CHECK(index->Lookup(Id(2)).value() == Where(2));
    std::vector<IndexUpdate> second = {Put(2, 1), Remove(3), Remove(99)};
    REQUIRE(index->Commit(second).ok());
    CHECK(index->Lookup(Id(2)).value() == Where(2, 1));
    CHECK(index->Contains(Id(3)).value() == false);
    CHECK(index->Contains(Id(1)).value() == true);
  }
  auto index = MustOpen(d);  // from the log
  CHECK(index->Lookup(Id(1)).value() == Where(1));
  CHECK(index->Lookup(Id(2)).value() == Where(2, 1));
  CHECK(index->Lookup(Id(3)).status().code() == ENOENT);
  CHECK(index->Stats().memtable_entries == 4);
  // And once flushed into a segment.
  REQUIRE(index->Flush().ok());
  CHECK(index->Stats().segments == 1);
  CHECK(index->Stats().memtable_entries == 0);
  index.reset();
  index = MustOpen(d);
  CheckAgainst(*index, {{Id(1), Where(1)}, {Id(2), Where(2, 1)}}, 100);
}

TEST_CASE("blob index: bad updates are EINVAL and change nothing") {
  TempDir dir("bidx");
  auto index = MustOpen(dir / "i");
  IndexUpdate null_blob = Put(1);
  null_blob.blob = Pointer();
  IndexUpdate null_pack = Put(1);
  null_pack.where.pack = Pointer();
  IndexUpdate flags = Put(1);
  flags.where.flags = 8;
  IndexUpdate too_long = Put(1);
  too_long.where.length = static_cast<uint32_t>(kMaxBlobBytes) + 1;
  for (const IndexUpdate& bad : {null_blob, null_pack, flags, too_long}) {
    std::vector<IndexUpdate> batch = {Put(2), bad};
    CHECK(index->Commit(batch).code() == EINVAL);
  }
  CHECK(index->Contains(Id(2)).value() == false);
  CHECK(index->Stats().log_bytes == 0);
  CHECK(BlobIndex::Open(dir / "j", BlobIndexOptions{.memtable_entries = 0}).status().code() == EINVAL);
}

TEST_CASE("blob index: flushes and merges keep every answer, tombstones included") {
  TempDir dir("bidx");
  const std::string d = dir / "index";
  BlobIndexOptions o{.memtable_entries = 200, .bloom_bits_per_entry = 10};
  std::map<Pointer, BlobLocation> model;
  {
    auto index = MustOpen(d, o);
    uint64_t version = 0;
    for (int round = 0; round < 60; ++round) {
      std::vector<IndexUpdate> batch;
      for (int k = 0; k < 97; ++k) {
        const uint64_t i = (round * 97 + k * 31) % 4000;
        if ((round + k) % 7 == 0) {
          batch.push_back(Remove(i));
          model.erase(Id(i));
        } else {
          batch.push_back(Put(i, ++version % 5));
          model[Id(i)] = Where(i, version % 5);
        }
      }
      // One commit holds each blob once (a batch stores a blob once).
      std::map<Pointer, IndexUpdate> last;
      for (const auto& u : batch) last[u.blob] = u;
      batch.clear();
      for (const auto& [k, u] : last) batch.push_back(u);
      REQUIRE(index->Commit(batch).ok());
    }
    const BlobIndexStats st = index->Stats();
    MESSAGE("after 60 commits: " << st.segments << " segments, " << st.flushes << " flushes, " << st.merges
                                 << " merges, " << st.memtable_entries << " in the memtable");
    CHECK(st.flushes >= 20);
    CHECK(st.merges >= 5);
    CHECK(st.segments <= 8);  // a binary counter over ~28 flushes
    CheckAgainst(*index, model, 4000);
  }
  auto index = MustOpen(d, o);
  CheckAgainst(*index, model, 4000);
  // Only the manifest's files remain.
  for (const std::string& f : Files(d)) CHECK((f == "MANIFEST" || f.rfind("seg-", 0) == 0 || f.rfind("log-", 0) == 0));
  CHECK(Files(d).size() == 2 + index->Stats().segments);
}

TEST_CASE("blob index: a torn log tail is dropped, the batches before it kept") {
  TempDir dir("bidx");
  const std::string d = dir / "index";
  std::vector<uint64_t> sizes;
  {
    auto index = MustOpen(d);
    for (uint64_t b = 0; b < 3; ++b) {
      std::vector<IndexUpdate> batch;
      for (uint64_t k = 0; k < 10; ++k) batch.push_back(Put(b * 10 + k));
      REQUIRE(index->Commit(batch).ok());
      sizes.push_back(index->Stats().log_bytes);
    }
  }
  const std::string log = OnlyFile(d, "log-");
  SUBCASE("cut inside the last record") {
    REQUIRE(::truncate(log.c_str(), static_cast<off_t>(sizes[2] - 5)) == 0);
  }
  SUBCASE("a damaged byte in the last record") {
    REQUIRE(testing::FlipByte(log, static_cast<off_t>(sizes[1] + 100), 0x5a));
  }
  SUBCASE("garbage appended after a whole third batch, and the third batch cut") {
    REQUIRE(::truncate(log.c_str(), static_cast<off_t>(sizes[1] + 24)) == 0);
    std::ofstream(log, std::ios::app) << std::string(100, 'x');
  }
  auto index = MustOpen(d);
  CHECK(index->Stats().torn_tail_bytes > 0);
  CHECK(static_cast<uint64_t>(std::filesystem::file_size(log)) == sizes[1]);
  for (uint64_t i = 0; i < 20; ++i) CHECK(index->Lookup(Id(i)).value() == Where(i));
  for (uint64_t i = 20; i < 30; ++i) CHECK(index->Contains(Id(i)).value() == false);
  // New commits go after the good records and survive the next open.
  std::vector<IndexUpdate> batch = {Put(25)};
  REQUIRE(index->Commit(batch).ok());
  index.reset();
  index = MustOpen(d);
  CHECK(index->Stats().torn_tail_bytes == 0);
  CHECK(index->Lookup(Id(25)).value() == Where(25));
  CHECK(index->Lookup(Id(19)).value() == Where(19));
}

TEST_CASE("blob index: leftovers of an interrupted flush or merge are removed at open") {
  TempDir dir("bidx");
  const std::string d = dir / "index";
  {
    auto index = MustOpen(d, BlobIndexOptions{.memtable_entries = 50});
    std::vector<IndexUpdate> batch;
    for (uint64_t i = 0; i < 120; ++i) batch.push_back(Put(i));
    REQUIRE(index->Commit(batch).ok());
  }
  const std::vector<std::string> before = Files(d);
  std::ofstream(d + "/seg-00000000000000ff") << "a segment a crash left before its manifest";
  std::ofstream(d + "/log-00000000000000fe") << "a log a crash left";
  std::ofstream(d + "/" + MakeTempName()) << "a temp file";
  auto index = MustOpen(d);
  CHECK(Files(d) == before);
  for (uint64_t i = 0; i < 120; ++i) CHECK(index->Lookup(Id(i)).value() == Where(i));
}

TEST_CASE("blob index: a missing or damaged manifest or segment is EBADMSG, never guessed") {
  TempDir dir("bidx");
  const std::string d = dir / "index";
  {
    auto index = MustOpen(d);
    std::vector<IndexUpdate> batch;
    for (uint64_t i = 0; i < 300; ++i) batch.push_back(Put(i));
    REQUIRE(index->Commit(batch).ok());
    REQUIRE(index->Flush().ok());
  }
  const std::string seg = OnlyFile(d, "seg-");
  SUBCASE("no manifest") {
    std::filesystem::remove(d + "/MANIFEST");
    auto r = BlobIndex::Open(d);
    CHECK(r.status().code() == EBADMSG);
    CHECK(r.status().message().find("no MANIFEST") != std::string::npos);
  }
  SUBCASE("manifest edited") {
    std::string text;
    std::getline(std::ifstream(d + "/MANIFEST"), text, '\0');
    text[text.find("seg ") + 10] ^= 1;
    std::ofstream(d + "/MANIFEST", std::ios::trunc) << text;
    CHECK(BlobIndex::Open(d).status().code() == EBADMSG);
  }
  SUBCASE("segment header") {
    REQUIRE(testing::FlipByte(seg, 20, 1));
    CHECK(BlobIndex::Open(d).status().code() == EBADMSG);
  }
  SUBCASE("segment filter") {
    const auto size = std::filesystem::file_size(seg);
    REQUIRE(testing::FlipByte(seg, static_cast<off_t>(size - 3), 0xff));
    CHECK(BlobIndex::Open(d).status().code() == EBADMSG);
  }
  SUBCASE("segment cut short") {
    REQUIRE(::truncate(seg.c_str(), 8192) == 0);
    CHECK(BlobIndex::Open(d).status().code() == EBADMSG);
  }
  SUBCASE("a page: the lookups that read it fail, others work") {
    REQUIRE(testing::FlipByte(seg, 4096 + 100, 0x77));  // page 0
    auto index = MustOpen(d);
    int bad = 0, good = 0;
    for (uint64_t i = 0; i < 300; ++i) {
      auto r = index->Lookup(Id(i));
      if (r.ok()) {
        CHECK(*r == Where(i));
        ++good;
      } else {
        CHECK(r.status().code() == EBADMSG);
        ++bad;
      }
    }
    CHECK(bad >= 1);
    CHECK(good >= 200);
    CHECK(index->ForEach([](const Pointer&, const BlobLocation&) { return Status::OK(); }).code() == EBADMSG);
  }
}

TEST_CASE("blob index: a failed log sync fails that commit and every later one until reopened") {
  TempDir dir("bidx");
  const std::string d = dir / "index";
  auto index = MustOpen(d);
  std::vector<IndexUpdate> one = {Put(1)}, two = {Put(2)}, three = {Put(3)};
  REQUIRE(index->Commit(one).ok());
  FaultFileOps faults;
  faults.Fail(FaultFileOps::Call::kFdatasync, EIO, 1);
  {
    ScopedFileOps scoped(&faults);
    CHECK(index->Commit(two).code() == EIO);
  }
  CHECK(index->Commit(three).code() == EIO);  // sticky
  CHECK(index->Contains(Id(2)).value() == false);
  index.reset();
  index = MustOpen(d);
  CHECK(index->Contains(Id(1)).value());
  CHECK(index->Contains(Id(2)).value() == false);  // rolled back: it never returned OK
  REQUIRE(index->Commit(three).ok());
  CHECK(index->Contains(Id(3)).value());
}

TEST_CASE("blob index: a flush that fails leaves the commit durable and is retried") {
  for (auto call : {FaultFileOps::Call::kRename, FaultFileOps::Call::kFdatasync}) {
    CAPTURE(static_cast<int>(call));
    TempDir dir("bidx");
    const std::string d = dir / "index";
    auto index = MustOpen(d, BlobIndexOptions{.memtable_entries = 10});
    std::vector<IndexUpdate> batch;
    for (uint64_t i = 0; i < 20; ++i) batch.push_back(Put(i));
    FaultFileOps faults;
    // Let the commit's own log sync through; fail the flush's first one.
    faults.Fail(call, EIO, 1, call == FaultFileOps::Call::kFdatasync ? 1 : 0);
    {
      ScopedFileOps scoped(&faults);
      REQUIRE(index->Commit(batch).ok());
    }
    CHECK(index->Stats().segments == 0);
    CHECK(index->Stats().memtable_entries == 20);
    for (uint64_t i = 0; i < 20; ++i) CHECK(index->Lookup(Id(i)).value() == Where(i));
    std::vector<IndexUpdate> more = {Put(20)};
    REQUIRE(index->Commit(more).ok());  // flushes this time
    CHECK(index->Stats().segments == 1);
    index.reset();
    index = MustOpen(d);
    for (uint64_t i = 0; i <= 20; ++i) CHECK(index->Lookup(Id(i)).value() == Where(i));
    CHECK(Files(d).size() == 3);  // MANIFEST, one segment, one log
  }
}

TEST_CASE("blob index: lookups run while commits flush and merge") {
  TempDir dir("bidx");
  auto index = MustOpen(dir / "index", BlobIndexOptions{.memtable_entries = 64});
  std::atomic<uint64_t> committed{0};
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const uint64_t n = committed.load();
        for (uint64_t i = 0; i < n; i += 7) {
          auto r = index->Lookup(Id(i));
          if (!r.ok() || !(*r == Where(i))) ++wrong;
        }
      }
    });
  }
  for (uint64_t b = 0; b < 100; ++b) {
    std::vector<IndexUpdate> batch;
    for (uint64_t k = 0; k < 20; ++k) batch.push_back(Put(b * 20 + k));
    REQUIRE(index->Commit(batch).ok());
    committed.store((b + 1) * 20);
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(wrong.load() == 0);
  CHECK(index->Stats().merges > 0);
}

long RssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

TEST_CASE("blob index: a million blobs open fast and stay small") {
  TempDir dir("bidx", "/var/tmp");
  const std::string d = dir / "index";
  constexpr uint64_t kBlobs = 1'000'000;
  const auto t0 = std::chrono::steady_clock::now();
  {
    auto index = MustOpen(d);
    std::vector<IndexUpdate> batch;
    for (uint64_t i = 0; i < kBlobs; ++i) {
      batch.push_back(Put(i));
      if (batch.size() == 16384) {
        REQUIRE(index->Commit(batch).ok());
        batch.clear();
      }
    }
    REQUIRE(index->Commit(batch).ok());
  }
  const auto t1 = std::chrono::steady_clock::now();
  const long rss_before = RssKiB();
  auto index = MustOpen(d);
  const auto t2 = std::chrono::steady_clock::now();
  const long rss_after = RssKiB();
  const BlobIndexStats st = index->Stats();
  uint64_t found = 0, absent = 0;
  for (uint64_t i = 0; i < 100'000; ++i) {
    auto r = index->Lookup(Id(i * 9 + 3));
    found += r.ok() && *r == Where(i * 9 + 3);
    absent += index->Lookup(Id(kBlobs + i)).status().code() == ENOENT;
  }
  const auto t3 = std::chrono::steady_clock::now();
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  MESSAGE("1M blobs: build " << ms(t0, t1) << " ms; open " << ms(t1, t2) << " ms; RSS +" << (rss_after - rss_before)
                             << " KiB at open; index estimate " << st.resident_bytes << " bytes ("
                             << static_cast<double>(st.resident_bytes) / kBlobs << " B/blob); " << st.segments
                             << " segments, " << st.memtable_entries << " in the memtable; 200k lookups "
                             << ms(t2, t3) << " ms");
  CHECK(found == 100'000);
  CHECK(absent == 100'000);
  CHECK(st.segment_entries + st.memtable_entries >= kBlobs);
  // The bound is 16 bytes of memory a blob; segments take ~1.4 and
  // the memtable (here 17k of its 64Ki entries) ~150 bytes an entry.
  CHECK(st.resident_bytes < 8 * kBlobs);
  CHECK(rss_after - rss_before < 16 * 1024);  // KiB: under 16 bytes a blob
}

}  // namespace
}  // namespace amberfs
