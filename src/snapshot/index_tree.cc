#include "snapshot/index_tree.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace amberfs {
namespace {

std::string Where(const Pointer& ptr, uint64_t first_chunk, uint32_t height) {
  return "index node " + ptr.Hex() + " (height " + std::to_string(height) + ", chunks from " +
         std::to_string(first_chunk) + ")";
}

}  // namespace

Result<IndexGeometry> IndexGeometry::Make(uint64_t chunk_count, uint32_t fanout) {
  if (chunk_count == 0) return Status::Error(EINVAL, "an index needs at least one chunk");
  if (!std::has_single_bit(fanout) || fanout < 2 || fanout > 4096)
    return Status::Error(EINVAL, "index fanout " + std::to_string(fanout) + " must be a power of two in [2, 4096]");
  IndexGeometry g;
  g.chunk_count = chunk_count;
  g.fanout = fanout;
  g.depth = 1;
  // Grow while one root node cannot cover every chunk; `covered` never
  // overflows because we stop as soon as it reaches chunk_count.
  for (uint64_t covered = fanout; covered < chunk_count; ++g.depth) {
    if (covered > UINT64_MAX / fanout) {
      ++g.depth;
      break;
    }
    covered *= fanout;
  }
  return g;
}

uint64_t IndexGeometry::SlotSpan(uint32_t height) const {
  uint64_t span = 1;
  for (uint32_t h = 1; h < height; ++h) span *= fanout;
  return span;
}

namespace {

// Slots of a node that lie inside the volume.
uint32_t UsedSlots(const IndexGeometry& geo, uint64_t first_chunk, uint32_t height) {
  uint64_t span = geo.SlotSpan(height);
  uint64_t left = geo.chunk_count - first_chunk;
  uint64_t used = left / span + (left % span != 0);
  return static_cast<uint32_t>(std::min<uint64_t>(used, geo.fanout));
}

// Calls fn(first chunk under the slot, child) for every non-null slot.
template <typename Fn>
Status ForEachChild(const std::vector<Pointer>& node, uint64_t first_chunk, uint64_t span, Fn&& fn) {
  for (size_t s = 0; s < node.size(); ++s) {
    if (node[s].IsNull()) continue;
    AMBER_RETURN_IF_ERROR(fn(first_chunk + s * span, node[s]));
  }
  return Status::OK();
}

}  // namespace

Result<std::vector<Pointer>> DecodeIndexNode(const IndexGeometry& geo, std::span<const uint8_t> bytes,
                                             uint64_t first_chunk, uint32_t height) {
  if (bytes.size() != geo.node_bytes())
    return Status::Error(EBADMSG, "index node is " + std::to_string(bytes.size()) + " bytes, expected " +
                                      std::to_string(geo.node_bytes()));
  std::vector<Pointer> slots(geo.fanout);
  const uint32_t used = UsedSlots(geo, first_chunk, height);
  for (uint32_t s = 0; s < geo.fanout; ++s) {
    slots[s] = Pointer::FromBytes(bytes.data() + size_t{s} * Pointer::kSize);
    if (s >= used && !slots[s].IsNull())
      return Status::Error(EBADMSG, "index node slot " + std::to_string(s) + " lies past the end of the volume but is not null");
  }
  return slots;
}

std::vector<uint8_t> EncodeIndexNode(const std::vector<Pointer>& slots) {
  std::vector<uint8_t> out(slots.size() * Pointer::kSize);
  for (size_t s = 0; s < slots.size(); ++s)
    std::memcpy(out.data() + s * Pointer::kSize, slots[s].bytes().data(), Pointer::kSize);
  return out;
}

IndexTree::IndexTree(Store* store, IndexGeometry geometry, size_t cache_nodes, VolumeCodec codec)
    : store_(store), geo_(geometry), codec_(std::move(codec)), cache_(cache_nodes) {}

