// PackedDiskStore (packed_disk_store.h) beyond the Store contract: what a
// batch leaves on disk and what it syncs, reopen, damage, crashes between
// sealing and indexing, unsealed packs, packs freed once their every blob
// is deleted.
#include "store/packed_disk_store.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/durable_file.h"
#include "store/pack_orphans.h"
#include "store/paired_store.h"
#include "support/fault_file_ops.h"
#include "support/store_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::FaultFileOps;
using testing::TempDir;

std::vector<uint8_t> Blob(int seed, size_t size) { return testing::TestBlob(seed, size); }
std::vector<std::string> Files(const std::string& dir) { return testing::DirEntries(dir); }



std::unique_ptr<PackedDiskStore> MustOpen(const std::string& root, PackedDiskStoreOptions o = {}) {
  auto r = PackedDiskStore::Open(root, o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(*r);
}

Status PutAll(PackedDiskStore& s, int first, int n, size_t size = 65536) {
  auto batch = s.NewPutBatch();
  for (int i = first; i < first + n; ++i) {
    auto b = Blob(i, size);
    AMBER_RETURN_IF_ERROR(batch->Put(Pointer::Of(b), b));
  }
  return batch->Commit();
}

TEST_CASE("packed store: a batch is packs of the target size, three syncs, no syncfs; reopen reads it all") {
  TempDir dir("packed");
  const std::string root = dir / "store";
  PackedDiskStoreOptions o;
  o.pack.target_bytes = 1 << 20;  // 16 blobs of 64 KiB a pack
  {
    auto s = MustOpen(root, o);
    FaultFileOps counting;  // fails nothing: counts the syncs
    {
      ScopedFileOps scoped(&counting);
      REQUIRE(PutAll(*s, 0, 40).ok());
    }
    CHECK(Files(s->packs_dir()).size() == 3);  // 16 + 16 + 8
    CHECK(counting.Calls(FaultFileOps::Call::kSyncfs) == 0);
    CHECK(counting.Calls(FaultFileOps::Call::kFdatasync) == 3 + 1);  // each pack, then the index log
    CHECK(counting.Calls(FaultFileOps::Call::kFsync) == 1);          // packs/, once
    CHECK(Files(root + "/blobs/00").empty());                        // nothing loose
  }
  auto s = MustOpen(root, o);
  for (int i = 0; i < 40; ++i) {
    auto b = Blob(i, 65536);
    CHECK(s->Get(Pointer::Of(b)).value() == b);
  }
  // A second batch with some of the same blobs writes only the new ones.
  REQUIRE(PutAll(*s, 30, 20).ok());
  CHECK(Files(s->packs_dir()).size() == 4);
  uint64_t listed = 0;
  REQUIRE(s->List([&](const Pointer&) { ++listed; return Status::OK(); }).ok());
  CHECK(listed == 50);
}

TEST_CASE("packed store: damage in a pack is EBADMSG naming the blob; a missing pack is ENOENT until put again") {
  TempDir dir("packed");
  auto s = MustOpen(dir / "store");
  REQUIRE(PutAll(*s, 0, 3, 8192).ok());
  const std::vector<std::string> packs = Files(s->packs_dir());
  REQUIRE(packs.size() == 1);
  const std::string pack = s->packs_dir() + "/" + packs[0];
  auto b1 = Blob(1, 8192);
  const BlobLocation where = s->index().Lookup(Pointer::Of(b1)).value();
  REQUIRE(testing::FlipByte(pack, where.offset + 5, 1));
  auto got = s->Get(Pointer::Of(b1));
  CHECK(got.status().code() == EBADMSG);
  CHECK(got.status().message().find(Pointer::Of(b1).Hex()) != std::string::npos);
  auto b0 = Blob(0, 8192);
  CHECK(s->Get(Pointer::Of(b0)).value() == b0);
  std::filesystem::remove(pack);
  auto gone = s->Get(Pointer::Of(b0));
  CHECK(gone.status().code() == ENOENT);
  CHECK(gone.status().message().find("is not here") != std::string::npos);
  // Put again (a refetch from the slow store): a loose copy, which Get finds;
  // the index still names the pack (the slow store's copy of it).
  REQUIRE(s->Put(Pointer::Of(b0), b0).ok());
  CHECK(s->Get(Pointer::Of(b0)).value() == b0);
  CHECK(std::filesystem::exists(s->loose().BlobPath(Pointer::Of(b0))));
  CHECK(s->index().Lookup(Pointer::Of(b0)).ok());
}

TEST_CASE("packed store: a batch whose index commit fails leaves an orphan pack, which the owner's next open removes") {
  TempDir dir("packed");
  const std::string root = dir / "store";
  auto s = MustOpen(root);
  {
    FaultFileOps faults;
    faults.Fail(FaultFileOps::Call::kFdatasync, EIO, 1, 1);  // the pack's sync passes, the index log's fails
    ScopedFileOps scoped(&faults);
    CHECK(PutAll(*s, 0, 5, 4096).code() == EIO);
  }
  // The pack is sealed and durable but no index entry names it: an orphan,
  // and no blob of it is visible.
  CHECK(Files(s->packs_dir()).size() == 1);
  for (int i = 0; i < 5; ++i) CHECK(s->Contains(Pointer::Of(Blob(i, 4096))).value() == false);
  const std::string packs = s->packs_dir();
  s.reset();
  {  // a guest finds the orphan and leaves it
    PackedDiskStoreOptions guest;
    guest.read_only = true;
    guest.disk.exclusive = false;
    auto g = MustOpen(root, guest);
    auto orphans = FindOrphanPacks(g->packs_dir(), g->index());
    REQUIRE(orphans.ok());
    REQUIRE(orphans->size() == 1);
    CHECK((*orphans)[0].bytes > 5 * 4096);
  }
  CHECK(Files(packs).size() == 1);
  s = MustOpen(root);  // the owner's open removes it (and the index, failed until reopened, works again)
  CHECK(Files(packs).empty());
  {
    auto batch = s->NewPutBatch();
    auto b = Blob(99, 4096);
    REQUIRE(batch->Put(Pointer::Of(b), b).ok());
    CHECK(Files(s->packs_dir()).size() == 1);  // the open pack's temp file
  }
  CHECK(Files(s->packs_dir()).empty());  // dropped uncommitted: its temp file went
  REQUIRE(PutAll(*s, 0, 5, 4096).ok());
  for (int i = 0; i < 5; ++i) CHECK(s->Get(Pointer::Of(Blob(i, 4096))).value() == Blob(i, 4096));
}

TEST_CASE("packed store: ref names under packs/ and index/ are refused, and never listed") {
  TempDir dir("packed");
  auto s = MustOpen(dir / "store");
  REQUIRE(PutAll(*s, 0, 2, 4096).ok());
  CHECK(s->PutRef("packs/x", std::vector<uint8_t>{1}).code() == EINVAL);
  CHECK(s->PutRef("index/MANIFEST", std::vector<uint8_t>{1}).code() == EINVAL);
  REQUIRE(s->PutRef("volumes/u/config", std::vector<uint8_t>{1}).ok());
  CHECK(s->ListRefs("").value() == std::vector<std::string>{"volumes/u/config"});
}

}  // namespace
}  // namespace amberfs

