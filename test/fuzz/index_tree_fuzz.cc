// Fuzz target: reading and updating an index tree held by a store that may
// return anything (IndexTree Walk, Lookup, Diff, ForEachBlob, Update). This
// is what restore, fsck --slow and the snapshotter do with a slow store's
// trees.
//
// Input: a small geometry (fanout 2..16, up to 600 chunks), then up to 12
// nodes. Each slot is null, a link to a later node (so the nodes form any
// DAG: shared subtrees, a leaf used as an inner node, a node where a chunk
// belongs), a stored chunk blob, or 32 raw bytes (a missing blob). A node may
// be cut short or padded. Node 0 is the root; the nodes are stored under
// their SHA-256 like real blobs.
//
// Invariants: whatever the store holds, every call returns (errors are
// EBADMSG, ENOENT or EINVAL); Walk reports chunks inside the volume in
// strictly ascending order; Lookup agrees with Walk; Diff of a tree with
// itself reports nothing and with the empty tree reports what Walk does;
// ForEachBlob visits every chunk Walk reports; Update applies its changes
// and leaves every other chunk as it was.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <map>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "snapshot/index_tree.h"

using namespace amberfs;

namespace {

using ChunkMap = std::map<uint64_t, Pointer>;
constexpr size_t kMaxNodes = 12;

bool Expected(const Status& st) {
  return st.code() == EBADMSG || st.code() == ENOENT || st.code() == EINVAL;
}

// Builds the nodes from the last to the first, so links can name their hash.
Pointer BuildTree(FuzzedDataProvider& in, const IndexGeometry& geo, fuzz::MemStore& store) {
  const size_t count = in.ConsumeIntegralInRange<size_t>(1, kMaxNodes);
  std::vector<std::vector<uint8_t>> nodes(count);
  std::vector<Pointer> keys(count);
  // Decide every slot up front, front to back, so the input reads naturally.
  struct Slot { uint8_t kind; size_t link; std::array<uint8_t, Pointer::kSize> raw{}; };
  std::vector<std::vector<Slot>> plan(count, std::vector<Slot>(geo.fanout));
  std::vector<int> resize(count, 0);
  for (size_t n = 0; n < count; ++n) {
    for (Slot& s : plan[n]) {
      s.kind = in.ConsumeIntegralInRange<uint8_t>(0, 3);
      if (s.kind == 1) s.link = in.ConsumeIntegralInRange<size_t>(n + 1, kMaxNodes);  // past the end: null
      if (s.kind == 2) s.raw[0] = in.ConsumeIntegral<uint8_t>();
      if (s.kind == 3) in.ConsumeData(s.raw.data(), s.raw.size());
    }
    if (in.ConsumeProbability<float>() < 0.05f) resize[n] = in.ConsumeIntegralInRange<int>(-64, 64);
  }
  for (size_t n = count; n-- > 0;) {
    std::vector<Pointer> slots(geo.fanout);
    for (size_t i = 0; i < geo.fanout; ++i) {
      const Slot& s = plan[n][i];
      if (s.kind == 1 && s.link < count) slots[i] = keys[s.link];
      if (s.kind == 2) slots[i] = store.Add(std::span<const uint8_t>(s.raw.data(), 1 + s.raw[0] % 8));
      if (s.kind == 3) slots[i] = Pointer(s.raw);
    }
    nodes[n] = EncodeIndexNode(slots);
    if (resize[n] != 0) nodes[n].resize(std::max<int>(0, static_cast<int>(nodes[n].size()) + resize[n]));
    keys[n] = store.Add(nodes[n]);
  }
  return keys[0];
}

// Walk's view of a tree, or nothing when it is unreadable.
std::optional<ChunkMap> WalkAll(IndexTree& tree, const Pointer& root) {
  ChunkMap out;
  std::optional<uint64_t> last;
  Status st = tree.Walk(root, [&](uint64_t chunk, const Pointer& p) -> Status {
    FUZZ_CHECK(chunk < tree.geometry().chunk_count, "Walk reported a chunk past the volume");
    FUZZ_CHECK(!last || chunk > *last, "Walk is not strictly ascending");
    FUZZ_CHECK(!p.IsNull(), "Walk reported a null chunk");
    last = chunk;
    out[chunk] = p;
    return Status::OK();
  });
  if (!st.ok()) {
    FUZZ_CHECK(Expected(st), "Walk: " + st.ToString());
    return std::nullopt;
  }
  return out;
}

void CheckReads(IndexTree& tree, const Pointer& root, const ChunkMap& walked, FuzzedDataProvider& in) {
  const uint64_t chunks = tree.geometry().chunk_count;
  for (int i = 0; i < 8; ++i) {
    const uint64_t c = in.ConsumeIntegralInRange<uint64_t>(0, chunks - 1);
    Result<Pointer> got = tree.Lookup(root, c);
    FUZZ_CHECK(got.ok(), "Lookup failed on a tree Walk read whole: " + got.status().ToString());
    auto it = walked.find(c);
    FUZZ_CHECK(*got == (it == walked.end() ? Pointer() : it->second), "Lookup disagrees with Walk");
  }
  Status same = tree.Diff(root, root, [](uint64_t, const Pointer&, const Pointer&) -> Status {
    FUZZ_CHECK(false, "Diff of a tree with itself reported a chunk");
    return Status::OK();
  });
  FUZZ_CHECK(same.ok(), "Diff of a tree with itself failed");
  ChunkMap diffed;
  Status st = tree.Diff(root, Pointer(), [&](uint64_t c, const Pointer& a, const Pointer& b) -> Status {
    FUZZ_CHECK(b.IsNull(), "Diff against the empty tree saw a chunk there");
    diffed[c] = a;
    return Status::OK();
  });
  FUZZ_CHECK(st.ok() && diffed == walked, "Diff against the empty tree disagrees with Walk");
  std::map<Pointer, int> chunk_blobs;
  st = tree.ForEachBlob(root, [&](const Pointer& p, BlobKind kind) -> Result<bool> {
    if (kind == BlobKind::kChunk) ++chunk_blobs[p];
    return true;
  });
  FUZZ_CHECK(st.ok(), "ForEachBlob failed on a tree Walk read whole: " + st.ToString());
  for (const auto& [c, p] : walked) FUZZ_CHECK(chunk_blobs.count(p), "ForEachBlob missed a chunk");
}

void CheckUpdate(IndexTree& tree, const Pointer& root, const std::optional<ChunkMap>& walked,
                 FuzzedDataProvider& in) {
  std::vector<ChunkPointer> changes;
  std::map<uint64_t, Pointer> wanted;
  const uint64_t chunks = tree.geometry().chunk_count;
  const int n = in.ConsumeIntegralInRange(0, 6);
  for (int i = 0; i < n; ++i) {
    ChunkPointer cp;
    cp.chunk = in.ConsumeIntegralInRange<uint64_t>(0, chunks + 2);
    std::array<uint8_t, Pointer::kSize> raw{};
    raw[0] = in.ConsumeIntegral<uint8_t>();  // 0: a null pointer (the chunk becomes zeros)
    cp.pointer = Pointer(raw);
    changes.push_back(cp);
    wanted[cp.chunk] = cp.pointer;
  }
  const bool valid = wanted.size() == changes.size() && (wanted.empty() || wanted.rbegin()->first < chunks);
  Result<Pointer> updated = tree.Update(root, changes);
  if (!updated.ok()) {
    FUZZ_CHECK(Expected(updated.status()), "Update: " + updated.status().ToString());
    FUZZ_CHECK(!valid || !walked, "Update failed on a readable tree: " + updated.status().ToString());
    return;
  }
  FUZZ_CHECK(valid, "Update accepted a chunk past the volume or twice");
  if (!walked || changes.empty()) return;  // an unreadable part was not on a changed path
  ChunkMap expect = *walked;
  for (const auto& [c, p] : wanted) {
    if (p.IsNull()) expect.erase(c);
    else expect[c] = p;
  }
  std::optional<ChunkMap> after = WalkAll(tree, *updated);
  FUZZ_CHECK(after && *after == expect, "the updated tree does not hold what the update asked");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  FuzzedDataProvider in(data, size);
  const uint32_t fanout = 1u << in.ConsumeIntegralInRange(1, 4);
  const uint64_t chunk_count = in.ConsumeIntegralInRange<uint64_t>(1, 600);
  Result<IndexGeometry> geo = IndexGeometry::Make(chunk_count, fanout);
  FUZZ_CHECK(geo.ok(), "a valid geometry was refused");
  fuzz::MemStore store;
  const Pointer root = in.ConsumeBool() ? Pointer() : BuildTree(in, *geo, store);
  IndexTree tree(&store, *geo, /*cache_nodes=*/in.ConsumeBool() ? 4 : 0);

  std::optional<ChunkMap> walked = WalkAll(tree, root);
  if (walked) CheckReads(tree, root, *walked, in);
  CheckUpdate(tree, root, walked, in);
  return 0;
}
