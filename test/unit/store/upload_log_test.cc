#include "store/upload_log.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "store/upload_log_replay.h"
#include "support/fault_file_ops.h"
#include "support/temp_dir.h"

using amberfs::Pointer;
using amberfs::UploadEntry;
using amberfs::UploadLog;
using amberfs::testing::FaultFileOps;
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

TEST_CASE("UploadLog deleting records stay pending until settled, across reopen and compaction") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  {
    auto log = std::move(UploadLog::Open(path).value());
    REQUIRE(log->AppendBlob(Key(0)).ok());
    std::vector<Pointer> keys{Key(1), Key(2)};
    auto seqs = log->AppendDeletes(keys);
    REQUIRE(seqs.ok());
    CHECK(*seqs == std::vector<uint64_t>{2, 3});
    REQUIRE(log->MarkDone(2).ok());
    CHECK(log->MarkLost(3).code() == EINVAL);  // a delete is not an upload to lose
  }
  for (int round = 0; round < 2; ++round) {
    auto log = std::move(UploadLog::Open(path).value());
    std::vector<UploadEntry> pending = log->Pending();
    REQUIRE(pending.size() == 2);
    CHECK(pending[0].kind == UploadEntry::Kind::kBlob);
    CHECK(pending[1].kind == UploadEntry::Kind::kDelete);
    CHECK(pending[1].key == Key(2));
    CHECK(pending[1].seq == 3);
    REQUIRE(log->Compact().ok());  // the second round reads the compacted file
  }
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

namespace {

std::vector<uint8_t> BlobBytes(int i, size_t size = 70000) {
  std::vector<uint8_t> data(size);
  for (size_t j = 0; j < size; ++j) data[j] = static_cast<uint8_t>(i * 37 + j * 13 + (j >> 9));
  return data;
}

// A sync_published hook that counts its calls and answers what it is told.
struct SyncHook {
  int calls = 0;
  amberfs::Status answer;
  amberfs::UploadLogOptions Options(amberfs::UploadLogOptions o = {}) {
    o.sync_published = [this] {
      ++calls;
      return answer;
    };
    return o;
  }
};

}  // namespace

TEST_CASE("UploadLog carries blob data until it is published and the fast store synced") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  SyncHook hook;
  auto log = std::move(UploadLog::Open(path, hook.Options()).value());
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 3; ++i) seqs.push_back(log->AppendBlobData(Pointer::Of(BlobBytes(i)), BlobBytes(i)).value());
  CHECK(log->ReadData(seqs[1]).value() == BlobBytes(1));
  CHECK(log->Stats().data_bytes >= 3 * 70000);
  for (const UploadEntry& e : log->Pending()) CHECK(e.logged_data);

  // Nothing published: compaction keeps every byte and has no reason to sync.
  REQUIRE(log->Compact().ok());
  CHECK(hook.calls == 0);
  CHECK(log->ReadData(seqs[0]).value() == BlobBytes(0));

  // Published, but the sync fails: kept, and kept even after a later sync
  // succeeds (a failed writeback is reported once, so that success says
  // nothing about this file) until the entry is settled.
  log->MarkPublished(seqs[0]);
  hook.answer = amberfs::Status::Error(EIO, "injected");
  REQUIRE(log->Compact().ok());
  CHECK(hook.calls == 1);
  CHECK(log->ReadData(seqs[0]).value() == BlobBytes(0));
  hook.answer = amberfs::Status::OK();
  REQUIRE(log->Compact().ok());
  CHECK(hook.calls == 1);  // nothing published since
  log->MarkPublished(seqs[0]);
  log->MarkPublished(seqs[2]);
  REQUIRE(log->Compact().ok());
  CHECK(hook.calls == 2);
  CHECK(log->ReadData(seqs[0]).value() == BlobBytes(0));   // suspect: kept
  CHECK(log->ReadData(seqs[2]).status().code() == ENOENT);  // published and synced: dropped
  CHECK(log->ReadData(seqs[1]).value() == BlobBytes(1));   // unpublished: kept
  auto pending = log->Pending();
  REQUIRE(pending.size() == 3);
  CHECK(pending[0].logged_data);
  CHECK(pending[1].logged_data);
  CHECK_FALSE(pending[2].logged_data);
  CHECK(pending[2].key == Pointer::Of(BlobBytes(2)));

  // A reopen finds the rest unpublished (the caller checks the fast copies again).
  log.reset();
  log = std::move(UploadLog::Open(path, hook.Options()).value());
  pending = log->Pending();
  REQUIRE(pending.size() == 3);
  CHECK(pending[0].logged_data);
  CHECK_FALSE(pending[2].logged_data);
  CHECK(log->ReadData(seqs[0]).value() == BlobBytes(0));
  REQUIRE(log->Compact().ok());
  CHECK(log->ReadData(seqs[1]).value() == BlobBytes(1));  // unpublished: kept

  // Settled entries' data goes at the next compaction.
  REQUIRE(log->MarkDone(seqs[0]).ok());
  REQUIRE(log->MarkDone(seqs[1]).ok());
  REQUIRE(log->Compact().ok());
  CHECK(log->Stats().data_bytes == 0);
  CHECK(FileSize(path) == 64);
  auto scan = UploadLog::Scan(path).value();
  REQUIRE(scan.pending.size() == 1);
  CHECK(scan.pending[0].seq == seqs[2]);
}

