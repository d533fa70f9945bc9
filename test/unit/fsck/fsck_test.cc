// fsck: a battery of real damage to real volumes, each found with the right
// class, message and exit code; -y repairs the repairable ones and a second
// run is clean; nothing a snapshot needs is ever removed.
#include "amberfs/fsck.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "snapshot/change_tracker.h"
#include "store/packed_disk_store.h"
#include "store/upload_log.h"
#include "volume/volume_lock.h"
#include "support/fsck_test_helpers.h"
#include "support/fsck_test_volume.h"
#include "support/slow_store_damage.h"
#include "support/temp_dir.h"

using amberfs::FsckClass;
using amberfs::FsckOptions;
using amberfs::FsckReport;
using amberfs::Pointer;
using amberfs::testing::FlipSlowBlob;
using amberfs::testing::OpenSlowDir;
using amberfs::testing::RemoveSlowBlob;
using amberfs::testing::TempDir;
using amberfs::testing::TestVolume;
using namespace amberfs::testing::fsck;

TEST_CASE("fsck: a clean volume with many snapshots checks clean, with and without --read-data") {
  TempDir dir("fsck");
  Build(dir.path(), 24);
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(true) == amberfs::kFsckOk);
  CHECK(r.problems.empty());
  CHECK(r.counts.snapshots == 24);
  CHECK(r.counts.chunk_blobs > 24);
  CHECK(r.counts.index_nodes > 24);
  CHECK(r.counts.chunks_compared == 64);

  FsckReport d = Run(dir.path(), false, /*read_data=*/true, false, /*slow=*/true);
  INFO(Text(d));
  CHECK(d.ExitCode(true) == amberfs::kFsckOk);
  CHECK(d.counts.blobs_read >= d.counts.chunk_blobs);
  CHECK(d.counts.bytes_read == d.counts.blobs_read * kChunk);
  CHECK(amberfs::RenderFsckText(d, false).find("No errors were found") != std::string::npos);
}

TEST_CASE("fsck: a chunk blob missing from both stores is an uncorrectable error; --drop-broken drops the snapshot") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  // Missing from the fast store only is normal (evicted: the slow store has it).
  FastDelete(dir.path(), b.chunks[0]);
  CHECK(Run(dir.path()).ExitCode(false) == amberfs::kFsckOk);
  REQUIRE(RemoveSlowBlob(dir / "archive", b.chunks[0]));

  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kMissingBlob, b.chunks[0].Hex()));
  CHECK(Has(r, FsckClass::kMissingBlob, "of snapshot snap2"));
  // -y cannot bring it back and removes nothing.
  CHECK(Run(dir.path(), true).ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(std::filesystem::exists(dir / "catalog/snap2"));
  // --drop-broken gives up the damaged snapshot; the others stay and check clean.
  FsckReport d = Run(dir.path(), true, false, /*drop_broken=*/true);
  INFO(Text(d));
  CHECK(d.ExitCode(false) == amberfs::kFsckCorrected);
  CHECK_FALSE(std::filesystem::exists(dir / "catalog/snap2"));
  CHECK(std::filesystem::exists(dir / "catalog/snap1"));
  FsckReport again = Run(dir.path());
  INFO(Text(again));
  CHECK(again.Errors(false, false) == 0);
}

TEST_CASE("fsck: a deleted index node is found and named") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  FastDelete(dir.path(), b.root);
  REQUIRE(RemoveSlowBlob(dir / "archive", b.root));
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kMissingBlob, "index node (height 3, chunk 0) of snapshot snap2"));
  CHECK(Has(r, FsckClass::kNote, "snapshot snap2"));
}