Result<std::shared_ptr<const IndexTree::Node>> IndexTree::ReadNode(const Pointer& ptr, uint64_t first_chunk,
                                                                   uint32_t height, bool use_cache) {
  if (use_cache && cache_.capacity() > 0) {
    std::lock_guard lk(cache_mu_);
    if (auto* cached = cache_.Find(ptr)) return *cached;
  }
  auto bytes = GetBlob(*store_, codec_, BlobRole::kNode, ptr);
  if (!bytes.ok()) return bytes.status().Annotate("read " + Where(ptr, first_chunk, height));
  auto slots = DecodeIndexNode(geo_, *bytes, first_chunk, height);
  if (!slots.ok()) return slots.status().Annotate(Where(ptr, first_chunk, height));
  auto node = std::make_shared<const Node>(std::move(slots).value());
  if (use_cache && cache_.capacity() > 0) {
    // Keyed by content: the same blob at another place in a tree has the
    // same slots. The past-the-end check ran where it was first read; a
    // lookup elsewhere only reads slots inside the volume.
    std::lock_guard lk(cache_mu_);
    if (!cache_.Contains(ptr)) cache_.Insert(ptr, node);
  }
  return node;
}

Status IndexTree::PutNode(const StoredBlob& node, PutBatch* batch) {
  return batch ? batch->Put(node.pointer(), node.bytes()) : store_->Put(node.pointer(), node.bytes());
}

Result<Pointer> IndexTree::Update(const Pointer& root, std::vector<ChunkPointer> changes, IndexUpdateStats* stats,
                                  PutBatch* batch, uint32_t root_depth) {
  AMBER_ASSIGN_OR_RETURN(uint32_t depth, RootDepth(root_depth));
  std::sort(changes.begin(), changes.end(),
            [](const ChunkPointer& a, const ChunkPointer& b) { return a.chunk < b.chunk; });
  for (size_t i = 0; i < changes.size(); ++i) {
    if (changes[i].chunk >= geo_.chunk_count)
      return Status::Error(EINVAL, "chunk " + std::to_string(changes[i].chunk) + " is past the volume's " +
                                       std::to_string(geo_.chunk_count) + " chunks");
    if (i > 0 && changes[i].chunk == changes[i - 1].chunk)
      return Status::Error(EINVAL, "chunk " + std::to_string(changes[i].chunk) + " changes twice in one update");
  }
  IndexUpdateStats local;
  return UpdateNode(Subtree{root, depth}, 0, geo_.depth, changes, stats ? stats : &local, batch);
}

// `t` stands at (first_chunk, height); its own root may be lower (a tree
// from before a grow, on the leftmost path): then it is slot 0 of this node.
Result<Pointer> IndexTree::UpdateNode(const Subtree& t, uint64_t first_chunk, uint32_t height,
                                      std::span<const ChunkPointer> changes, IndexUpdateStats* stats,
                                      PutBatch* batch) {
  if (changes.empty()) return Wrap(t.ptr, t.height, height, stats, batch);
  AMBER_ASSIGN_OR_RETURN(std::vector<Subtree> slots, ChildrenAt(t, first_chunk, height));
  if (!t.ptr.IsNull() && t.height >= height) ++stats->nodes_read;  // ChildrenAt read the stored node
  const uint64_t span = geo_.SlotSpan(height);
  for (size_t i = 0; i < changes.size();) {
    const uint64_t slot = (changes[i].chunk - first_chunk) / span;
    size_t j = i + 1;
    while (j < changes.size() && (changes[j].chunk - first_chunk) / span == slot) ++j;
    if (height == 1) {
      slots[slot].ptr = changes[i].pointer;  // one change per chunk, checked by Update
    } else {
      AMBER_ASSIGN_OR_RETURN(slots[slot].ptr, UpdateNode(slots[slot], first_chunk + slot * span, height - 1,
                                                         changes.subspan(i, j - i), stats, batch));
      slots[slot].height = height - 1;
    }
    i = j;
  }
  Node node(geo_.fanout);
  for (uint32_t s = 0; s < geo_.fanout; ++s) {
    // An unchanged lower subtree in slot 0 gets its missing levels too.
    AMBER_ASSIGN_OR_RETURN(node[s], Wrap(slots[s].ptr, slots[s].height, height - 1, stats, batch));
  }
  if (std::all_of(node.begin(), node.end(), [](const Pointer& p) { return p.IsNull(); })) return Pointer::Null();
  const std::vector<uint8_t> plain = EncodeIndexNode(node);  // outlives stored, which may view it
  AMBER_ASSIGN_OR_RETURN(StoredBlob stored, codec_.Encode(BlobRole::kNode, plain));
  const Pointer key = stored.pointer();
  if (key == t.ptr && t.height == height) return key;  // nothing changed below: the node exists already
  AMBER_RETURN_IF_ERROR(PutNode(stored, batch).Annotate("write " + Where(key, first_chunk, height)));
  ++stats->nodes_written;
  stats->bytes_written += stored.bytes().size();
  return key;
}

