// Rollback's intent record and its redo, and reading a snapshot through a
// handle across delete and retake of its name.
#include <doctest/doctest.h>
#include <unistd.h>

#include "snapshot/rollback_intent.h"
#include "snapshot/snapshotter.h"
#include "snapshot/volume_layout.h"
#include "support/snap_volume.h"
#include "support/temp_dir.h"

using namespace amberfs;
using amberfs::testing::FaultStore;
using amberfs::testing::Pattern;
using amberfs::testing::SnapVolume;
using amberfs::testing::TempDir;

namespace {

constexpr uint32_t kChunk = 64 << 10;

bool IntentExists(const SnapVolume& v) { return ::access(VolumePath(v.dir, kRollbackIntentFile).c_str(), F_OK) == 0; }

// A volume with snapshots A and B that differ in 24 of its 40 chunks.
struct TwoSnapshots {
  explicit TwoSnapshots(const char* name) : dir(name) {
    v.dir = dir.path();
    v.size = 40 * kChunk;
    REQUIRE(v.Open().ok());
    v.Write(0, Pattern(1, 24 * kChunk));
    v.Snapshot("A");
    copy_a = v.Contents();
    v.Write(0, Pattern(2, 24 * kChunk));
    v.Snapshot("B");
    copy_b = v.Contents();
  }
  TempDir dir;
  SnapVolume v;
  std::vector<uint8_t> copy_a, copy_b;
};

}  // namespace

