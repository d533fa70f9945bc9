#include "store/disk_store.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/fault_file_ops.h"
#include "support/temp_dir.h"

using amberfs::DiskStore;
using amberfs::Pointer;
using amberfs::Status;
using amberfs::testing::FaultFileOps;
using amberfs::testing::TempDir;

namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

void WriteRaw(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

}  // namespace

TEST_CASE("ValidateRefName accepts the grammar and nothing else") {
  using amberfs::ValidateRefName;
  CHECK(ValidateRefName("volumes/0f3a/config").ok());
  CHECK(ValidateRefName("volumes/0f3a/snapshots/20261122T103000Z").ok());
  CHECK(ValidateRefName("a.b_c-D9").ok());
  CHECK(ValidateRefName(std::string(512, 'a')).ok());
  for (std::string bad : std::vector<std::string>{"", "/abs", "a//b", "a/", "../x", "a/../b", ".hidden", "a/.tmp.1", "a b", "a\\b",
                          "a\nb", "blobs", "blobs/ab/cd", std::string(513, 'a'), std::string("a\0b", 3)}) {
    CAPTURE(bad);
    CHECK(ValidateRefName(bad).code() == EINVAL);
  }
  CHECK(ValidateRefName("x/blobs").ok());  // only the top-level name is reserved
}

TEST_CASE("DiskStore put/get/contains/delete/list") {
  TempDir dir;
  auto opened = DiskStore::Open(dir / "store");
  REQUIRE(opened.ok());
  DiskStore& store = **opened;
  CHECK(store.Describe() == "file://" + dir.path() + "/store");

  auto a = Bytes("alpha"), b = Bytes("beta");
  Pointer pa = Pointer::Of(a), pb = Pointer::Of(b);
  CHECK(store.Contains(pa).value() == false);
  CHECK(store.Get(pa).status().code() == ENOENT);
  REQUIRE(store.Put(pa, a).ok());
  REQUIRE(store.Put(pa, a).ok());  // idempotent
  REQUIRE(store.Put(pb, b).ok());
  CHECK(store.Contains(pa).value());
  CHECK(store.Get(pa).value() == a);
  struct stat st;
  CHECK(::stat((dir / "store/blobs/") .append(pa.Hex().substr(0, 2) + "/" + pa.Hex()).c_str(), &st) == 0);
  CHECK(store.BlobDiskSize(pa).value() > 0);

  CHECK(store.Put(pa, b).code() == EINVAL);                 // wrong key
  CHECK(store.Put(Pointer::Null(), {}).code() == EINVAL);  // null never stored

  std::set<Pointer> listed;
  REQUIRE(store.List([&](const Pointer& p) { listed.insert(p); return Status::OK(); }).ok());
  CHECK(listed == std::set<Pointer>{pa, pb});
  // List stops at and returns the callback's first error.
  int calls = 0;
  Status stop = store.List([&](const Pointer&) { ++calls; return Status::Error(ECANCELED, "stop"); });
  CHECK(stop.code() == ECANCELED);
  CHECK(calls == 1);

  REQUIRE(store.Delete(pa).ok());
  REQUIRE(store.Delete(pa).ok());  // missing is fine
  CHECK(store.Contains(pa).value() == false);
}

TEST_CASE("DiskStore Get detects corruption and names the blob and store") {
  TempDir dir;
  auto store = std::move(DiskStore::Open(dir.path()).value());
  auto data = Bytes("some chunk bytes");
  Pointer key = Pointer::Of(data);
  REQUIRE(store->Put(key, data).ok());
  WriteRaw(store->BlobPath(key), "some chunk bytez");
  auto got = store->Get(key);
  CHECK(got.status().code() == EBADMSG);
  CHECK(got.status().message().find(key.Hex()) != std::string::npos);
  CHECK(got.status().message().find(store->Describe()) != std::string::npos);
}