// `ptr`, a subtree whose root has ptr_height, as one of `height` (>=): the
// root of each missing level has it in slot 0. Writes those nodes only.
Result<Pointer> IndexTree::Wrap(const Pointer& ptr, uint32_t ptr_height, uint32_t height, IndexUpdateStats* stats,
                                PutBatch* batch) {
  Pointer out = ptr;
  for (uint32_t h = ptr_height + 1; h <= height && !out.IsNull(); ++h) {
    Node slots(geo_.fanout);
    slots[0] = out;
    const std::vector<uint8_t> plain = EncodeIndexNode(slots);
    AMBER_ASSIGN_OR_RETURN(StoredBlob stored, codec_.Encode(BlobRole::kNode, plain));
    out = stored.pointer();
    AMBER_RETURN_IF_ERROR(PutNode(stored, batch).Annotate("write " + Where(out, 0, h)));
    if (stats) {
      ++stats->nodes_written;
      stats->bytes_written += stored.bytes().size();
    }
  }
  return out;
}

Result<uint32_t> IndexTree::RootDepth(uint32_t root_depth) const {
  if (root_depth == 0) return geo_.depth;
  if (root_depth > geo_.depth)
    return Status::Error(EINVAL, "a tree of depth " + std::to_string(root_depth) + " is deeper than the index's " +
                                     std::to_string(geo_.depth));
  return root_depth;
}

Result<Pointer> IndexTree::Grow(const Pointer& root, uint32_t root_depth, IndexUpdateStats* stats, PutBatch* batch) {
  AMBER_ASSIGN_OR_RETURN(uint32_t depth, RootDepth(root_depth));
  return Wrap(root, depth, geo_.depth, stats, batch);
}

Result<Pointer> IndexTree::Lookup(const Pointer& root, uint64_t chunk, uint32_t root_depth) {
  if (chunk >= geo_.chunk_count)
    return Status::Error(EINVAL, "chunk " + std::to_string(chunk) + " is past the volume's " +
                                     std::to_string(geo_.chunk_count) + " chunks");
  AMBER_ASSIGN_OR_RETURN(uint32_t depth, RootDepth(root_depth));
  // A shallower root is slot 0 of (virtual) nodes above it: it covers only
  // the chunks below one slot of a node of height depth + 1.
  if (depth < geo_.depth && chunk >= geo_.SlotSpan(depth + 1)) return Pointer::Null();
  Pointer ptr = root;
  uint64_t first_chunk = 0;
  for (uint32_t height = depth; height >= 1 && !ptr.IsNull(); --height) {
    AMBER_ASSIGN_OR_RETURN(auto node, ReadNode(ptr, first_chunk, height, /*use_cache=*/true));
    const uint64_t span = geo_.SlotSpan(height);
    const uint64_t slot = (chunk - first_chunk) / span;
    ptr = (*node)[slot];
    first_chunk += slot * span;
  }
  return ptr;
}

Status IndexTree::Walk(const Pointer& root, const std::function<Status(uint64_t, const Pointer&)>& fn) {
  return WalkNode(root, 0, geo_.depth, fn);
}

