// fsck of packs: the fast store's pack files decode (and verify with
// --read-data), the blob index agrees with their tables both ways, evicted
// packs are in the slow store, and (--slow) the slow store's index objects
// decode and have their pack objects. Each damage is absent from the clean
// run and found, with its class and the object it names, once it is made.
#include <doctest/doctest.h>

#include <filesystem>

#include "amberfs/fsck.h"
#include "store/disk_store.h"
#include "store/pack_objects.h"
#include "store/pack_orphans.h"
#include "support/fsck_test_helpers.h"
#include "support/pack_test_util.h"
#include "support/temp_dir.h"

using amberfs::FsckClass;
using amberfs::FsckReport;
using amberfs::Pointer;
using amberfs::testing::TempDir;
using namespace amberfs::testing::fsck;

namespace {

// The fast pack holding blob, and its path.
struct FastPack {
  Pointer name;
  amberfs::BlobLocation where;  // the blob's
  std::string path;
};

FastPack PackOf(const std::string& dir, const Pointer& blob) {
  auto fast = OpenFast(dir);
  auto where = fast->index().Lookup(blob);
  REQUIRE(where.ok());
  return {where->pack, *where, fast->packs_dir() + "/" + where->pack.Hex()};
}

std::unique_ptr<amberfs::DiskStore> OpenArchive(const std::string& dir) {
  auto disk = amberfs::DiskStore::Open(dir + "/archive");
  REQUIRE(disk.ok());
  return std::move(disk).value();
}

bool HasClass(const FsckReport& r, FsckClass cls) { return r.Count(cls, false) + r.Count(cls, true) > 0; }

}  // namespace

TEST_CASE("fsck packs: a clean volume's packs check clean; --read-data reads each pack once") {
  TempDir dir("fsck-packs");
  Build(dir.path());
  FsckReport r = Run(dir.path(), false, /*read_data=*/true, false, /*slow=*/true);
  INFO(Text(r));
  CHECK(r.ExitCode(true) == amberfs::kFsckOk);
  CHECK(r.counts.fast_packs >= 3);
  CHECK(r.counts.fast_packs_read == r.counts.fast_packs);
  CHECK(r.counts.pack_bytes_read > 0);
  CHECK(r.counts.slow_packs == r.counts.fast_packs);
  CHECK(r.counts.slow_pack_objects == r.counts.slow_packs);
  CHECK(r.counts.dead_pack_bytes == 0);
  // Every reached chunk counts as read, its bytes read once (by its pack).
  CHECK(r.counts.blobs_read >= r.counts.chunk_blobs);
  CHECK(r.counts.bytes_read == r.counts.blobs_read * kChunk);
  CHECK(Text(r).find("Fast store: ") != std::string::npos);
  CHECK(amberfs::RenderFsckJson(r, false).find("\"fast_packs\": ") != std::string::npos);
}

TEST_CASE("fsck packs: a damaged pack trailer is a pack problem naming the pack and the field") {
  TempDir dir("fsck-packs");
  Built b = Build(dir.path());
  const FastPack pack = PackOf(dir.path(), b.chunks[1]);
  FsckReport clean = Run(dir.path());
  CHECK_FALSE(HasClass(clean, FsckClass::kPack));
  const auto size = static_cast<off_t>(std::filesystem::file_size(pack.path));
  FlipByte(pack.path, size - static_cast<off_t>(amberfs::kPackTrailerSize) + 20);  // the entry count

  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kPack, pack.name.Hex()));
  CHECK(Has(r, FsckClass::kPack, "trailer checksum mismatch"));
  CHECK(r.counts.fast_packs == clean.counts.fast_packs);  // the damaged one was checked too
}

TEST_CASE("fsck packs: a pack that does not verify is a note; its damaged live blob is read alone and found") {
  TempDir dir("fsck-packs");
  Built b = Build(dir.path());
  const FastPack pack = PackOf(dir.path(), b.chunks[2]);
  FlipByte(pack.path, static_cast<off_t>(pack.where.offset) + 7);
  CHECK_FALSE(HasClass(Run(dir.path()), FsckClass::kPack));  // nothing read, nothing found

  FsckReport r = Run(dir.path(), false, /*read_data=*/true);
  INFO(Text(r));
  CHECK(Has(r, FsckClass::kNote, pack.name.Hex()));
  CHECK(Has(r, FsckClass::kNote, "does not verify"));
  CHECK_FALSE(HasClass(r, FsckClass::kPack));
  // The pack was not verified, so its blobs were read on their own: the
  // damaged one is a corrupt blob (which -y refetches).
  CHECK(Has(r, FsckClass::kCorruptBlob, b.chunks[2].Hex()));
  CHECK(r.counts.fast_packs_read == r.counts.fast_packs);
}

