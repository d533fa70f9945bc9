// IndexTree: a snapshot's map from chunk index to chunk blob, as a tree of
// index-node blobs in a Store.
//
// Shape. Every node is an array of `fanout` 32-byte Pointers. A tree over
// chunk_count chunks has depth d, the least d >= 1 with fanout^d >=
// chunk_count. Leaves (height 1) point at chunk blobs; a node of height h
// points at nodes of height h-1; the root has height d. Slot s of a node of
// height h whose first chunk is base covers chunks
// [base + s*fanout^(h-1), base + (s+1)*fanout^(h-1)). A null pointer is an
// all-zero chunk in a leaf and an all-null subtree in an inner node, so a
// sparse volume costs no nodes and the empty volume's root is null. Writers
// never store an all-null node (it is the null pointer instead); readers
// accept one.
//
// Fanout. The default, 256 (8 KiB nodes), gives depth 3 for up to 16 Mi
// chunks (1 TiB at 64 KiB chunks) and depth 4 up to 256 TiB. A 1-chunk
// snapshot of a 64 GiB volume then writes 3 nodes (24 KiB). Smaller nodes
// would write a few KiB less per changed path but need more blobs, and each
// blob costs a request and a file in the slow store whatever its size; larger
// nodes (1024, 32 KiB) save one level only past 1 TiB while every changed
// path rewrites 4x the bytes. One leaf maps 16 MiB of data, so the index is
// 0.05% of a full volume. The fanout and depth are recorded in the snapshot
// record; any power of two in [2, 4096] is accepted (tests use small ones).
//
// Node format (for man/amberfs.5): exactly fanout*32 bytes, slot s at byte
// s*32, each slot a raw SHA-256 Pointer (all zero = null). No header: a node
// blob is named by its SHA-256 like every blob and the record says its
// fanout. Parsing is strict: a node of any other size, or a non-null slot
// that lies past the last chunk of the volume, is EBADMSG.
//
// Growth. A volume that grows keeps its snapshots: each keeps the geometry
// its record names. A tree of depth d is also a valid tree of any larger
// chunk count (its nodes have only null slots past its old end), and when
// the larger count needs more levels the old root becomes slot 0 of a new
// root (Grow), so every old subtree is shared by the new tree unchanged.
// Lookup and Diff take a root's own depth for that reason: a shallower root
// reads as if wrapped that way, without the wrapping nodes being stored.
//
// Errors: EINVAL for bad arguments (chunk index past the volume, duplicate
// chunk in one update) before anything is written; EBADMSG for a malformed
// node; store errors (ENOENT for a missing node, EBADMSG for a corrupt blob)
// pass through annotated with the node's place in the tree. A failed Update
// may leave some new nodes in the store (harmless: unreferenced blobs are
// gc's to remove) but returns no root.
//
// Thread-safety: an IndexTree may be used from many threads at once; the node
// cache has its own mutex, held only around map operations (never during
// store I/O). The Store must outlive the tree.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/lru.h"
#include "snapshot/volume_codec.h"
#include "store/pointer.h"
#include "amberfs/status.h"
#include "store/store.h"

namespace amberfs {

struct ChunkPointer {
  uint64_t chunk = 0;
  Pointer pointer;
};

struct IndexGeometry {
  static constexpr uint32_t kDefaultFanout = 256;
  uint64_t chunk_count = 0;
  uint32_t fanout = kDefaultFanout;
  uint32_t depth = 0;

  // EINVAL unless chunk_count > 0 and fanout is a power of two in [2, 4096].
  static Result<IndexGeometry> Make(uint64_t chunk_count, uint32_t fanout = kDefaultFanout);
  size_t node_bytes() const { return size_t{fanout} * Pointer::kSize; }
  // Chunks covered by one slot of a node of the given height (1 = leaf).
  uint64_t SlotSpan(uint32_t height) const;
};

// Strict node codec (see the format above). `first_chunk` and `height` place
// the node in the tree so slots past the volume can be rejected.
Result<std::vector<Pointer>> DecodeIndexNode(const IndexGeometry& geo, std::span<const uint8_t> bytes,
                                             uint64_t first_chunk, uint32_t height);
std::vector<uint8_t> EncodeIndexNode(const std::vector<Pointer>& slots);

enum class BlobKind { kIndexNode, kChunk };

struct IndexUpdateStats {
  uint64_t nodes_read = 0;
  uint64_t nodes_written = 0;  // Store::Put calls for nodes
  uint64_t bytes_written = 0;  // their stored bytes (after the codec)
};

class IndexTree {
 public:
  // cache_nodes: how many decoded nodes Lookup keeps (LRU); 0 disables.
  // codec: how nodes are stored (volume_codec.h); off by default.
  IndexTree(Store* store, IndexGeometry geometry, size_t cache_nodes = 64, VolumeCodec codec = {});