TEST_CASE("fsck: a flipped byte in a chunk blob is found only with --read-data, and -y refetches it") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  FlipFastByte(dir.path(), b.chunks[1], 1000);
  CHECK(Run(dir.path()).ExitCode(false) == amberfs::kFsckOk);

  FsckReport r = Run(dir.path(), false, /*read_data=*/true);
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kCorruptBlob, b.chunks[1].Hex()));
  CHECK(Has(r, FsckClass::kCorruptBlob, "the slow store has a good one"));

  FsckReport y = Run(dir.path(), true, true);
  CHECK(y.ExitCode(false) == amberfs::kFsckCorrected);
  FsckReport again = Run(dir.path(), false, true);
  INFO(Text(again));
  CHECK(again.ExitCode(true) == amberfs::kFsckOk);

  // Damaged in both stores: reported, never "repaired" by deleting it.
  FlipByte(LooseFast(dir.path(), b.chunks[2]), 5);
  REQUIRE(FlipSlowBlob(dir / "archive", b.chunks[2], 5));
  FsckReport both = Run(dir.path(), true, true);
  INFO(Text(both));
  CHECK(both.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(both, FsckClass::kCorruptBlob, "no store has a good copy"));
  CHECK(std::filesystem::exists(BlobFile(dir.path(), "fast", b.chunks[2])));
}

TEST_CASE("fsck: a truncated blob is found without reading data and replaced from the slow store") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  std::filesystem::resize_file(LooseFast(dir.path(), b.chunks[3]), 1000);
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kCorruptBlob, "fast copy is 1000 bytes, expected 65536"));
  CHECK(Run(dir.path(), true).ExitCode(false) == amberfs::kFsckCorrected);
  CHECK(std::filesystem::file_size(BlobFile(dir.path(), "fast", b.chunks[3])) == kChunk);
  CHECK(Run(dir.path(), false, true).ExitCode(true) == amberfs::kFsckOk);
}

TEST_CASE("fsck: a corrupt catalog entry is rebuilt from the slow store's ref") {
  TempDir dir("fsck");
  Build(dir.path());
  FlipByte(dir / "catalog/snap1", 20);
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kCatalog, "catalog entry is corrupt"));
  // Orphans must not be removed while an entry is unreadable: it may reach them.
  CHECK(r.counts.snapshots == 2);
  FsckReport y = Run(dir.path(), true);
  INFO(Text(y));
  CHECK(y.ExitCode(false) == amberfs::kFsckCorrected);
  FsckReport again = Run(dir.path());
  INFO(Text(again));
  CHECK(again.ExitCode(true) == amberfs::kFsckOk);
  CHECK(again.counts.snapshots == 3);
}

TEST_CASE("fsck: a corrupt upload-log record is found and -y rewrites the log") {
  TempDir dir("fsck");
  QueueUploads(dir.path(), Build(dir.path()));
  const std::string log = dir / "upload.log";
  REQUIRE(std::filesystem::file_size(log) >= 4 * 64);
  FlipByte(log, 64 + 30);  // the second record, with good ones after it
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kUploadLog, "1 corrupt records between good ones"));
  CHECK(Run(dir.path(), true).ExitCode(false) == amberfs::kFsckCorrected);
  FsckReport again = Run(dir.path(), false, false, false, /*slow=*/true);
  INFO(Text(again));
  CHECK(again.ExitCode(true) == amberfs::kFsckOk);
}

TEST_CASE("fsck: a carried blob whose fast copy a crash lost is a note: the next open restores it") {
  TempDir dir("fsck");
  Build(dir.path());
  std::vector<uint8_t> data = ChunkData(42, 1);
  {
    amberfs::UploadLogOptions o;
    o.sync_published = [] { return amberfs::Status::OK(); };
    auto log = std::move(amberfs::UploadLog::Open(dir / "upload.log", o).value());
    REQUIRE(log->AppendBlobData(Pointer::Of(data), data).ok());
  }
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckOk);
  CHECK(Has(r, FsckClass::kNote, "the upload log carries the blob (the next open restores it)"));
}

