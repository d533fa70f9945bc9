// RemoteChunks (remote_chunks.h): a clone's chunks still only in the slow
// store. Create/Open round trip; MarkLocal persists; a torn log tail is cut
// off (ignored read-only); compaction, and a crash between its rename and
// the log truncate; the last MarkLocal removes both files; a leftover log is
// removed; a damaged `remote` is EBADMSG naming it; bad MarkLocal and Create
// calls change nothing.
#include "snapshot/remote_chunks.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "base/durable_file.h"
#include "snapshot/volume_layout.h"
#include "support/store_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::FlipByte;
using testing::TempDir;

const RemoteOrigin kOrigin{"base-2026.12_04", Pointer::Of("the origin's record", 19)};

struct Voldir {
  TempDir dir{"remote-chunks"};
  std::string remote() const { return VolumePath(dir.path(), kRemoteChunksFile); }
  std::string log() const { return VolumePath(dir.path(), kRemoteLogFile); }
  std::unique_ptr<RemoteChunks> Open(bool read_only = false) const {
    auto r = RemoteChunks::Open(dir.path(), read_only);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return std::move(r).value();
  }
  void Create(uint64_t chunk_count, const std::vector<uint64_t>& remote) const {
    Status st = RemoteChunks::Create(dir.path(), kOrigin, chunk_count, remote);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
};

uint64_t FileSize(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_size);
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::set<uint64_t> RemoteSet(const RemoteChunks& rc) {
  std::set<uint64_t> out;
  for (auto c = rc.NextRemote(0); c; c = rc.NextRemote(*c + 1)) out.insert(*c);
  return out;
}

void AppendBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::vector<uint8_t> all = ReadSmallFile(path, 1 << 30).value();
  all.insert(all.end(), bytes.begin(), bytes.end());
  REQUIRE(WriteFileAtomic(std::filesystem::path(path).parent_path().string(),
                          std::filesystem::path(path).filename().string(), all, /*no_replace=*/false)
              .ok());
}

TEST_CASE("RemoteChunks: Create and Open round trip; IsRemote and NextRemote across bytes and past the end") {
  Voldir v;
  const std::vector<uint64_t> remote = {0, 3, 7, 8, 9, 15, 64, 65, 98};
  v.Create(99, remote);
  CHECK(Exists(v.remote()));
  CHECK(Exists(v.log()));
  CHECK(FileSize(v.log()) == 0);
  auto rc = v.Open();
  REQUIRE(rc);
  CHECK(rc->origin().snapshot == kOrigin.snapshot);
  CHECK(rc->origin().record == kOrigin.record);
  CHECK(rc->chunk_count() == 99);
  CHECK(rc->remaining() == remote.size());
  for (uint64_t c = 0; c < 99; ++c) {
    const bool want = std::find(remote.begin(), remote.end(), c) != remote.end();
    CHECK_MESSAGE(rc->IsRemote(c) == want, "chunk ", c);
  }
  CHECK_FALSE(rc->IsRemote(99));
  CHECK_FALSE(rc->IsRemote(1000));
  CHECK(rc->NextRemote(0) == 0u);
  CHECK(rc->NextRemote(1) == 3u);
  CHECK(rc->NextRemote(4) == 7u);   // crosses into the second byte
  CHECK(rc->NextRemote(8) == 8u);
  CHECK(rc->NextRemote(10) == 15u);
  CHECK(rc->NextRemote(16) == 64u);  // skips whole bytes of local chunks
  CHECK(rc->NextRemote(66) == 98u);  // the last chunk, in a partial last byte
  CHECK(rc->NextRemote(99) == std::nullopt);
  CHECK(rc->NextRemote(1'000'000) == std::nullopt);
  CHECK(RemoteSet(*rc) == std::set<uint64_t>(remote.begin(), remote.end()));

  // A duplicate in Create's list counts once.
  Voldir d;
  d.Create(10, {4, 4, 2});
  CHECK(d.Open()->remaining() == 2);
}