TEST_CASE("DiskStore List skips temp files and warns about strays") {
  TempDir dir;
  auto store = std::move(DiskStore::Open(dir.path(), {.exclusive = true}).value());
  auto data = Bytes("x");
  Pointer key = Pointer::Of(data);
  REQUIRE(store->Put(key, data).ok());
  WriteRaw(dir / "blobs/00/.tmp.123.4.5", "partial");
  WriteRaw(dir / "blobs/00/not-a-pointer", "junk");
  WriteRaw(dir / ("blobs/00/" + key.Hex()), "misplaced");  // valid hex, wrong subdir
  std::vector<Pointer> listed;
  REQUIRE(store->List([&](const Pointer& p) { listed.push_back(p); return Status::OK(); }).ok());
  CHECK(listed == std::vector<Pointer>{key});

  // Reopening an exclusive store removes the leftover temp file; a shared
  // store keeps a young one (another writer may own it).
  store.reset();
  WriteRaw(dir / "blobs/01/.tmp.9.9.9", "young");
  auto shared = DiskStore::Open(dir.path());
  REQUIRE(shared.ok());
  CHECK(::access((dir / "blobs/01/.tmp.9.9.9").c_str(), F_OK) == 0);
  auto exclusive = DiskStore::Open(dir.path(), {.exclusive = true});
  REQUIRE(exclusive.ok());
  CHECK(::access((dir / "blobs/00/.tmp.123.4.5").c_str(), F_OK) != 0);
  CHECK(::access((dir / "blobs/01/.tmp.9.9.9").c_str(), F_OK) != 0);
  CHECK(::access((dir / "blobs/00/not-a-pointer").c_str(), F_OK) == 0);  // not ours to delete
}

TEST_CASE("DiskStore refs: atomic replace, list by prefix, delete") {
  TempDir dir;
  auto store = std::move(DiskStore::Open(dir.path()).value());
  CHECK(store->GetRef("volumes/u1/config").status().code() == ENOENT);
  REQUIRE(store->PutRef("volumes/u1/config", Bytes("v1")).ok());
  REQUIRE(store->PutRef("volumes/u1/config", Bytes("version 2")).ok());
  CHECK(store->GetRef("volumes/u1/config").value() == Bytes("version 2"));
  REQUIRE(store->PutRef("volumes/u1/snapshots/b", Bytes("B")).ok());
  REQUIRE(store->PutRef("volumes/u1/snapshots/a", Bytes("A")).ok());
  REQUIRE(store->PutRef("volumes/u2/snapshots/a", Bytes("A2")).ok());
  WriteRaw(dir / "volumes/u1/snapshots/.tmp.1.2.3", "partial");

  CHECK(store->ListRefs("volumes/u1/snapshots/").value() ==
        std::vector<std::string>{"volumes/u1/snapshots/a", "volumes/u1/snapshots/b"});
  CHECK(store->ListRefs("volumes/").value() ==
        std::vector<std::string>{"volumes/u1/config", "volumes/u1/snapshots/a", "volumes/u1/snapshots/b",
                                 "volumes/u2/snapshots/a"});
  CHECK(store->ListRefs("volumes/u1/c").value() == std::vector<std::string>{"volumes/u1/config"});
  CHECK(store->ListRefs("").value() == store->ListRefs("volumes/").value());  // blobs/ is not a ref
  CHECK(store->ListRefs("nothing/here/").value().empty());
  CHECK(store->ListRefs("../").status().code() == EINVAL);

  CHECK(store->PutRef("../escape", Bytes("x")).code() == EINVAL);
  CHECK(store->GetRef("volumes/../../etc/passwd").status().code() == EINVAL);
  CHECK(::access((dir.path() + "/../escape").c_str(), F_OK) != 0);

  REQUIRE(store->DeleteRef("volumes/u1/snapshots/a").ok());
  REQUIRE(store->DeleteRef("volumes/u1/snapshots/a").ok());
  REQUIRE(store->DeleteRef("volumes/u1").ok());  // a directory, not a ref: nothing to do
  CHECK(store->GetRef("volumes/u1/snapshots/a").status().code() == ENOENT);
  CHECK(store->ListRefs("volumes/u1/snapshots/").value() == std::vector<std::string>{"volumes/u1/snapshots/b"});
}

