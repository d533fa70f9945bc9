// clone_index_bench: how long `mkfs.amberfs --clone` takes for a big snapshot.
//
//   build/bench/clone_index_bench [--dir DIR] [--size 1T] [--url URL] [--walk]
//   (defaults: /tmp, 1 TiB, file://DIR/clone-index-bench-PID/slow)
//
// A clone reads only the snapshot's index (issue 16: under 10 s for 1 TiB,
// under 3 s for 1 GiB), so the snapshot here has an index and no data: every
// chunk of a --size volume (64 KiB chunks) gets a distinct random pointer,
// the tree (65,536 leaves of 8 KiB for 1 TiB, 512 MiB) is stored through a
// PairedStore into the slow store as packs, with its record and ref, and
// drained (untimed). Then RestoreVolume with clone = true makes a clone of it
// in a fresh directory: timed, the library call that `mkfs.amberfs --clone`
// makes. With --walk, the same index is also walked node by node with
// IndexTree::Walk (one request per node, as restore did before), for
// comparison. With --url s3://...?endpoint=... (credentials from the
// environment) the slow store is that bucket, which must exist.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "amberfs/log.h"
#include "bench_util.h"
#include "amberfs/restore.h"
#include "amberfs/size_parse.h"
#include "snapshot/index_tree.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_layout.h"
#include "store/packed_disk_store.h"
#include "store/paired_store.h"
#include "store/store_url.h"

using namespace amberfs;

namespace {

using bench::Die;
using bench::Must;

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  bench::SetProgramName("clone_index_bench");
  std::string base = "/tmp", url, size_text = "1T";
  bool walk = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) {
      base = argv[++i];
    } else if (!std::strcmp(argv[i], "--size") && i + 1 < argc) {
      size_text = argv[++i];
    } else if (!std::strcmp(argv[i], "--url") && i + 1 < argc) {
      url = argv[++i];
    } else if (!std::strcmp(argv[i], "--walk")) {
      walk = true;
    } else {
      Die("usage: clone_index_bench [--dir DIR] [--size 1T] [--url URL] [--walk]");
    }
  }
  SetLogLevel(LogLevel::kWarn);
  constexpr uint32_t kChunk = 64 << 10;
  const uint64_t size = Must(ParseSize(size_text), "--size");
  if (size == 0 || size % kChunk != 0) Die("--size must be a positive multiple of 64K");
  const std::string dir = base + "/clone-index-bench-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  if (url.empty()) url = "file://" + dir + "/slow";
  const IndexGeometry geo = Must(IndexGeometry::Make(size / kChunk), "geometry");

  // The origin: an index with every chunk non-null, its record and its ref.
  const std::string uuid = Must(NewVolumeUuid(), "uuid");
  auto prepared = std::chrono::steady_clock::now();
  uint64_t nodes = 0;
  Pointer root;
  {
    auto fast = Must(PackedDiskStore::Open(dir + "/fast", {}), "open fast store");
    auto slow = Must(OpenStoreUrl(url, ""), "open slow store");
    PairedOptions po;
    po.lock_owner = uuid;
    auto paired = Must(PairedStore::Open(std::move(fast), std::move(slow), dir + "/upload.log", po), "open store");
    std::vector<ChunkPointer> changes(geo.chunk_count);
    std::mt19937_64 rng(42);
    for (uint64_t c = 0; c < geo.chunk_count; ++c) {
      uint8_t bytes[Pointer::kSize];
      for (size_t i = 0; i < sizeof bytes; i += 8) {
        const uint64_t r = rng();
        std::memcpy(bytes + i, &r, 8);
      }
      changes[c] = ChunkPointer{c, Pointer::FromBytes(bytes)};
    }
    IndexTree tree(paired.get(), geo, 0);
    IndexUpdateStats stats;
    std::unique_ptr<PutBatch> batch = paired->NewPutBatch();
    root = Must(tree.Update(Pointer(), std::move(changes), &stats, batch.get()), "build the index");
    nodes = stats.nodes_written;
    SnapshotRecord rec;
    rec.volume = Must(ParseVolumeUuid(uuid), "uuid");
    rec.name = "s1";
    rec.created_ns = 1;
    rec.volume_size = size;
    rec.chunk_size = kChunk;
    rec.fanout = geo.fanout;
    rec.depth = geo.depth;
    rec.root = root;
    const std::vector<uint8_t> bytes = Must(EncodeSnapshotRecord(rec), "encode the record");
    const Pointer record = Pointer::Of(bytes);
    Must(batch->Put(record, bytes), "store the record");
    Must(batch->Commit(), "commit the index");
    const std::string value = EncodeSnapshotRefValue(record);
    Must(paired->PutRef(SnapshotRef(uuid, "s1"),
                        std::span(reinterpret_cast<const uint8_t*>(value.data()), value.size())),
         "queue the ref");
    Must(paired->Drain(std::chrono::minutes(30)), "upload the index");
  }
  std::printf("clone_index_bench: a %s snapshot's index (%llu nodes, %s) in %s, built and uploaded in %.1f s "
              "(untimed)\n",
              FormatSize(size).c_str(), (unsigned long long)nodes, FormatSize(nodes * geo.node_bytes()).c_str(),
              url.c_str(), Since(prepared));

  RestoreVolumeOptions options;
  options.url = url;
  options.volume = uuid;
  options.snapshot = "s1";
  options.voldir = dir + "/clone";
  options.clone = true;
  auto t0 = std::chrono::steady_clock::now();
  RestoreVolumeResult result = Must(RestoreVolume(options), "clone");
  const double clone_s = Since(t0);

  double walk_s = -1;
  if (walk) {
    auto slow = Must(OpenStoreUrl(url, ""), "open slow store");
    IndexTree tree(slow.get(), geo, 0);
    uint64_t chunks = 0;
    t0 = std::chrono::steady_clock::now();
    Must(tree.Walk(root, [&](uint64_t, const Pointer&) {
      ++chunks;
      return Status::OK();
    }),
         "walk the index");
    walk_s = Since(t0);
    if (chunks != geo.chunk_count) Die("the walk found " + std::to_string(chunks) + " chunks");
  }
  const double limit = size >= (uint64_t{1} << 40) ? 10 : 3;
  std::printf("\n%-34s %10s  %-26s %s\n", "figure", "amberfs", "target", "verdict");
  std::printf("%-34s %10.2f  %-26s %s\n", ("mkfs.amberfs --clone of " + FormatSize(size) + ", s").c_str(), clone_s,
              (std::string("< ") + (limit == 10 ? "10 s (1 TiB)" : "3 s (1 GiB)")).c_str(),
              clone_s < limit ? "met" : "missed");
  std::printf("%-34s %10llu\n", "chunks left remote", (unsigned long long)result.stats.remote);
  if (walk_s >= 0) std::printf("%-34s %10.2f  (node by node, for comparison)\n", "IndexTree::Walk, s", walk_s);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