TEST_CASE("RemoteChunks: MarkLocal persists across reopen; read-only refuses it") {
  Voldir v;
  v.Create(40, {1, 2, 3, 10, 20, 30, 39});
  {
    auto rc = v.Open();
    REQUIRE(rc->MarkLocal({2, 3, 10}).ok());  // a run of two and one alone: two records
    CHECK(FileSize(v.log()) == 48);
    CHECK(rc->remaining() == 4);
    CHECK_FALSE(rc->IsRemote(2));
    REQUIRE(rc->MarkLocal({39}).ok());
    CHECK(rc->remaining() == 3);
  }
  auto rc = v.Open();
  REQUIRE(rc);
  CHECK(rc->remaining() == 3);
  CHECK(RemoteSet(*rc) == std::set<uint64_t>{1, 20, 30});
  auto ro = v.Open(/*read_only=*/true);
  CHECK(RemoteSet(*ro) == std::set<uint64_t>{1, 20, 30});
  CHECK(ro->MarkLocal({1}).code() == EROFS);
  CHECK(ro->IsRemote(1));
}

TEST_CASE("RemoteChunks: a torn log tail is cut off at Open, earlier records kept; read-only ignores it") {
  Voldir v;
  v.Create(32, {3, 7, 15, 31});
  {
    auto rc = v.Open();
    REQUIRE(rc->MarkLocal({3}).ok());
    REQUIRE(rc->MarkLocal({7}).ok());
    REQUIRE(rc->MarkLocal({15}).ok());
  }
  REQUIRE(FileSize(v.log()) == 72);

  SUBCASE("a partial record") {
    // Cut the third record short: as a crash mid-append leaves it.
    REQUIRE(::truncate(v.log().c_str(), 72 - 5) == 0);
    {
      auto ro = v.Open(true);
      CHECK(RemoteSet(*ro) == std::set<uint64_t>{15, 31});
      CHECK(FileSize(v.log()) == 67);  // read-only: untouched
    }
    auto rc = v.Open();
    CHECK(RemoteSet(*rc) == std::set<uint64_t>{15, 31});
    CHECK(rc->remaining() == 2);
    CHECK(FileSize(v.log()) == 48);
    // The next append goes where the torn record was.
    REQUIRE(rc->MarkLocal({31}).ok());
    CHECK(FileSize(v.log()) == 72);
    rc.reset();
    CHECK(RemoteSet(*v.Open()) == std::set<uint64_t>{15});
  }
  SUBCASE("a damaged record and everything after it") {
    REQUIRE(FlipByte(v.log(), 24 + 9));  // the second record's first chunk
    {
      auto ro = v.Open(true);
      CHECK(RemoteSet(*ro) == std::set<uint64_t>{7, 15, 31});
      CHECK(FileSize(v.log()) == 72);
    }
    auto rc = v.Open();
    CHECK(RemoteSet(*rc) == std::set<uint64_t>{7, 15, 31});
    CHECK(FileSize(v.log()) == 24);
  }
  SUBCASE("garbage after whole records") {
    AppendBytes(v.log(), std::vector<uint8_t>(30, 0xab));
    auto rc = v.Open();
    CHECK(RemoteSet(*rc) == std::set<uint64_t>{31});
    CHECK(FileSize(v.log()) == 72);
  }
}