TEST_CASE("UploadLog refuses blob data it could never drop, or too big") {
  TempDir dir("blobs-log");
  auto log = std::move(UploadLog::Open(dir / "upload.log").value());
  auto data = BlobBytes(1, 100);
  CHECK(log->AppendBlobData(Pointer::Of(data), data).status().code() == EINVAL);
  SyncHook hook;
  auto with_hook = std::move(UploadLog::Open(dir / "other.log", hook.Options()).value());
  std::vector<uint8_t> big(UploadLog::kMaxBlobData + 1);
  CHECK(with_hook->AppendBlobData(Pointer::Of(big), big).status().code() == EINVAL);
  CHECK(with_hook->AppendBlobData(Pointer::Null(), data).status().code() == EINVAL);
  CHECK(with_hook->Pending().empty());
}

TEST_CASE("UploadLog compacts when published blob data piles up") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  SyncHook hook;
  auto log = std::move(UploadLog::Open(path, hook.Options({.compact_data_bytes = 256 * 1024})).value());
  for (int i = 0; i < 20; ++i) {
    uint64_t seq = log->AppendBlobData(Pointer::Of(BlobBytes(i)), BlobBytes(i)).value();
    log->MarkPublished(seq);
  }
  CHECK(hook.calls > 0);
  CHECK(log->Stats().compactions > 0);
  CHECK(log->Stats().pending == 20);
  CHECK(FileSize(path) < 8 * 70000);
  log.reset();
  auto scan = UploadLog::Scan(path).value();
  CHECK(scan.pending.size() == 20);
}

TEST_CASE("UploadLog drops a torn blob-data record") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  SyncHook hook;
  {
    auto log = std::move(UploadLog::Open(path, hook.Options()).value());
    for (int i = 0; i < 2; ++i) REQUIRE(log->AppendBlobData(Pointer::Of(BlobBytes(i)), BlobBytes(i)).ok());
  }
  REQUIRE(::truncate(path.c_str(), FileSize(path) - 1000) == 0);  // the second payload is cut short
  auto log = std::move(UploadLog::Open(path, hook.Options()).value());
  auto pending = log->Pending();
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].key == Pointer::Of(BlobBytes(0)));
  CHECK(log->ReadData(pending[0].seq).value() == BlobBytes(0));
}