  const IndexGeometry& geometry() const { return geo_; }

  // The root of `root`'s tree with each change applied (a null pointer makes
  // the chunk all-zero). Writes only the nodes on paths to changed chunks,
  // and of those only the ones whose content changed. With a batch, new
  // nodes are Put into it (durable at its Commit) instead of the store.
  // root_depth (0 = the geometry's depth) is the root's own depth: a
  // shallower root is grown first (as Grow does), in the same batch.
  Result<Pointer> Update(const Pointer& root, std::vector<ChunkPointer> changes,
                         IndexUpdateStats* stats = nullptr, PutBatch* batch = nullptr, uint32_t root_depth = 0);

  // `root` (a tree of root_depth levels, root_depth <= depth) as a tree of
  // this geometry's depth: wrapped as slot 0 of new roots, one per missing
  // level. The new nodes are Put like Update's. A null root stays null.
  Result<Pointer> Grow(const Pointer& root, uint32_t root_depth, IndexUpdateStats* stats = nullptr,
                       PutBatch* batch = nullptr);

  // Chunk i's pointer (null for an all-zero chunk). Uses the node cache.
  // root_depth (0 = the geometry's depth) is the root's own depth; a chunk
  // past what a shallower root covers is null.
  Result<Pointer> Lookup(const Pointer& root, uint64_t chunk, uint32_t root_depth = 0);

  // Every non-null (chunk, pointer) in ascending chunk order.
  Status Walk(const Pointer& root, const std::function<Status(uint64_t chunk, const Pointer&)>& fn);

  // Every chunk whose pointer differs between the trees a and b (same
  // fanout), ascending; subtrees with equal pointers are skipped unread.
  // a_depth and b_depth (0 = the geometry's depth) are the roots' own
  // depths, at most the geometry's: a shallower root reads as if grown.
  Status Diff(const Pointer& a, const Pointer& b,
              const std::function<Status(uint64_t chunk, const Pointer& in_a, const Pointer& in_b)>& fn,
              uint32_t a_depth = 0, uint32_t b_depth = 0);

  // Every blob the tree reaches, nodes before their children, each node once
  // per occurrence. For a node, fn returns whether to descend into it (a gc
  // mark phase returns false for a node it has seen, so shared subtrees are
  // read once); the value is ignored for chunks.
  Status ForEachBlob(const Pointer& root, const std::function<Result<bool>(const Pointer&, BlobKind)>& fn);

 private:
  using Node = std::vector<Pointer>;
  Result<std::shared_ptr<const Node>> ReadNode(const Pointer& ptr, uint64_t first_chunk, uint32_t height,
                                               bool use_cache);
  Status WalkNode(const Pointer& ptr, uint64_t first_chunk, uint32_t height,
                  const std::function<Status(uint64_t, const Pointer&)>& fn);
  // A subtree and the height of its own root node, which may be below the
  // height of the place it stands for (a shallower tree read as grown).
  struct Subtree {
    Pointer ptr;
    uint32_t height = 0;
    bool operator==(const Subtree&) const = default;
  };
  Result<Pointer> UpdateNode(const Subtree& t, uint64_t first_chunk, uint32_t height,
                             std::span<const ChunkPointer> changes, IndexUpdateStats* stats, PutBatch* batch);
  Result<Pointer> Wrap(const Pointer& ptr, uint32_t ptr_height, uint32_t height, IndexUpdateStats* stats,
                       PutBatch* batch);
  Result<std::vector<Subtree>> ChildrenAt(const Subtree& t, uint64_t first_chunk, uint32_t height);
  Result<uint32_t> RootDepth(uint32_t root_depth) const;
  Status DiffNode(const Subtree& a, const Subtree& b, uint64_t first_chunk, uint32_t height,
                  const std::function<Status(uint64_t, const Pointer&, const Pointer&)>& fn);
  Status BlobsOf(const Pointer& ptr, uint64_t first_chunk, uint32_t height,
                 const std::function<Result<bool>(const Pointer&, BlobKind)>& fn);

  Status PutNode(const StoredBlob& node, PutBatch* batch);

  Store* const store_;
  const IndexGeometry geo_;
  const VolumeCodec codec_;

  std::mutex cache_mu_;
  LruCache<Pointer, std::shared_ptr<const Node>> cache_;  // guarded by cache_mu_
};

}  // namespace amberfs