TEST_CASE("RemoteChunks: the log is compacted into `remote`; a crash before the truncate replays harmlessly") {
  Voldir v;
  // 100,000 chunks, every even one remote; batches of 1,000 non-adjacent
  // chunks are 1,000 records (24,000 bytes) each, so the 44th batch passes
  // kCompactLogBytes.
  constexpr uint64_t kChunks = 100'000, kBatch = 1000;
  std::vector<uint64_t> even;
  for (uint64_t c = 0; c < kChunks; c += 2) even.push_back(c);
  v.Create(kChunks, even);
  const uint64_t batches_to_compact = (RemoteChunks::kCompactLogBytes + kBatch * 24 - 1) / (kBatch * 24);
  REQUIRE(batches_to_compact == 44);

  auto rc = v.Open();
  std::set<uint64_t> remote(even.begin(), even.end());
  size_t next = 0;
  auto mark_batch = [&] {
    std::vector<uint64_t> batch(even.begin() + static_cast<ptrdiff_t>(next),
                                even.begin() + static_cast<ptrdiff_t>(next + kBatch));
    next += kBatch;
    Status st = rc->MarkLocal(batch);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    for (uint64_t c : batch) remote.erase(c);
  };
  for (uint64_t i = 0; i + 1 < batches_to_compact; ++i) mark_batch();
  CHECK(FileSize(v.log()) == (batches_to_compact - 1) * kBatch * 24);
  const std::vector<uint8_t> old_log = ReadSmallFile(v.log(), 1 << 30).value();
  const std::vector<uint8_t> old_remote = ReadSmallFile(v.remote(), 1 << 30).value();

  mark_batch();  // passes kCompactLogBytes
  CHECK(FileSize(v.log()) == 0);
  CHECK(ReadSmallFile(v.remote(), 1 << 30).value() != old_remote);
  CHECK(rc->remaining() == remote.size());
  mark_batch();  // the log grows again from 0
  CHECK(FileSize(v.log()) == kBatch * 24);
  rc.reset();

  auto back = v.Open();
  CHECK(back->remaining() == remote.size());
  CHECK(RemoteSet(*back) == remote);
  back.reset();

  // `remote` alone (no log) holds the compacted set: everything but the last batch.
  {
    TempDir alone("remote-chunks-alone");
    std::filesystem::copy_file(v.remote(), VolumePath(alone.path(), kRemoteChunksFile));
    auto ro = RemoteChunks::Open(alone.path(), true);
    REQUIRE(ro.ok());
    REQUIRE(*ro);
    CHECK((*ro)->remaining() == remote.size() + kBatch);
  }

  // A crash after the compaction's rename but before its truncate: the new
  // `remote` with an old log whose records are all local in it already.
  REQUIRE(WriteFileAtomic(v.dir.path(), kRemoteLogFile, old_log, false).ok());
  auto replayed = v.Open();
  std::set<uint64_t> expect = remote;
  for (size_t i = next - kBatch; i < next; ++i) expect.insert(even[i]);  // the last batch's log is gone
  CHECK(replayed->remaining() == expect.size());
  CHECK(RemoteSet(*replayed) == expect);
  CHECK(FileSize(v.log()) == old_log.size());  // whole records: nothing cut
  REQUIRE(replayed->MarkLocal({even[next]}).ok());
  CHECK(replayed->remaining() == expect.size() - 1);
}

TEST_CASE("RemoteChunks: the last MarkLocal removes both files; a leftover log is removed by Open") {
  Voldir v;
  v.Create(16, {1, 2, 9});
  {
    auto rc = v.Open();
    REQUIRE(rc->MarkLocal({1, 2}).ok());
    CHECK(Exists(v.remote()));
    REQUIRE(rc->MarkLocal({9}).ok());
    CHECK(rc->remaining() == 0);
    CHECK_FALSE(rc->NextRemote(0).has_value());
    CHECK_FALSE(Exists(v.remote()));
    CHECK_FALSE(Exists(v.log()));
    CHECK(rc->MarkLocal({9}).code() == EINVAL);
  }
  CHECK(v.Open() == nullptr);

  // A crash between the two removals.
  REQUIRE(WriteFileAtomic(v.dir.path(), kRemoteLogFile, std::vector<uint8_t>(24, 1), false).ok());
  CHECK(v.Open(/*read_only=*/true) == nullptr);
  CHECK(Exists(v.log()));  // read-only writes nothing
  CHECK(v.Open() == nullptr);
  CHECK_FALSE(Exists(v.log()));

  // A log that makes everything local, `remote` still there (a crash after
  // the last append, before the removals): Open finishes the job. The
  // record for chunk 5 is made by MarkLocal in a second volume.
  Voldir x, y;
  x.Create(16, {5});
  y.Create(16, {5, 6});
  REQUIRE(y.Open()->MarkLocal({5}).ok());
  REQUIRE(WriteFileAtomic(x.dir.path(), kRemoteLogFile, ReadSmallFile(y.log(), 4096).value(), false).ok());
  CHECK(x.Open(/*read_only=*/true)->remaining() == 0);
  CHECK(Exists(x.remote()));
  CHECK(x.Open() == nullptr);
  CHECK_FALSE(Exists(x.remote()));
  CHECK_FALSE(Exists(x.log()));
}

