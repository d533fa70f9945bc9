#include "amberfs/upload_log.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "temp_dir.h"

using amberfs::Pointer;
using amberfs::UploadEntry;
using amberfs::UploadLog;
using amberfs::testing::TempDir;

namespace {

Pointer Key(int i) {
  std::string s = "blob " + std::to_string(i);
  return Pointer::Of(s.data(), s.size());
}

off_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

void PokeByte(const std::string& path, off_t offset, uint8_t xor_mask) {
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  uint8_t b = 0;
  REQUIRE(::pread(fd, &b, 1, offset) == 1);
  b ^= xor_mask;
  REQUIRE(::pwrite(fd, &b, 1, offset) == 1);
  ::close(fd);
}

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

TEST_CASE("UploadLog replays pending blobs and refs across reopen") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  uint64_t ref_seq = 0;
  {
    auto log = std::move(UploadLog::Open(path).value());
    CHECK(log->Pending().empty());
    for (int i = 0; i < 5; ++i) REQUIRE(log->AppendBlob(Key(i)).ok());
    ref_seq = log->AppendRef("volumes/u/snapshots/s1", Bytes("record pointer")).value();
    REQUIRE(log->MarkDone(1).ok());
    REQUIRE(log->MarkLost(3).ok());
    CHECK(log->MarkDone(1).code() == ENOENT);
    CHECK(log->AppendRef("../bad", Bytes("x")).status().code() == EINVAL);
    CHECK(log->AppendBlob(Pointer::Null()).status().code() == EINVAL);
  }
  CHECK(FileSize(path) == 9 * 64);  // 5 blobs, ref + 1 payload slot, done, lost
  auto log = std::move(UploadLog::Open(path).value());
  std::vector<UploadEntry> pending = log->Pending();
  REQUIRE(pending.size() == 4);
  CHECK(pending[0].seq == 2);
  CHECK(pending[0].key == Key(1));
  CHECK(pending[1].key == Key(3));
  CHECK(pending[2].key == Key(4));
  CHECK(pending[3].kind == UploadEntry::Kind::kRef);
  CHECK(pending[3].seq == ref_seq);
  CHECK(pending[3].ref_name == "volumes/u/snapshots/s1");
  CHECK(pending[3].ref_data == Bytes("record pointer"));
  CHECK(log->Lost() == std::vector<Pointer>{Key(2)});
  // Sequence numbers are never reused.
  CHECK(log->AppendBlob(Key(9)).value() == ref_seq + 1);
}

TEST_CASE("UploadLog AppendBlobs queues many with one append, in order, across reopen") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  {
    auto log = std::move(UploadLog::Open(path).value());
    REQUIRE(log->AppendBlob(Key(0)).ok());
    std::vector<Pointer> keys{Key(1), Key(2), Key(3)};
    auto seqs = log->AppendBlobs(keys);
    REQUIRE(seqs.ok());
    CHECK(*seqs == std::vector<uint64_t>{2, 3, 4});
    CHECK(log->AppendBlobs({}).value().empty());
    std::vector<Pointer> bad{Key(5), Pointer::Null()};
    CHECK(log->AppendBlobs(bad).status().code() == EINVAL);  // nothing of it is queued
    REQUIRE(log->MarkDone(3).ok());
  }
  auto log = std::move(UploadLog::Open(path).value());
  std::vector<UploadEntry> pending = log->Pending();
  REQUIRE(pending.size() == 3);
  CHECK(pending[0].key == Key(0));
  CHECK(pending[1].key == Key(1));
  CHECK(pending[2].key == Key(3));
  CHECK(pending[2].seq == 4);
}

TEST_CASE("UploadLog drops a torn tail and never treats it as data") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  {
    auto log = std::move(UploadLog::Open(path).value());
    for (int i = 0; i < 3; ++i) REQUIRE(log->AppendBlob(Key(i)).ok());
  }
  SUBCASE("half a record") { REQUIRE(::truncate(path.c_str(), 3 * 64 - 20) == 0); }
  SUBCASE("garbage after the last record") {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
    std::vector<uint8_t> junk(100, 0xAB);
    REQUIRE(::write(fd, junk.data(), junk.size()) == 100);
    ::close(fd);
    PokeByte(path, 2 * 64 + 30, 0x01);  // and the last real record is torn too
  }
  auto log = std::move(UploadLog::Open(path).value());
  auto pending = log->Pending();
  REQUIRE(pending.size() == 2);
  CHECK(pending[1].key == Key(1));
  CHECK(FileSize(path) == 2 * 64);  // truncated to the last good record
  REQUIRE(log->AppendBlob(Key(7)).ok());
  log.reset();
  log = std::move(UploadLog::Open(path).value());
  CHECK(log->Pending().size() == 3);
  CHECK(log->Pending().back().key == Key(7));
}

TEST_CASE("UploadLog skips a corrupt record in the middle and rewrites the log") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  {
    auto log = std::move(UploadLog::Open(path).value());
    for (int i = 0; i < 4; ++i) REQUIRE(log->AppendBlob(Key(i)).ok());
  }
  PokeByte(path, 64 + 40, 0x80);  // flips a key bit: only the checksum can tell
  auto log = std::move(UploadLog::Open(path).value());
  auto pending = log->Pending();
  REQUIRE(pending.size() == 3);
  for (const auto& e : pending) CHECK(e.key != Key(1));
  CHECK(FileSize(path) == 3 * 64);
}

TEST_CASE("UploadLog compacts when done records dominate") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  auto log = std::move(UploadLog::Open(path, {.compact_min_records = 64}).value());
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 200; ++i) seqs.push_back(log->AppendBlob(Key(i)).value());
  for (int i = 0; i < 200; ++i)
    if (i % 10 != 0) REQUIRE(log->MarkDone(seqs[i]).ok());
  CHECK(log->Stats().compactions > 0);
  CHECK(log->Stats().pending == 20);
  CHECK(FileSize(path) < 200 * 64);
  CHECK(FileSize(path + ".compact") == -1);
  log.reset();
  log = std::move(UploadLog::Open(path).value());
  auto pending = log->Pending();
  REQUIRE(pending.size() == 20);
  for (size_t j = 0; j < pending.size(); ++j) {
    CHECK(pending[j].seq == seqs[j * 10]);
    CHECK(pending[j].key == Key(static_cast<int>(j * 10)));
  }
}

TEST_CASE("UploadLog concurrent appends all survive (group commit)") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  {
    auto log = std::move(UploadLog::Open(path).value());
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) CHECK(log->AppendBlob(Key(t * 1000 + i)).ok());
      });
    for (auto& th : threads) th.join();
  }
  auto log = std::move(UploadLog::Open(path).value());
  CHECK(log->Pending().size() == 400);
}

TEST_CASE("UploadLog refuses a file that is not an upload log") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
    std::string text = "this is somebody else's file\n";
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    ::close(fd);
  }
  auto log = UploadLog::Open(path);
  CHECK(log.status().code() == EBADMSG);
  CHECK(FileSize(path) == 29);  // untouched
}