TEST_CASE("fsck: a reached blob the upload log carries is not broken when a crash took its fast copy") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  std::vector<uint8_t> root = OpenFast(dir.path())->Get(b.root).value();
  std::vector<uint8_t> chunk = OpenFast(dir.path())->Get(b.chunks[0]).value();
  // Carried by the log (a single Put's blob not yet checkpointed), gone from
  // the slow store, and the fast copies lost or torn by a power failure.
  {
    amberfs::UploadLogOptions o;
    o.sync_published = [] { return amberfs::Status::OK(); };
    auto log = std::move(amberfs::UploadLog::Open(dir / "upload.log", o).value());
    REQUIRE(log->AppendBlobData(b.root, root).ok());
    REQUIRE(log->AppendBlobData(b.chunks[0], chunk).ok());
  }
  REQUIRE(RemoveSlowBlob(dir / "archive", b.root));
  REQUIRE(RemoveSlowBlob(dir / "archive", b.chunks[0]));
  FastDelete(dir.path(), b.root);
  std::filesystem::resize_file(LooseFast(dir.path(), b.chunks[0]), 10);
  FsckReport r = Run(dir.path(), false, /*read_data=*/true);
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckOk);
  CHECK(Has(r, FsckClass::kNote, b.root.Hex()));
  CHECK(Has(r, FsckClass::kNote, "the upload log carries the blob"));
  CHECK(r.counts.snapshots == 3);
}

TEST_CASE("fsck: a lost change mark is found and -y marks the chunk changed") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  {
    // Behind amberfs's back: no mark.
    std::vector<uint8_t> data = ChunkData(99, 20);
    int fd = ::open((dir / "image").c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(::pwrite(fd, data.data(), data.size(), 20 * kChunk) == static_cast<ssize_t>(kChunk));
    ::close(fd);
  }
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kChangeTracking, "1 chunks differ from snapshot snap2 but are not marked changed (chunk 20)"));
  CHECK(Run(dir.path(), true).ExitCode(false) == amberfs::kFsckCorrected);
  auto t = amberfs::ChangeTracker::Open(dir / "changes", kVolumeSize, kChunk);
  REQUIRE(t.ok());
  CHECK((*t)->IsMarked(20, amberfs::ChangeTracker::Set::kActive));
  CHECK((*t)->CountMarked(amberfs::ChangeTracker::Set::kActive) == 1);
  t->reset();
  FsckReport again = Run(dir.path());
  INFO(Text(again));
  CHECK(again.ExitCode(true) == amberfs::kFsckOk);
  CHECK(again.counts.chunks_marked == 1);
}

TEST_CASE("fsck: an orphan blob is a leak: exit 0, 4 with --strict; -y removes it") {
  TempDir dir("fsck");
  Build(dir.path());
  std::vector<uint8_t> stray(5000, 7);
  const Pointer key = Pointer::Of(stray);
  {
    auto fast = amberfs::DiskStore::Open(dir / "fast");
    REQUIRE(fast.ok());
    REQUIRE((*fast)->Put(key, stray).ok());
  }
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckOk);
  CHECK(r.ExitCode(true) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kLeak, key.Hex()));
  CHECK(Text(r).find("This means waste of disk space, but no harm to data") != std::string::npos);
  FsckReport y = Run(dir.path(), true);
  CHECK(y.ExitCode(true) == amberfs::kFsckCorrected);
  CHECK_FALSE(std::filesystem::exists(BlobFile(dir.path(), "fast", key)));
  CHECK(Run(dir.path()).ExitCode(true) == amberfs::kFsckOk);
}

TEST_CASE("fsck: a missing or wrong-size image is reported and never guessed at") {
  TempDir dir("fsck");
  Build(dir.path());
  std::filesystem::resize_file(dir / "image", kVolumeSize - 4096);
  FsckReport r = Run(dir.path(), true);
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kImage, "image is 4190208 bytes but the volume is 4194304 bytes"));
  CHECK(std::filesystem::file_size(dir / "image") == kVolumeSize - 4096);

  std::filesystem::remove(dir / "image");
  FsckReport m = Run(dir.path());
  INFO(Text(m));
  CHECK(m.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(m, FsckClass::kImage, "image is missing"));
  // The snapshots themselves are still checked.
  CHECK(m.counts.snapshots == 3);
  CHECK(m.counts.chunk_blobs > 0);
}

