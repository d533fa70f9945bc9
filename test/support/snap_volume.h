// SnapVolume: a volume's snapshot stack in a temp directory for tests: a real
// image, Conductor, ChangeTracker, Paired(PackedDiskStore fast, DiskStore slow, both
// optionally behind a FaultStore), Catalog and Snapshotter, wired as a mount
// wires them. Reopen() closes and opens it again over the same files.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "amberfs/volume_config.h"
#include "cache/conductor.h"
#include "io/batch_io.h"
#include "io/device.h"
#include "snapshot/catalog.h"
#include "snapshot/change_tracker.h"
#include "snapshot/index_tree.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/snapshotter.h"
#include "snapshot/volume_layout.h"
#include "store/disk_store.h"
#include "store/packed_disk_store.h"
#include "store/paired_store.h"
#include "store/slow_packs.h"
#include "support/fault_store.h"

namespace amberfs::testing {

// The config a SnapVolume publishes (volumes/<uuid>/config): a real one, as
// a mount's, with no codec (the volume stores blobs as they are).
inline std::string TestConfigText(const std::string& uuid, uint64_t size, uint32_t chunk) {
  VolumeConfig c;
  c.uuid = uuid;
  c.size = size;
  c.chunk_size = chunk;
  c.block_size = std::min<uint32_t>(4096, chunk);
  c.slow_url = "file:///nonexistent/test-archive";
  c.compress = false;
  return c.Serialize();
}

inline constexpr const char* kTestUuid = "01234567-89ab-4cde-8f01-23456789abcd";

struct SnapVolume {
  std::string dir;
  std::string slow_dir;  // the slow store's root (default dir/archive)
  uint64_t size = 0;
  uint32_t chunk = 64 << 10;
  std::string uuid = kTestUuid;
  // The slow-store upload marker, as a mounted volume holds it.
  bool upload_locks = true;
  std::chrono::milliseconds lock_linger{50};
  // When set, opens the slow store instead of a DiskStore at slow_dir.
  std::function<Result<std::unique_ptr<Store>>()> open_slow;
  FaultStore* fast_fault = nullptr;  // owned by paired
  FaultStore* slow_fault = nullptr;
  std::unique_ptr<ChangeTracker> tracker;
  std::unique_ptr<PairedStore> paired;
  std::unique_ptr<Catalog> catalog;
  std::unique_ptr<Snapshotter> snap;
  std::unique_ptr<Conductor> conductor;

  // Opens (creating the image and tracker the first time). Returns the error
  // instead of failing the test, so a child process can _exit on it.
  Status Open(uint64_t cache_bytes = 1 << 20) {
    const std::string image = VolumePath(dir, kDefaultImageName), changes = VolumePath(dir, kChangesFile);
    if (slow_dir.empty()) slow_dir = VolumePath(dir, kDefaultSlowStoreDir);
    if (::access(image.c_str(), F_OK) != 0) {
      int fd = ::open(image.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
      if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) return Status::FromErrno(errno, "image");
      ::close(fd);
    }
    Result<std::unique_ptr<ChangeTracker>> t = ::access(changes.c_str(), F_OK) == 0
                                                   ? ChangeTracker::Open(changes, size, chunk)
                                                   : ChangeTracker::Create(changes, size, chunk);
    AMBER_RETURN_IF_ERROR(t.status());
    tracker = std::move(t).value();
    AMBER_ASSIGN_OR_RETURN(std::unique_ptr<PackedDiskStore> fast, PackedDiskStore::Open(VolumePath(dir, kFastStoreDir)));
    std::unique_ptr<Store> slow;
    if (open_slow) {
      AMBER_ASSIGN_OR_RETURN(slow, open_slow());
    } else {
      AMBER_ASSIGN_OR_RETURN(slow, DiskStore::Open(slow_dir));
    }
    // As OpenStoreUrl opens every slow store: packed blobs are blobs.
    if (dynamic_cast<SlowPacks*>(slow.get()) == nullptr)
      slow = std::make_unique<SlowPacks>(std::move(slow), SlowPacksOptions{std::chrono::milliseconds(0)});
    auto ff = std::make_unique<FaultStore>(std::move(fast), "fast");
    auto sf = std::make_unique<FaultStore>(std::move(slow), "slow");
    fast_fault = ff.get();
    slow_fault = sf.get();
    PairedOptions popts;
    popts.upload_workers = 4;
    popts.retry_initial = std::chrono::milliseconds(10);
    popts.retry_max = std::chrono::milliseconds(100);
    if (upload_locks) popts.lock_owner = uuid;
    popts.lock_linger = lock_linger;
    AMBER_ASSIGN_OR_RETURN(paired, PairedStore::Open(std::move(ff), std::move(sf), VolumePath(dir, kUploadLogFile), popts));
    AMBER_ASSIGN_OR_RETURN(catalog, Catalog::Open(dir));
    SnapshotterOptions so;
    so.voldir = dir;
    so.volume_uuid = uuid;
    so.volume_size = size;
    so.chunk_size = chunk;
    so.config_text = TestConfigText(uuid, size, chunk);
    so.cow_memory_bytes = 4 * chunk;  // exercise both the stash and inline copies
    AMBER_ASSIGN_OR_RETURN(snap, Snapshotter::Open(tracker.get(), paired.get(), catalog.get(), so));
    AMBER_ASSIGN_OR_RETURN(std::unique_ptr<Device> device, Device::Open(image, {}));
    ConductorOptions copts;
    copts.cache_bytes = cache_bytes;
    copts.writeback_age = std::chrono::milliseconds(5);
    copts.observer = snap->observer();
    AMBER_ASSIGN_OR_RETURN(conductor, Conductor::Open(std::move(device), OpenPlainIO(), copts));
    snap->Attach(conductor.get());
    return Status::OK();
  }