TEST_CASE("RemoteChunks: a damaged `remote` is EBADMSG naming the file") {
  Voldir v;
  v.Create(100, {1, 50, 99});
  const uint64_t size = FileSize(v.remote());
  auto expect_damaged = [&](const char* why) {
    auto r = RemoteChunks::Open(v.dir.path());
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == EBADMSG);
    CHECK_MESSAGE(r.status().message().find(v.remote()) != std::string::npos, r.status().ToString());
    CHECK_MESSAGE(r.status().message().find(why) != std::string::npos, r.status().ToString());
    auto ro = RemoteChunks::Open(v.dir.path(), true);
    CHECK(ro.status().code() == EBADMSG);
  };
  SUBCASE("a flipped bit in the bitmap") {
    REQUIRE(FlipByte(v.remote(), static_cast<off_t>(size - 8 - 2), 0x01));
    expect_damaged("checksum");
  }
  SUBCASE("a flipped byte in the name") {
    REQUIRE(FlipByte(v.remote(), 64 + 2));
    expect_damaged("checksum");
  }
  SUBCASE("a wrong version") {
    REQUIRE(FlipByte(v.remote(), 8, 0x03));  // version 1 -> 2
    expect_damaged("version 2");
  }
  SUBCASE("truncated") {
    REQUIRE(::truncate(v.remote().c_str(), static_cast<off_t>(size - 1)) == 0);
    expect_damaged("size");
  }
  SUBCASE("not one") {
    REQUIRE(WriteFileAtomic(v.dir.path(), kRemoteChunksFile, std::vector<uint8_t>(200, 'x'), false).ok());
    expect_damaged("not a remote-chunks file");
  }
  // Nothing was "repaired": the log is still there.
  CHECK(Exists(v.log()));
}

TEST_CASE("RemoteChunks: MarkLocal of a chunk that is not remote is EINVAL and changes nothing") {
  Voldir v;
  v.Create(64, {5, 8, 9, 20});
  auto rc = v.Open();
  auto unchanged = [&] {
    CHECK(rc->remaining() == 4);
    CHECK(RemoteSet(*rc) == std::set<uint64_t>{5, 8, 9, 20});
    CHECK(FileSize(v.log()) == 0);
  };
  CHECK(rc->MarkLocal({6}).code() == EINVAL);
  unchanged();
  CHECK(rc->MarkLocal({5, 7}).code() == EINVAL);  // the second, not the first
  unchanged();
  CHECK(rc->MarkLocal({5, 6}).code() == EINVAL);  // 6 follows 5 in one run: checked too
  unchanged();
  CHECK(rc->MarkLocal({8, 9, 10}).code() == EINVAL);
  unchanged();
  CHECK(rc->MarkLocal({5, 5}).code() == EINVAL);  // twice
  unchanged();
  CHECK(rc->MarkLocal({9, 8}).code() == EINVAL);  // not ascending
  unchanged();
  CHECK(rc->MarkLocal({64}).code() == EINVAL);    // past the end
  unchanged();
  CHECK(rc->MarkLocal({}).ok());
  unchanged();
  REQUIRE(rc->MarkLocal({5, 8, 9}).ok());
  CHECK(rc->remaining() == 1);
  rc.reset();
  CHECK(RemoteSet(*v.Open()) == std::set<uint64_t>{20});
}

TEST_CASE("RemoteChunks: Create refuses a chunk past the end and an existing file") {
  Voldir v;
  CHECK(RemoteChunks::Create(v.dir.path(), kOrigin, 10, {3, 10}).code() == EINVAL);
  CHECK(RemoteChunks::Create(v.dir.path(), kOrigin, 0, {}).code() == EINVAL);
  CHECK(RemoteChunks::Create(v.dir.path(), RemoteOrigin{"bad name", kOrigin.record}, 10, {1}).code() == EINVAL);
  CHECK_FALSE(Exists(v.remote()));
  CHECK(v.Open() == nullptr);

  v.Create(10, {1, 2, 3});
  {
    auto rc = v.Open();
    REQUIRE(rc->MarkLocal({2}).ok());
  }
  const std::vector<uint8_t> log = ReadSmallFile(v.log(), 4096).value();
  CHECK(log.size() == 24);
  Status again = RemoteChunks::Create(v.dir.path(), RemoteOrigin{"other", kOrigin.record}, 10, {1, 2, 3, 4});
  CHECK(again.code() == EEXIST);
  // Neither file changed: chunk 2 stays local (its bytes may have been written over since).
  CHECK(ReadSmallFile(v.log(), 4096).value() == log);
  auto rc = v.Open();
  CHECK(rc->origin().snapshot == kOrigin.snapshot);
  CHECK(RemoteSet(*rc) == std::set<uint64_t>{1, 3});
}

}  // namespace
}  // namespace amberfs