TEST_CASE("fsck: a mounted volume is checked read-only and never repaired") {
  TempDir dir("fsck");
  Build(dir.path());
  auto lock = amberfs::VolumeLock::Acquire(dir.path(), "mount");
  REQUIRE(lock.ok());
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.mounted);
  CHECK(r.ExitCode(false) == amberfs::kFsckOk);
  CHECK(r.counts.chunks_compared == 0);
  CHECK(Text(r).find("Skipped: image vs the base snapshot (the volume is mounted") != std::string::npos);
  FsckOptions o;
  o.voldir = dir.path();
  o.repair = true;
  auto y = amberfs::RunFsck(o);
  CHECK(y.status().code() == EBUSY);
}

TEST_CASE("fsck: --slow finds a blob the slow store lost, and -y queues it again") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  REQUIRE(RemoveSlowBlob(dir / "archive", b.chunks[0]));
  CHECK(Run(dir.path()).ExitCode(false) == amberfs::kFsckOk);  // the fast copy is fine
  FsckReport r = Run(dir.path(), false, false, false, /*slow=*/true);
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kSlowStore, "neither in the slow store nor queued for upload"));
  CHECK(Has(r, FsckClass::kSlowStore, "snapshot ref points at an incomplete snapshot"));
  CHECK(Run(dir.path(), true, false, false, true).ExitCode(false) == amberfs::kFsckCorrected);
  {
    // The next mount uploads it.
    auto fast = amberfs::PackedDiskStore::Open(dir / "fast");
    REQUIRE(fast.ok());
    auto paired = amberfs::PairedStore::Open(std::move(fast).value(), OpenSlowDir(dir / "archive"), dir / "upload.log");
    REQUIRE(paired.ok());
    REQUIRE((*paired)->Drain(std::chrono::seconds(30)).ok());
  }
  CHECK(Run(dir.path(), false, true, false, true).ExitCode(true) == amberfs::kFsckOk);
}

TEST_CASE("fsck: --slow reports a catalog snapshot whose ref is neither in the slow store nor queued") {
  TempDir dir("fsck");
  Build(dir.path());
  auto config = amberfs::VolumeConfig::Load(dir.path());
  REQUIRE(config.ok());
  const std::string ref = amberfs::SnapshotRef(config->uuid, "snap2");
  CHECK(Run(dir.path(), false, false, false, /*slow=*/true).ExitCode(false) == amberfs::kFsckOk);
  REQUIRE(amberfs::DiskStore::Open(dir / "archive").value()->DeleteRef(ref).ok());
  FsckReport r = Run(dir.path(), false, false, false, /*slow=*/true);
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kSlowStore, "snapshot snap2"));
  CHECK(Has(r, FsckClass::kSlowStore, "neither in the slow store nor queued"));
  // Queued in the upload log: on its way, not a problem.
  {
    auto log = amberfs::UploadLog::Open(dir / "upload.log");
    REQUIRE(log.ok());
    std::string value = "queued";
    REQUIRE((*log)->AppendRef(ref, std::vector<uint8_t>(value.begin(), value.end())).ok());
  }
  CHECK_FALSE(Has(Run(dir.path(), false, false, false, true), FsckClass::kSlowStore, "snapshot snap2"));
}

TEST_CASE("fsck: reports render as text and JSON with every class") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  FastDelete(dir.path(), b.chunks[0]);
  REQUIRE(RemoveSlowBlob(dir / "archive", b.chunks[0]));
  FsckReport r = Run(dir.path());
  std::string json = amberfs::RenderFsckJson(r, false);
  CHECK(json.find("\"exit_code\": 4") != std::string::npos);
  CHECK(json.find("\"missing-blob\": {\"found\": 1, \"repaired\": 0, \"bytes\": 65536}") != std::string::npos);
  CHECK(json.find(b.chunks[0].Hex()) != std::string::npos);
  std::string text = Text(r);
  CHECK(text.find("ERROR missing-blob " + b.chunks[0].Hex()) != std::string::npos);
  CHECK(text.find("    1 missing blob (64 KiB)") != std::string::npos);
  CHECK(text.find("1 error was found on the volume.") != std::string::npos);
}