TEST_CASE("fsck packs: an evicted pack is fine while the slow store has it, an error once it lacks it too") {
  TempDir dir("fsck-packs");
  Built b = Build(dir.path());
  const FastPack pack = PackOf(dir.path(), b.chunks[0]);
  std::filesystem::remove(pack.path);  // evicted: the index entries stay

  FsckReport evicted = Run(dir.path());
  INFO(Text(evicted));
  CHECK(evicted.ExitCode(false) == amberfs::kFsckOk);
  CHECK(evicted.counts.evicted_packs == 1);
  CHECK_FALSE(HasClass(evicted, FsckClass::kPack));

  REQUIRE(amberfs::DeletePack(*OpenArchive(dir.path()), pack.name).ok());
  FsckReport lost = Run(dir.path());
  INFO(Text(lost));
  CHECK(lost.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(lost, FsckClass::kPack, pack.name.Hex()));
  CHECK(Has(lost, FsckClass::kPack, "the slow store has no such pack: the 4 blobs"));
}

TEST_CASE("fsck packs: an index entry whose offset disagrees with the pack's table names the blob and the field") {
  TempDir dir("fsck-packs");
  Built b = Build(dir.path());
  const FastPack pack = PackOf(dir.path(), b.chunks[3]);
  CHECK_FALSE(HasClass(Run(dir.path()), FsckClass::kPack));
  {
    auto fast = OpenFast(dir.path());
    amberfs::IndexUpdate u{b.chunks[3], false, pack.where};
    u.where.offset += 4096;
    REQUIRE(fast->index().Commit({&u, 1}).ok());
  }

  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kPack, pack.name.Hex()));
  CHECK(Has(r, FsckClass::kPack, "blob " + b.chunks[3].Hex() + ": offset: index " +
                                     std::to_string(pack.where.offset + 4096) + ", table " +
                                     std::to_string(pack.where.offset)));
}

TEST_CASE("fsck packs: a tombstoned blob in a live pack is reclaimable bytes, not a problem") {
  TempDir dir("fsck-packs");
  Built b = Build(dir.path());
  CHECK(Run(dir.path()).counts.dead_pack_bytes == 0);
  FastDelete(dir.path(), b.chunks[0]);
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(true) == amberfs::kFsckOk);
  CHECK(r.counts.dead_pack_bytes == kChunk);
  CHECK(Text(r).find("64 KiB of dead blobs") != std::string::npos);
}

TEST_CASE("fsck packs: --slow finds a slow pack object without its index object, as a leak") {
  TempDir dir("fsck-packs");
  Build(dir.path());
  CHECK(Run(dir.path(), false, false, false, /*slow=*/true).ExitCode(true) == amberfs::kFsckOk);
  std::filesystem::create_directories(dir / "scratch");
  amberfs::testing::BuiltPack extra = amberfs::testing::BuildPack(dir / "scratch", 1, 3);
  const std::string object = amberfs::PackObjectName(extra.sealed.name);
  REQUIRE(OpenArchive(dir.path())->PutObject(object, extra.bytes).ok());  // as a crash between PutPack's PUTs

  CHECK(Run(dir.path()).problems.empty());  // a --slow check only
  FsckReport r = Run(dir.path(), false, false, false, /*slow=*/true);
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckOk);
  CHECK(r.ExitCode(true) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kLeak, object));
  CHECK(r.counts.slow_pack_objects == r.counts.slow_packs + 1);
  // -y leaves it (its age is unknown).
  Run(dir.path(), /*repair=*/true, false, false, /*slow=*/true);
  CHECK(std::filesystem::exists(dir / ("archive/" + object)));
}

TEST_CASE("fsck packs: --slow names a slow index object that does not decode") {
  TempDir dir("fsck-packs");
  Built b = Build(dir.path());
  const FastPack pack = PackOf(dir.path(), b.chunks[1]);
  const std::string object = amberfs::PackIndexObjectName(pack.name);
  CHECK_FALSE(Has(Run(dir.path(), false, false, false, /*slow=*/true), FsckClass::kSlowStore, object));
  FlipByte(dir / ("archive/" + object), 10);  // the table's first entry's id

  FsckReport r = Run(dir.path(), false, false, false, /*slow=*/true);
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kSlowStore, object));
  CHECK(Has(r, FsckClass::kSlowStore, "index object does not decode"));
}