TEST_CASE("UploadLog steps over a damaged blob-data payload whole, never reading records inside it") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  SyncHook hook;
  // Blob bytes that hold a well-formed "blob-done" record for seq 1, at a
  // 64-byte boundary: user data can look like anything.
  std::vector<uint8_t> forged;
  {
    auto other = std::move(UploadLog::Open(dir / "other.log").value());
    uint64_t seq = other->AppendBlob(Key(0)).value();
    REQUIRE(seq == 1);
    REQUIRE(other->MarkDone(seq).ok());
    REQUIRE(other->Sync().ok());
    other.reset();
    std::ifstream in(dir / "other.log", std::ios::binary);
    forged.assign(std::istreambuf_iterator<char>(in), {});
    REQUIRE(forged.size() == 128);
    forged.erase(forged.begin(), forged.begin() + 64);  // just the done record
  }
  std::vector<uint8_t> tricky = BlobBytes(9, 64 * 4);
  std::copy(forged.begin(), forged.end(), tricky.begin() + 128);
  uint64_t tricky_seq = 0;
  {
    auto log = std::move(UploadLog::Open(path, hook.Options()).value());
    REQUIRE(log->AppendBlob(Key(0)).value() == 1);
    tricky_seq = log->AppendBlobData(Pointer::Of(tricky), tricky).value();
    REQUIRE(log->AppendBlob(Key(2)).ok());
  }
  PokeByte(path, 64 + 64 + 7, 0x20);  // the tricky record's payload, before the forged record
  auto log = std::move(UploadLog::Open(path, hook.Options()).value());
  auto pending = log->Pending();
  REQUIRE(pending.size() == 3);  // seq 1 is still pending: the forged "done" was never read
  CHECK(pending[0].key == Key(0));
  CHECK(pending[1].seq == tricky_seq);
  CHECK(pending[1].key == Pointer::Of(tricky));
  CHECK_FALSE(pending[1].logged_data);  // its bytes are bad: queued without them
  CHECK(pending[2].key == Key(2));
  CHECK(FileSize(path) == 3 * 64);  // rewritten around the damage
}

TEST_CASE("UploadLog keeps the bytes of copies published while a failing sync ran") {
  TempDir dir("blobs-log");
  UploadLog* log_ptr = nullptr;
  uint64_t late = 0;
  bool fail = true;
  amberfs::UploadLogOptions o;
  o.sync_published = [&] {
    if (!fail) return amberfs::Status::OK();
    log_ptr->MarkPublished(late);  // its writeback is this sync's to fail, too
    return amberfs::Status::Error(EIO, "injected");
  };
  auto log = std::move(UploadLog::Open(dir / "upload.log", o).value());
  log_ptr = log.get();
  uint64_t early = log->AppendBlobData(Pointer::Of(BlobBytes(0)), BlobBytes(0)).value();
  late = log->AppendBlobData(Pointer::Of(BlobBytes(1)), BlobBytes(1)).value();
  log->MarkPublished(early);
  REQUIRE(log->Compact().ok());
  fail = false;
  REQUIRE(log->Compact().ok());
  CHECK(log->ReadData(early).value() == BlobBytes(0));
  CHECK(log->ReadData(late).value() == BlobBytes(1));
}

TEST_CASE("UploadLog: a failed fdatasync fails that append and every later one until reopened") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  auto log = std::move(UploadLog::Open(path).value());
  REQUIRE(log->AppendBlob(Key(1)).ok());
  FaultFileOps ops;
  ops.Fail(FaultFileOps::Call::kFdatasync, EIO, /*times=*/1);
  {
    amberfs::ScopedFileOps installed(&ops);
    CHECK(log->AppendBlob(Key(2)).status().code() == EIO);
  }
  CHECK(log->AppendBlob(Key(3)).status().code() == EIO);  // the disk works again; the log still refuses
  log.reset();
  log = std::move(UploadLog::Open(path).value());
  REQUIRE(log->AppendBlob(Key(4)).ok());
  // What the file holds is pending again; an unacknowledged record may be among it.
  std::vector<Pointer> keys;
  for (const UploadEntry& e : log->Pending()) keys.push_back(e.key);
  CHECK(keys.front() == Key(1));
  CHECK(keys.back() == Key(4));
}

TEST_CASE("UploadLog: a compaction whose rename fails keeps the old log in use") {
  TempDir dir("blobs-log");
  std::string path = dir / "upload.log";
  auto log = std::move(UploadLog::Open(path).value());
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 10; ++i) seqs.push_back(log->AppendBlob(Key(i)).value());
  for (int i = 0; i < 5; ++i) REQUIRE(log->MarkDone(seqs[i]).ok());
  FaultFileOps ops;
  ops.Fail(FaultFileOps::Call::kRename, EIO);
  {
    amberfs::ScopedFileOps installed(&ops);
    CHECK(log->Compact().code() == EIO);
  }
  CHECK(FileSize(path + ".compact") == -1);
  CHECK(log->Stats().compactions == 0);
  REQUIRE(log->AppendBlob(Key(10)).ok());
  log.reset();
  log = std::move(UploadLog::Open(path).value());
  auto pending = log->Pending();
  REQUIRE(pending.size() == 6);
  CHECK(pending.front().key == Key(5));
  CHECK(pending.back().key == Key(10));
}