TEST_CASE("fsck: bad options and a directory that is not a volume") {
  TempDir dir("fsck");
  FsckOptions o;
  o.voldir = dir.path();
  CHECK(amberfs::RunFsck(o).status().code() == ENOENT);
  o.voldir = dir / "nope";
  CHECK(amberfs::RunFsck(o).status().code() == ENOENT);  // does not exist
  { FILE* f = fopen((dir / "file").c_str(), "w"); fclose(f); }
  o.voldir = dir / "file";
  CHECK(amberfs::RunFsck(o).status().code() == ENOTDIR);
  o.voldir = dir.path();
  o.read_data_percent = 0;
  CHECK(amberfs::RunFsck(o).status().code() == EINVAL);
  o.read_data_percent = 100;
  o.drop_broken = true;
  CHECK(amberfs::RunFsck(o).status().code() == EINVAL);
}

namespace {

// Every path under dir with its bytes, to see that a check changed nothing.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    std::string content;
    if (e.is_regular_file()) {
      std::ifstream in(e.path(), std::ios::binary);
      content.assign(std::istreambuf_iterator<char>(in), {});
    }
    files[e.path().string()] = content;
  }
  return files;
}

}  // namespace

TEST_CASE("fsck: the default check changes nothing, whatever it finds") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  QueueUploads(dir.path(), b);
  FlipByte(dir / "catalog/snap0", 20);
  FlipByte(dir / "upload.log", 64 + 30);
  FlipByte(dir / "changes", 4096 + 100);  // a bitmap page
  FlipFastByte(dir.path(), b.chunks[1], 7);
  std::filesystem::resize_file(LooseFast(dir.path(), b.chunks[2]), 10);
  {
    std::ofstream(dir / "mounted") << "mounted by pid 1 at 2026-11-22T00:00:00Z\n";
    std::vector<uint8_t> stray(100, 1);
    auto fast = amberfs::DiskStore::Open(dir / "fast");
    REQUIRE((*fast)->Put(Pointer::Of(stray), stray).ok());
  }
  const auto before = Snapshot(dir.path());
  FsckReport r = Run(dir.path(), false, /*read_data=*/true, false, /*slow=*/true);
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kCatalog, "catalog entry is corrupt"));
  CHECK(Has(r, FsckClass::kUploadLog, "corrupt records"));
  CHECK(Has(r, FsckClass::kChangeTracking, "1 damaged bitmap pages"));
  CHECK(Has(r, FsckClass::kCorruptBlob, b.chunks[1].Hex()));
  CHECK(Has(r, FsckClass::kCorruptBlob, "fast copy is 10 bytes"));
  CHECK(Has(r, FsckClass::kNote, "the last mount did not end cleanly"));
  CHECK(r.Count(FsckClass::kLeak, false) >= 1);
  CHECK(Snapshot(dir.path()) == before);

  // -y fixes all of it; orphans stay while the catalog entry is unreadable
  // during the same run (it might reach them), so a second -y removes them.
  FsckReport y = Run(dir.path(), true, true);
  INFO(Text(y));
  CHECK(y.ExitCode(false) == amberfs::kFsckCorrected);
  CHECK(Text(y).find("Skipped: removing orphan blobs: a catalog entry or record is unreadable") != std::string::npos);
  CHECK(Run(dir.path(), true).ExitCode(false) == amberfs::kFsckOk);
  FsckReport again = Run(dir.path(), false, true, false, true);
  INFO(Text(again));
  CHECK(again.ExitCode(true) == amberfs::kFsckOk);
  CHECK(again.counts.snapshots == 3);
}

TEST_CASE("fsck: a missing change-tracker state is recreated with what differs marked") {
  TempDir dir("fsck");
  Build(dir.path());
  std::filesystem::remove(dir / "changes");
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kChangeTracking, "the change-tracker state is missing"));
  CHECK(Run(dir.path(), true).ExitCode(false) == amberfs::kFsckCorrected);
  FsckReport again = Run(dir.path());
  INFO(Text(again));
  CHECK(again.ExitCode(true) == amberfs::kFsckOk);
  CHECK(again.counts.chunks_marked == 0);  // the image equals the latest snapshot
}