TEST_CASE("DiskStore concurrent puts share directory fsyncs and all land") {
  TempDir dir;
  auto store = std::move(DiskStore::Open(dir.path()).value());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        auto data = Bytes("blob " + std::to_string(t) + "/" + std::to_string(i));
        CHECK(store->Put(Pointer::Of(data), data).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  size_t n = 0;
  REQUIRE(store->List([&](const Pointer&) { ++n; return Status::OK(); }).ok());
  CHECK(n == 200);
}

namespace {

// Files under blobs/ whose names start with ".tmp." (writes not committed).
int CountTemps(const std::string& root) {
  int n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root + "/blobs"))
    if (e.path().filename().string().rfind(".tmp.", 0) == 0) ++n;
  return n;
}

}  // namespace

TEST_CASE("DiskStore batch: blobs appear only at Commit, and a dropped batch leaves nothing") {
  TempDir dir;
  auto store = std::move(DiskStore::Open(dir.path(), {.exclusive = true}).value());
  std::vector<std::vector<uint8_t>> blobs;
  for (int i = 0; i < 50; ++i) blobs.push_back(Bytes("blob number " + std::to_string(i)));
  REQUIRE(store->Put(Pointer::Of(blobs[0]), blobs[0]).ok());  // one is there already

  auto batch = store->NewPutBatch();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = t; i < blobs.size(); i += 2) CHECK(batch->Put(Pointer::Of(blobs[i]), blobs[i]).ok());
    });
  for (auto& th : threads) th.join();
  CHECK(store->Contains(Pointer::Of(blobs[1])).value() == false);  // staged, not visible
  CHECK(CountTemps(dir.path()) == 49);                             // the existing blob is not rewritten
  REQUIRE(batch->Commit().ok());
  CHECK(CountTemps(dir.path()) == 0);
  for (const auto& b : blobs) CHECK(store->Get(Pointer::Of(b)).value() == b);
  CHECK(batch->Commit().ok());  // nothing left to commit

  auto dropped = store->NewPutBatch();
  auto extra = Bytes("never committed");
  REQUIRE(dropped->Put(Pointer::Of(extra), extra).ok());
  CHECK(CountTemps(dir.path()) == 1);
  dropped.reset();
  CHECK(CountTemps(dir.path()) == 0);
  CHECK(store->Contains(Pointer::Of(extra)).value() == false);
  CHECK(store->NewPutBatch()->Put(Pointer::Null(), extra).code() == EINVAL);
}

TEST_CASE("DiskStore batch: a process killed before Commit leaves only temp files, removed at Open") {
  TempDir dir;
  auto extra = Bytes("staged by a process that dies");
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto store = DiskStore::Open(dir.path(), {.exclusive = true});
    if (!store.ok()) ::_exit(2);
    auto batch = (*store)->NewPutBatch();
    if (!batch->Put(Pointer::Of(extra), extra).ok()) ::_exit(3);
    ::kill(::getpid(), SIGKILL);  // before Commit
    ::_exit(4);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFSIGNALED(status));
  CHECK(CountTemps(dir.path()) == 1);
  auto store = std::move(DiskStore::Open(dir.path(), {.exclusive = true}).value());
  CHECK(CountTemps(dir.path()) == 0);
  CHECK(store->Contains(Pointer::Of(extra)).value() == false);
}

TEST_CASE("DiskStore: a Put or a batch whose sync fails stores nothing and leaves no temp file") {
  TempDir dir;
  auto store = std::move(DiskStore::Open(dir.path(), {.exclusive = true}).value());
  auto one = Bytes("a put whose fdatasync fails");
  auto two = Bytes("a batch whose syncfs fails");
  FaultFileOps ops;
  ops.Fail(FaultFileOps::Call::kFdatasync, EIO);
  ops.Fail(FaultFileOps::Call::kSyncfs, EIO);
  {
    amberfs::ScopedFileOps installed(&ops);
    CHECK(store->Put(Pointer::Of(one), one).code() == EIO);
    auto batch = store->NewPutBatch();
    REQUIRE(batch->Put(Pointer::Of(two), two).ok());
    CHECK(batch->Commit().code() == EIO);
  }
  CHECK(CountTemps(dir.path()) == 0);
  CHECK(store->Contains(Pointer::Of(one)).value() == false);
  CHECK(store->Contains(Pointer::Of(two)).value() == false);
  REQUIRE(store->Put(Pointer::Of(one), one).ok());  // and with the disk back, it works
  CHECK(store->Get(Pointer::Of(one)).value() == one);
}
