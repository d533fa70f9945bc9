// DiskStore's bounds and hygiene: reads bounded by the largest blob or ref,
// private modes (0700 directories, 0600 files, and the upload log), and one
// log line for the temp files a crash left behind.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/durable_file.h"
#include "store/disk_store.h"
#include "store/upload_log.h"
#include "support/stderr_capture.h"
#include "support/temp_dir.h"

using namespace amberfs;
using namespace amberfs::testing;

namespace {

unsigned ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// A sparse file of `size` bytes (no disk, no memory).
void MakeSparse(const std::string& path, off_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, size) == 0);
  ::close(fd);
}

}  // namespace

TEST_CASE("DiskStore: a blob or ref file too big to be one is an error, never read whole") {
  TempDir dir("disk-limits");
  auto store = DiskStore::Open(dir / "s").value();
  std::vector<uint8_t> data(100, 7);
  const Pointer key = Pointer::Of(data);
  REQUIRE(store->Put(key, data).ok());
  // Damage: the file claims 100 GiB (sparse, so the test costs nothing).
  MakeSparse(store->BlobPath(key), off_t{100} << 30);
  auto got = store->Get(key);
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == EBADMSG);
  CHECK(got.status().message().find(key.Hex()) != std::string::npos);
  CHECK(got.status().message().find("corrupt") != std::string::npos);

  REQUIRE(store->PutRef("volumes/u/config", data).ok());
  MakeSparse(dir / "s/volumes/u/config", off_t{2} << 20);
  auto ref = store->GetRef("volumes/u/config");
  REQUIRE_FALSE(ref.ok());
  CHECK(ref.status().code() == EFBIG);

  // And nothing that big can be put.
  std::vector<uint8_t> huge(kMaxBlobBytes + 1);
  CHECK(store->Put(Pointer::Of(huge), huge).code() == EINVAL);
  std::vector<uint8_t> big_ref(kMaxRefBytes + 1);
  CHECK(store->PutRef("volumes/u/big", big_ref).code() == EINVAL);
}

TEST_CASE("DiskStore and the upload log are private: 0700 directories, 0600 files") {
  TempDir dir("disk-modes");
  ::chmod(dir.path().c_str(), 0755);  // what a store directory's parent often is
  auto store = DiskStore::Open(dir / "store").value();
  std::vector<uint8_t> data(5000, 3);
  const Pointer key = Pointer::Of(data);
  REQUIRE(store->Put(key, data).ok());
  REQUIRE(store->PutRef("volumes/u/snapshots/s1", data).ok());
  std::vector<uint8_t> other(8192, 4);
  auto batch = store->NewPutBatch();
  REQUIRE(batch->Put(Pointer::Of(other), other).ok());
  REQUIRE(batch->Commit().ok());

  CHECK(ModeOf(dir / "store") == 0700);
  CHECK(ModeOf(dir / "store/blobs") == 0700);
  CHECK(ModeOf(dir / "store/blobs/" + key.Hex().substr(0, 2)) == 0700);
  CHECK(ModeOf(dir / "store/volumes") == 0700);
  CHECK(ModeOf(dir / "store/volumes/u/snapshots") == 0700);
  CHECK(ModeOf(store->BlobPath(key)) == 0600);
  CHECK(ModeOf(store->BlobPath(Pointer::Of(other))) == 0600);
  CHECK(ModeOf(dir / "store/volumes/u/snapshots/s1") == 0600);

  // An upload log made 0644 by an older version is made private at open,
  // and stays so through compaction (a rewrite into a new file).
  const std::string log_path = dir / "upload.log";
  ::close(::open(log_path.c_str(), O_WRONLY | O_CREAT, 0644));
  ::chmod(log_path.c_str(), 0644);
  {
    auto log = UploadLog::Open(log_path).value();
    CHECK(ModeOf(log_path) == 0600);
    auto seq = log->AppendBlob(key);
    REQUIRE(seq.ok());
    REQUIRE(log->MarkDone(*seq).ok());
    REQUIRE(log->Compact().ok());
    CHECK(ModeOf(log_path) == 0600);
  }
}

TEST_CASE("DiskStore: the temp files a crash left are removed with one log line for all") {
  TempDir dir("disk-temps");
  {
    auto store = DiskStore::Open(dir / "s").value();
  }
  const int kLeft = 300;
  for (int i = 0; i < kLeft; ++i) {
    std::string sub = dir / ("s/blobs/" + std::string(i % 2 ? "0a" : "ff"));
    int fd = ::open((sub + "/" + MakeTempName()).c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    ::close(fd);
  }
  StderrCapture log;
  DiskStoreOptions exclusive;
  exclusive.exclusive = true;
  auto store = DiskStore::Open(dir / "s", exclusive);
  REQUIRE(store.ok());
  CHECK(log.Lines("temp file") == 1);
  CHECK(log.Lines("removed 300 leftover temp files") == 1);
  std::vector<Pointer> listed;
  REQUIRE((*store)->List([&](const Pointer& p) {
    listed.push_back(p);
    return Status::OK();
  }).ok());
  CHECK(listed.empty());
}