TEST_CASE("fsck: --read-data-subset reads about that share of the blobs, the same share for the same seed") {
  TempDir dir("fsck");
  Build(dir.path(), 16);
  FsckOptions o;
  o.voldir = dir.path();
  o.read_data = true;
  o.read_data_percent = 50;
  o.sample_seed = 1234;
  auto a = amberfs::RunFsck(o);
  auto b = amberfs::RunFsck(o);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->counts.blobs_read > 0);
  CHECK(a->counts.blobs_read < a->counts.chunk_blobs);
  CHECK(a->counts.blobs_read == b->counts.blobs_read);
  CHECK(a->ExitCode(true) == amberfs::kFsckOk);
}

TEST_CASE("fsck: a damaged index node in the fast store is found without --read-data and replaced") {
  TempDir dir("fsck");
  Built b = Build(dir.path());
  FlipFastByte(dir.path(), b.root, 40);
  FsckReport r = Run(dir.path());
  INFO(Text(r));
  CHECK(r.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(r, FsckClass::kCorruptBlob, "index node (height 3, chunk 0) of snapshot snap2: fast copy is damaged"));
  CHECK(Run(dir.path(), true).ExitCode(false) == amberfs::kFsckCorrected);
  CHECK(Run(dir.path()).ExitCode(true) == amberfs::kFsckOk);
}

TEST_CASE("fsck: a deleted snapshot that is still the base keeps its blobs; a corrupt base is replaced") {
  TempDir dir("fsck");
  Build(dir.path());
  // `delete snap2` removes the entry; the base still names its record.
  std::filesystem::remove(dir / "catalog/snap2");
  FsckReport r = Run(dir.path(), true);
  INFO(Text(r));
  CHECK(r.ExitCode(true) == amberfs::kFsckOk);  // nothing leaked: the base reaches those blobs
  CHECK(r.counts.snapshots == 2);
  CHECK(r.counts.chunks_compared == 64);

  FlipByte(dir / "snapshot-base", 20);
  FsckReport b = Run(dir.path());
  INFO(Text(b));
  CHECK(b.ExitCode(false) == amberfs::kFsckUncorrected);
  CHECK(Has(b, FsckClass::kChangeTracking, "snapshot-base is corrupt"));
  FsckReport y = Run(dir.path(), true);
  INFO(Text(y));
  CHECK(y.ExitCode(false) == amberfs::kFsckCorrected);
  // The latest snapshot is the base now and every chunk is marked, so the
  // next snapshot reads them all.
  auto t = amberfs::ChangeTracker::Open(dir / "changes", kVolumeSize, kChunk);
  REQUIRE(t.ok());
  CHECK((*t)->CountMarked(amberfs::ChangeTracker::Set::kActive) == 64);
  t->reset();
  FsckReport again = Run(dir.path());
  INFO(Text(again));
  CHECK(again.Errors(false, false) == 0);
}

TEST_CASE("fsck: the text report counts in the singular for one") {
  FsckReport r;
  r.counts.snapshots = 1;
  r.counts.index_nodes = 1;
  r.counts.chunk_blobs = 1;
  r.counts.fast_blobs = 1;
  r.counts.pending_uploads = 1;
  r.counts.blobs_read = 1;
  const std::string one = Text(r);
  INFO(one);
  CHECK(one.find("1 snapshot, 1 index node, 1 chunk blob, ") != std::string::npos);
  CHECK(one.find("1 blob in the fast store, 1 upload pending.") != std::string::npos);
  CHECK(one.find("Read 1 blob (") != std::string::npos);
  r.counts.snapshots = 2;
  r.counts.fast_blobs = 0;
  const std::string two = Text(r);
  INFO(two);
  CHECK(two.find("2 snapshots, 1 index node") != std::string::npos);
  CHECK(two.find("0 blobs in the fast store") != std::string::npos);
}