TEST_CASE("rollback: the intent file round-trips and a damaged one is refused") {
  TempDir dir("rbintent");
  CHECK_FALSE(ReadRollbackIntent(dir.path()).value().has_value());
  Pointer record = Pointer::Of(std::vector<uint8_t>{1, 2, 3});
  REQUIRE(WriteRollbackIntent(dir.path(), RollbackIntent{"nightly-1", record}).ok());
  auto read = ReadRollbackIntent(dir.path());
  REQUIRE(read.ok());
  REQUIRE(read->has_value());
  CHECK((*read)->name == "nightly-1");
  CHECK((*read)->record == record);
  CHECK(WriteRollbackIntent(dir.path(), RollbackIntent{".bad", record}).code() == EINVAL);
  // One flipped byte anywhere is caught.
  const std::string path = VolumePath(dir.path(), kRollbackIntentFile);
  for (off_t at : {0, 9, 13, 20, 50, 57}) {
    REQUIRE(WriteRollbackIntent(dir.path(), RollbackIntent{"nightly-1", record}).ok());
    int fd = ::open(path.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    char c;
    REQUIRE(::pread(fd, &c, 1, at) == 1);
    c ^= 0x20;
    REQUIRE(::pwrite(fd, &c, 1, at) == 1);
    ::close(fd);
    CAPTURE(at);
    CHECK(ReadRollbackIntent(dir.path()).status().code() == EBADMSG);
  }
  REQUIRE(RemoveRollbackIntent(dir.path()).ok());
  REQUIRE(RemoveRollbackIntent(dir.path()).ok());  // absent is fine
  CHECK_FALSE(ReadRollbackIntent(dir.path()).value().has_value());
}

TEST_CASE("rollback: a rollback that fails midway leaves its intent, refuses writes, and is finished at the next open") {
  TwoSnapshots t("rbfail");
  SnapVolume& v = t.v;
  const std::vector<uint8_t>& copy_a = t.copy_a;
  const std::vector<uint8_t>& copy_b = t.copy_b;
  // A's chunk 8 cannot be read, so the rollback (which goes in chunk order)
  // stops after rewriting chunks 0 to 7.
  const Pointer chunk8 = Pointer::Of(std::vector<uint8_t>(copy_a.begin() + 8 * kChunk, copy_a.begin() + 9 * kChunk));
  v.fast_fault->Fail(FaultStore::Op::kGet, EIO, chunk8);
  v.slow_fault->Fail(FaultStore::Op::kGet, EIO, chunk8);
  auto rb = v.snap->Rollback("A");
  REQUIRE_FALSE(rb.ok());
  CHECK(rb.status().message().find("half rolled back") != std::string::npos);
  const auto half = v.Contents();
  CHECK(half != copy_a);
  CHECK(half != copy_b);
  CHECK(std::equal(copy_a.begin(), copy_a.begin() + 8 * kChunk, half.begin()));
  // The volume knows: the intent is on disk, and nothing may change it or
  // build on it until a rollback finishes.
  CHECK(IntentExists(v));
  CHECK(v.snap->Stats().unfinished_rollback == "A");
  CHECK(v.snap->Write(Pattern(9, kChunk).data(), kChunk, 30 * kChunk).code() == EROFS);
  CHECK(v.snap->Discard(30 * kChunk, kChunk).code() == EROFS);
  CHECK(v.snap->Snapshot("C").status().code() == EBUSY);
  CHECK(v.snap->Delete("B").code() == EBUSY);
  CHECK(v.snap->Gc().status().code() == EBUSY);

  v.fast_fault->Clear();
  v.slow_fault->Clear();
  v.Reopen();
  REQUIRE(v.snap->ResumeRollback().ok());
  CHECK(v.Contents() == copy_a);
  CHECK_FALSE(IntentExists(v));
  CHECK(v.snap->Stats().unfinished_rollback.empty());
  v.Write(30 * kChunk, Pattern(9, kChunk));  // writes are accepted again
  v.Snapshot("C");
}

TEST_CASE("rollback: a rollback cut off by a crash is redone over the same chunks at the next open") {
  TwoSnapshots t("rbcrash");
  SnapVolume& v = t.v;
  const std::vector<uint8_t>& copy_a = t.copy_a;
  v.Write(36 * kChunk, Pattern(5, kChunk));  // a change since B, undone too
  // What a crash leaves: the intent, and some chunks already rewritten (the
  // rollback's writes are marked like any write).
  auto entry = v.catalog->Get("A");
  REQUIRE(entry.ok());
  REQUIRE(WriteRollbackIntent(v.dir, RollbackIntent{"A", entry->record}).ok());
  v.Write(0, std::vector<uint8_t>(copy_a.begin(), copy_a.begin() + 5 * kChunk));
  REQUIRE(v.conductor->Flush().ok());
  v.Reopen();
  CHECK(v.Contents() != copy_a);
  REQUIRE(v.snap->ResumeRollback().ok());
  CHECK(v.Contents() == copy_a);
  CHECK_FALSE(IntentExists(v));
  REQUIRE(v.snap->ResumeRollback().ok());  // nothing left to do
  v.Reopen();
  CHECK(v.Contents() == copy_a);
  // The next snapshot is A's content, against the base B.
  v.Snapshot("C");
  CHECK(v.SnapshotContents("C") == copy_a);
}

TEST_CASE("rollback: an intent whose snapshot cannot be read keeps writes refused") {
  TwoSnapshots t("rbgone");
  SnapVolume& v = t.v;
  REQUIRE(WriteRollbackIntent(v.dir, RollbackIntent{"X", Pointer::Of(std::vector<uint8_t>{7})}).ok());
  v.Reopen();
  Status st = v.snap->ResumeRollback();
  CHECK_FALSE(st.ok());
  CHECK(st.message().find("finish the rollback to X") != std::string::npos);
  CHECK(v.snap->Write(Pattern(9, kChunk).data(), kChunk, 0).code() == EROFS);
  CHECK(IntentExists(v));
  // A rollback to another snapshot replaces the intent and ends the refusal.
  auto rb = v.snap->Rollback("B");
  REQUIRE_MESSAGE(rb.ok(), rb.status().ToString());
  CHECK(v.Contents() == t.copy_b);
  CHECK_FALSE(IntentExists(v));
  v.Write(0, Pattern(9, kChunk));
}

TEST_CASE("snapshot handles: an open snapshot keeps its content after delete and retake of its name") {
  TwoSnapshots t("snaphandle");
  SnapVolume& v = t.v;
  auto handle = v.snap->OpenSnapshot("A");
  REQUIRE(handle.ok());
  REQUIRE(v.snap->Delete("A").ok());
  v.Snapshot("A");  // the volume is B now
  std::vector<uint8_t> got(v.size);
  REQUIRE(v.snap->ReadSnapshot(*handle, got.data(), got.size(), 0).ok());
  CHECK(got == t.copy_a);
  CHECK(v.SnapshotContents("A") == t.copy_b);
  auto again = v.snap->OpenSnapshot("A");
  REQUIRE(again.ok());
  CHECK(again->created_ns != handle->created_ns);
  CHECK(v.snap->OpenSnapshot("nope").status().code() == ENOENT);
  CHECK(v.snap->ReadSnapshot(SnapshotHandle{}, got.data(), 1, 0).code() == EBADF);
}