TEST_CASE("UploadLog: a record whose seq can have no successor is corrupt (found by fuzzing)") {
  // Replay keeps next_seq past every seq it has seen; seq 2^64-1 would wrap it.
  using namespace amberfs;
  const uint64_t kLast = UINT64_MAX;
  std::vector<uint8_t> file;
  auto add = [&](const std::vector<uint8_t>& record) { file.insert(file.end(), record.begin(), record.end()); };
  add(EncodeUploadRecord(UploadRecordType::kBlobQueued, 5, Key(5)));
  add(EncodeUploadRecord(UploadRecordType::kBlobQueued, kLast, Key(6)));
  add(EncodeUploadRecord(UploadRecordType::kBlobData, kLast, Key(7), Bytes("data")));
  add(EncodeUploadRecord(UploadRecordType::kBlobQueued, 8, Key(8)));
  UploadLogReplay replay = ReplayUploadLog(file);
  CHECK(replay.pending.count(kLast) == 0);
  CHECK(replay.pending.size() == 2);
  CHECK(replay.next_seq == 9);
  CHECK(replay.bad_before_good == 3);  // the blob-queued slot, the blob-data header and its payload slot
  CHECK_FALSE(TrustedDataRecordAt(std::span(file).subspan(128)).has_value());
}

TEST_CASE("UploadLog: a seq queued again after its blob-lost record stays pending through a rewrite (found by fuzzing)") {
  // No correct writer reuses a seq, but a damaged log may hold one. Replay
  // lets the later record win; the rewrite (pending entries, then lost ones)
  // must keep that reading, not turn the pending entry into a lost one.
  using namespace amberfs;
  TempDir dir("blobs-log");
  const std::string path = dir / "upload.log";
  std::vector<uint8_t> file;
  auto add = [&](const std::vector<uint8_t>& record) { file.insert(file.end(), record.begin(), record.end()); };
  add(EncodeUploadRecord(UploadRecordType::kBlobQueued, 5, Key(1)));
  add(EncodeUploadRecord(UploadRecordType::kBlobLost, 5, Key(1)));
  add(std::vector<uint8_t>(64, 0xAB));  // a corrupt slot between good records: Open rewrites the log
  add(EncodeUploadRecord(UploadRecordType::kBlobQueued, 5, Key(2)));
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  }
  UploadLogReplay replay = ReplayUploadLog(file);
  CHECK(replay.pending.count(5) == 1);
  CHECK(replay.lost.empty());
  for (int open = 0; open < 2; ++open) {
    CAPTURE(open);
    auto log = std::move(UploadLog::Open(path).value());
    auto pending = log->Pending();
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].seq == 5);
    CHECK(pending[0].key == Key(2));
    CHECK(log->Lost().empty());
  }
}

TEST_CASE("UploadLog: a seq queued again without data no longer carries the data of its earlier record (found by fuzzing)") {
  // A damaged log that reuses a seq: blob-data for key 1, then blob-queued
  // for key 2. The later record is the entry; the earlier bytes are not
  // key 2's and must not be handed out as its data (Open and fsck's Scan
  // used to disagree on it).
  using namespace amberfs;
  TempDir dir("blobs-log");
  const std::string path = dir / "upload.log";
  std::vector<uint8_t> file = EncodeUploadRecord(UploadRecordType::kBlobData, 5, Key(1), Bytes("key 1's bytes"));
  std::vector<uint8_t> again = EncodeUploadRecord(UploadRecordType::kBlobQueued, 5, Key(2));
  file.insert(file.end(), again.begin(), again.end());
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  }
  UploadLogReplay replay = ReplayUploadLog(file, /*keep_data=*/true);
  REQUIRE(replay.pending.count(5) == 1);
  CHECK(replay.pending[5].key == Key(2));
  CHECK_FALSE(replay.pending[5].logged_data);
  CHECK(replay.data.count(5) == 0);
  CHECK(replay.carried.count(5) == 0);
  auto log = std::move(UploadLog::Open(path).value());
  auto pending = log->Pending();
  REQUIRE(pending.size() == 1);
  CHECK_FALSE(pending[0].logged_data);
  CHECK(log->ReadData(5).status().code() == ENOENT);
}