namespace amberfs {
namespace {

// Puts blobs 0..19 (64 KiB each) in one batch through `store`: two packs of
// 1 MiB target, 16 blobs and 4. Returns the blobs of each pack, by pack name.
std::map<std::string, std::vector<Pointer>> PutTwoPacks(Store& store, PackedDiskStore& packed) {
  auto batch = store.NewPutBatch();
  for (int i = 0; i < 20; ++i) {
    auto b = Blob(i, 65536);
    REQUIRE(batch->Put(Pointer::Of(b), b).ok());
  }
  REQUIRE(batch->Commit().ok());
  std::map<std::string, std::vector<Pointer>> by_pack;
  for (int i = 0; i < 20; ++i) {
    const Pointer key = Pointer::Of(Blob(i, 65536));
    by_pack[packed.index().Lookup(key).value().pack.Hex()].push_back(key);
  }
  REQUIRE(by_pack.size() == 2);
  return by_pack;
}

// Deletes every blob of the bigger pack and all but one of the other, then
// ReclaimDeleted: the first pack's file is gone (its bytes reported), the
// second stays and its live blob reads. No reopen.
void DeleteAndReclaim(Store& store, PackedDiskStore& packed,
                      const std::function<Status(std::span<const Pointer>)>& delete_blobs) {
  auto by_pack = PutTwoPacks(store, packed);
  auto dead = by_pack.begin(), kept = std::next(dead);
  if (dead->second.size() < kept->second.size()) std::swap(dead, kept);
  const std::string dead_path = packed.packs_dir() + "/" + dead->first;
  const uint64_t dead_bytes = std::filesystem::file_size(dead_path);
  const Pointer live = kept->second.back();
  std::vector<Pointer> doomed = dead->second;
  doomed.insert(doomed.end(), kept->second.begin(), kept->second.end() - 1);
  REQUIRE(delete_blobs(doomed).ok());
  CHECK(Files(packed.packs_dir()).size() == 2);  // tombstones only, so far
  auto freed = store.ReclaimDeleted();
  REQUIRE_MESSAGE(freed.ok(), freed.status().ToString());
  CHECK(*freed == dead_bytes);
  CHECK_FALSE(std::filesystem::exists(dead_path));
  CHECK(Files(packed.packs_dir()) == std::vector<std::string>{kept->first});
  int i = 0;
  while (!(Pointer::Of(Blob(i, 65536)) == live)) ++i;
  CHECK(store.Get(live).value() == Blob(i, 65536));
  CHECK(packed.Get(live).value() == Blob(i, 65536));
  for (const Pointer& key : doomed) CHECK(store.Contains(key).value() == false);
  CHECK(store.ReclaimDeleted().value() == 0);  // nothing deleted since
}

TEST_CASE("packed store: a pack whose every blob is deleted is removed by ReclaimDeleted, before any reopen") {
  TempDir dir("packed");
  PackedDiskStoreOptions o;
  o.pack.target_bytes = 1 << 20;
  auto s = MustOpen(dir / "store", o);
  Store& store = *s;
  DeleteAndReclaim(store, *s, [&](std::span<const Pointer> keys) {
    for (const Pointer& key : keys) AMBER_RETURN_IF_ERROR(store.Delete(key));
    return Status::OK();
  });
  // A guest reclaims nothing: it is not the store's writer.
  PackedDiskStoreOptions guest = o;
  guest.read_only = true;
  guest.disk.exclusive = false;
  auto g = MustOpen(dir / "store", guest);
  CHECK(g->ReclaimDeleted().value() == 0);
}

TEST_CASE("paired over packs: DeleteBlobs then ReclaimDeleted frees the fast store's dead pack; the other stays") {
  TempDir dir("packed-paired");
  PackedDiskStoreOptions o;
  o.pack.target_bytes = 1 << 20;
  auto fast = MustOpen(dir / "fast", o);
  PackedDiskStore* packed = fast.get();
  auto slow = DiskStore::Open(dir / "slow");
  REQUIRE(slow.ok());
  PairedOptions options;
  options.upload_workers = 2;
  auto paired = PairedStore::Open(std::move(fast), std::move(slow).value(), dir / "upload.log", options);
  REQUIRE_MESSAGE(paired.ok(), paired.status().ToString());
  PairedStore& store = **paired;
  DeleteAndReclaim(store, *packed, [&](std::span<const Pointer> keys) {
    AMBER_RETURN_IF_ERROR(store.Drain());
    return store.DeleteBlobs(keys);
  });
}

}  // namespace
}  // namespace amberfs