  void Close() {
    if (conductor) CHECK(conductor->Close().ok());
    conductor.reset();
    snap.reset();
    catalog.reset();
    paired.reset();
    tracker.reset();
  }
  void Reopen() {
    Close();
    Status st = Open();
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  ~SnapVolume() { Close(); }

  void Write(uint64_t off, const std::vector<uint8_t>& data) {
    Status st = snap->Write(data.data(), data.size(), off);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  void Discard(uint64_t off, uint64_t len) {
    Status st = snap->Discard(off, len);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  }
  std::vector<uint8_t> Contents() {
    std::vector<uint8_t> out(size);
    Status st = conductor->ReadAt(out.data(), size, 0);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    return out;
  }
  std::vector<uint8_t> SnapshotContents(const std::string& name) {
    std::vector<uint8_t> out(size);
    Status st = snap->ReadSnapshot(name, out.data(), size, 0);
    REQUIRE_MESSAGE(st.ok(), st.ToString());
    return out;
  }
  // Every blob a snapshot needs: its record and everything its tree reaches.
  std::set<Pointer> NeededBy(const std::string& name) {
    auto entry = catalog->Get(name);
    REQUIRE(entry.ok());
    auto bytes = paired->Get(entry->record);
    REQUIRE(bytes.ok());
    auto rec = DecodeSnapshotRecord(*bytes);
    REQUIRE(rec.ok());
    std::set<Pointer> out{entry->record};
    IndexTree tree(paired.get(), rec->Geometry().value(), 0);
    REQUIRE(tree.ForEachBlob(rec->root, [&](const Pointer& p, BlobKind) -> Result<bool> {
                  return out.insert(p).second;
                }).ok());
    return out;
  }
  SnapshotReply Snapshot(const std::string& name) {
    Result<SnapshotReply> r = snap->Snapshot(name);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    return *r;
  }
};

// Two volumes of `size` bytes in dir/v1 and dir/v2 with one slow store,
// dir/shared.
inline void OpenSharingSlowStore(const std::string& dir, SnapVolume& v1, SnapVolume& v2, uint64_t size) {
  v1.dir = dir + "/v1";
  v2.dir = dir + "/v2";
  REQUIRE(::mkdir(v1.dir.c_str(), 0700) == 0);
  REQUIRE(::mkdir(v2.dir.c_str(), 0700) == 0);
  v1.slow_dir = v2.slow_dir = dir + "/shared";
  v2.uuid = "11111111-2222-4333-8444-555555555555";
  v1.size = v2.size = size;
  REQUIRE(v1.Open().ok());
  REQUIRE(v2.Open().ok());
}

// Bytes that differ per (seed, index), never all zero.
inline std::vector<uint8_t> Pattern(uint64_t seed, size_t len) {
  std::vector<uint8_t> v(len);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[i] = static_cast<uint8_t>(x | 1);
  }
  return v;
}

}  // namespace amberfs::testing
