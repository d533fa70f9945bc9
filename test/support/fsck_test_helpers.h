// The fsck tests' volume and damage helpers (fsck_test.cc,
// fsck_packs_test.cc): a volume with a few snapshots built and drained, a
// run of fsck, a look for a problem, and damage to the fast store's copies.
// Header-only.
#pragma once

#include <doctest/doctest.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "amberfs/fsck.h"
#include "store/packed_disk_store.h"
#include "store/upload_log.h"
#include "support/fsck_test_volume.h"
#include "support/store_test_util.h"

namespace amberfs::testing::fsck {

constexpr uint64_t kChunk = 65536;
constexpr uint64_t kVolumeSize = 64 * kChunk;  // 64 chunks; fanout 4 gives a 3-level tree

inline std::vector<uint8_t> ChunkData(int snapshot, uint64_t chunk) {
  return amberfs::testing::PatternChunk(snapshot, chunk, kChunk);
}

// A volume with `snapshots` snapshots, each rewriting a few chunks; closed
// and drained, so the slow store holds everything. Returns the chunk blob
// keys the last snapshot reaches.
struct Built {
  std::vector<Pointer> chunks;  // blobs of the last snapshot's written chunks
  Pointer root;                 // the last snapshot's index root
  Pointer record;
};

inline Built Build(const std::string& dir, int snapshots = 3) {
  auto v = TestVolume::Create(dir, kVolumeSize);
  REQUIRE_MESSAGE(v.ok(), v.status().ToString());
  Built b;
  for (int s = 0; s < snapshots; ++s) {
    b.chunks.clear();
    for (uint64_t c : {uint64_t(s % 7), uint64_t(10 + s % 5), uint64_t(33), uint64_t(63 - s % 3)}) {
      std::vector<uint8_t> data = ChunkData(s, c);
      REQUIRE((*v)->Write(c * kChunk, data).ok());
      b.chunks.push_back(Pointer::Of(data));
    }
    REQUIRE((*v)->Snapshot("snap" + std::to_string(s)).ok());
  }
  b.root = (*v)->root();
  b.record = (*v)->last_record();
  REQUIRE((*v)->Close().ok());
  return b;
}

inline FsckReport Run(const std::string& dir, bool repair = false, bool read_data = false, bool drop_broken = false,
               bool slow = false) {
  FsckOptions o;
  o.voldir = dir;
  o.repair = repair;
  o.read_data = read_data;
  o.drop_broken = drop_broken;
  o.slow = slow;
  auto r = amberfs::RunFsck(o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

inline bool Has(const FsckReport& r, FsckClass cls, const std::string& text) {
  for (const auto& p : r.problems) {
    if (p.cls == cls && (p.message.find(text) != std::string::npos || p.object.find(text) != std::string::npos))
      return true;
  }
  return false;
}

inline std::string Text(const FsckReport& r) { return amberfs::RenderFsckText(r, false); }

inline std::string BlobFile(const std::string& dir, const char* store, const Pointer& p) {
  return dir + "/" + store + "/blobs/" + p.Hex().substr(0, 2) + "/" + p.Hex();
}

// A clean close leaves the upload log empty (every upload done, then a
// checkpoint); queue uploads of blobs both stores hold so it has records.
inline void QueueUploads(const std::string& dir, const Built& b) {
  auto log = amberfs::UploadLog::Open(dir + "/upload.log");
  REQUIRE(log.ok());
  for (const Pointer& key : {b.chunks[0], b.chunks[3], b.root, b.record}) REQUIRE((*log)->AppendBlob(key).ok());
}

inline void FlipByte(const std::string& path, off_t at) { REQUIRE(amberfs::testing::FlipByte(path, at, 0x5a)); }

// The fast store's copies sit in packs (volume format 2); these damage them.
inline std::unique_ptr<amberfs::PackedDiskStore> OpenFast(const std::string& dir) {
  auto fast = amberfs::PackedDiskStore::Open(dir + "/fast");
  REQUIRE_MESSAGE(fast.ok(), fast.status().ToString());
  return std::move(fast).value();
}

// Gone from the fast store: its index entry tombstoned, as a delete does it.
inline void FastDelete(const std::string& dir, const Pointer& p) { REQUIRE(OpenFast(dir)->Delete(p).ok()); }

// Moved out of its pack into a loose blob file (as a refetched blob is
// kept); returns the file's path, for a test to remove, truncate or damage.
inline std::string LooseFast(const std::string& dir, const Pointer& p) {
  auto fast = OpenFast(dir);
  auto data = fast->Get(p);
  REQUIRE(data.ok());
  REQUIRE(fast->Delete(p).ok());
  REQUIRE(fast->loose().Put(p, *data).ok());
  return BlobFile(dir, "fast", p);
}

// Flips byte `at` of the blob's fast copy, in its pack or its loose file.
inline void FlipFastByte(const std::string& dir, const Pointer& p, off_t at) {
  auto fast = OpenFast(dir);
  auto where = fast->index().Lookup(p);
  if (!where.ok()) return FlipByte(BlobFile(dir, "fast", p), at);
  const std::string pack = fast->packs_dir() + "/" + where->pack.Hex();
  fast.reset();
  FlipByte(pack, static_cast<off_t>(where->offset) + at);
}

}  // namespace amberfs::testing::fsck