Status IndexTree::WalkNode(const Pointer& ptr, uint64_t first_chunk, uint32_t height,
                           const std::function<Status(uint64_t, const Pointer&)>& fn) {
  if (ptr.IsNull()) return Status::OK();
  AMBER_ASSIGN_OR_RETURN(auto node, ReadNode(ptr, first_chunk, height, /*use_cache=*/false));
  return ForEachChild(*node, first_chunk, geo_.SlotSpan(height), [&](uint64_t first, const Pointer& child) {
    return height == 1 ? fn(first, child) : WalkNode(child, first, height - 1, fn);
  });
}

Status IndexTree::Diff(const Pointer& a, const Pointer& b,
                       const std::function<Status(uint64_t, const Pointer&, const Pointer&)>& fn, uint32_t a_depth,
                       uint32_t b_depth) {
  AMBER_ASSIGN_OR_RETURN(uint32_t da, RootDepth(a_depth));
  AMBER_ASSIGN_OR_RETURN(uint32_t db, RootDepth(b_depth));
  return DiffNode(Subtree{a, da}, Subtree{b, db}, 0, geo_.depth, fn);
}

// The slots of the node standing at (first_chunk, height): a stored node's,
// all null for a null subtree, or the subtree itself in slot 0 when its root
// is lower than the place (only on the leftmost path, first_chunk 0).
Result<std::vector<IndexTree::Subtree>> IndexTree::ChildrenAt(const Subtree& t, uint64_t first_chunk,
                                                              uint32_t height) {
  std::vector<Subtree> out(geo_.fanout, Subtree{Pointer::Null(), height - 1});
  if (t.ptr.IsNull()) return out;
  if (t.height < height) {
    out[0] = t;
    return out;
  }
  AMBER_ASSIGN_OR_RETURN(auto node, ReadNode(t.ptr, first_chunk, height, /*use_cache=*/false));
  for (uint32_t s = 0; s < geo_.fanout; ++s) out[s].ptr = (*node)[s];
  return out;
}

Status IndexTree::DiffNode(const Subtree& a, const Subtree& b, uint64_t first_chunk, uint32_t height,
                           const std::function<Status(uint64_t, const Pointer&, const Pointer&)>& fn) {
  if (a == b) return Status::OK();
  AMBER_ASSIGN_OR_RETURN(std::vector<Subtree> ca, ChildrenAt(a, first_chunk, height));
  AMBER_ASSIGN_OR_RETURN(std::vector<Subtree> cb, ChildrenAt(b, first_chunk, height));
  const uint64_t span = geo_.SlotSpan(height);
  for (uint32_t s = 0; s < geo_.fanout; ++s) {
    if (ca[s] == cb[s]) continue;
    if (height == 1) {
      AMBER_RETURN_IF_ERROR(fn(first_chunk + s, ca[s].ptr, cb[s].ptr));
    } else {
      AMBER_RETURN_IF_ERROR(DiffNode(ca[s], cb[s], first_chunk + s * span, height - 1, fn));
    }
  }
  return Status::OK();
}

Status IndexTree::ForEachBlob(const Pointer& root, const std::function<Result<bool>(const Pointer&, BlobKind)>& fn) {
  return BlobsOf(root, 0, geo_.depth, fn);
}

Status IndexTree::BlobsOf(const Pointer& ptr, uint64_t first_chunk, uint32_t height,
                          const std::function<Result<bool>(const Pointer&, BlobKind)>& fn) {
  if (ptr.IsNull()) return Status::OK();
  AMBER_ASSIGN_OR_RETURN(bool descend, fn(ptr, BlobKind::kIndexNode));
  if (!descend) return Status::OK();
  AMBER_ASSIGN_OR_RETURN(auto node, ReadNode(ptr, first_chunk, height, /*use_cache=*/false));
  return ForEachChild(*node, first_chunk, geo_.SlotSpan(height), [&](uint64_t first, const Pointer& child) {
    return height == 1 ? fn(child, BlobKind::kChunk).status() : BlobsOf(child, first, height - 1, fn);
  });
}

}  // namespace amberfs
