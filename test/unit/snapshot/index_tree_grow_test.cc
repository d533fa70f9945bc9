// IndexTree across a volume's growth: a tree of fewer chunks (and levels)
// read, diffed and extended as a tree of the grown geometry, sharing every
// old node (snapshot/index_tree.h, "Growth").
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "snapshot/index_tree.h"
#include "store/disk_store.h"
#include "support/counting_store.h"
#include "support/temp_dir.h"

using namespace amberfs;
using amberfs::testing::CountingStore;
using amberfs::testing::TempDir;

namespace {

Pointer ChunkBlob(uint64_t v) { return Pointer::Of(&v, sizeof v); }

std::map<uint64_t, Pointer> WalkAll(IndexTree& tree, const Pointer& root) {
  std::map<uint64_t, Pointer> out;
  Status st = tree.Walk(root, [&](uint64_t c, const Pointer& p) {
    out[c] = p;
    return Status::OK();
  });
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return out;
}

struct GrowFixture {
  TempDir dir{"snapgrow"};
  std::unique_ptr<DiskStore> disk;
  std::unique_ptr<CountingStore> store;
  GrowFixture() {
    auto s = DiskStore::Open(dir / "fast", {.exclusive = true});
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    disk = std::move(s).value();
    store = std::make_unique<CountingStore>(disk.get());
  }
};

}  // namespace

TEST_CASE("index grow: an old tree wrapped two levels up keeps its chunks and shares its nodes") {
  GrowFixture f;
  // Fanout 4: 10 chunks need depth 2, 40 chunks depth 3, 100 chunks depth 4.
  const IndexGeometry small = IndexGeometry::Make(10, 4).value();
  const IndexGeometry big = IndexGeometry::Make(100, 4).value();
  REQUIRE(small.depth == 2);
  REQUIRE(big.depth == 4);
  IndexTree old_tree(f.store.get(), small);
  IndexTree tree(f.store.get(), big);
  std::vector<ChunkPointer> first;
  for (uint64_t c : {0ull, 3ull, 5ull, 9ull}) first.push_back({c, ChunkBlob(c)});
  Result<Pointer> old_root = old_tree.Update(Pointer(), first);
  REQUIRE(old_root.ok());

  // Read as the grown geometry without any new node: same chunks, null past the end.
  for (uint64_t c = 0; c < big.chunk_count; ++c) {
    Result<Pointer> p = tree.Lookup(*old_root, c, small.depth);
    REQUIRE_MESSAGE(p.ok(), p.status().ToString());
    CHECK(*p == (c < 10 && (c == 0 || c == 3 || c == 5 || c == 9) ? ChunkBlob(c) : Pointer()));
  }
  CHECK(tree.Lookup(*old_root, 0, big.depth + 1).status().code() == EINVAL);

  // Grown: one new node per missing level, the old root below them.
  const uint64_t puts_before = f.store->puts;
  IndexUpdateStats stats;
  Result<Pointer> grown = tree.Grow(*old_root, small.depth, &stats);
  REQUIRE(grown.ok());
  CHECK(stats.nodes_written == big.depth - small.depth);
  CHECK(f.store->puts - puts_before == big.depth - small.depth);
  CHECK(WalkAll(tree, *grown) == WalkAll(old_tree, *old_root));
  CHECK(tree.Grow(Pointer(), small.depth)->IsNull());  // an empty tree stays empty

  // Extended by chunks past the old end: the old root is still reached, unchanged.
  Result<Pointer> next = tree.Update(*grown, {{70, ChunkBlob(70)}, {99, ChunkBlob(99)}, {9, ChunkBlob(1009)}});
  REQUIRE(next.ok());
  // Every node of the old tree but its root (the path to chunk 9 changed) is in the new one.
  std::set<Pointer> new_nodes, old_nodes;
  auto nodes_of = [](IndexTree& t, const Pointer& root, std::set<Pointer>* out) {
    Status st = t.ForEachBlob(root, [&](const Pointer& p, BlobKind kind) -> Result<bool> {
      if (kind == BlobKind::kIndexNode) out->insert(p);
      return true;
    });
    REQUIRE_MESSAGE(st.ok(), st.ToString());
  };
  nodes_of(tree, *next, &new_nodes);
  nodes_of(old_tree, *old_root, &old_nodes);
  REQUIRE(old_nodes.size() == 4);  // root and leaves for chunks 0-3, 4-7, 8-9
  size_t shared = 0;
  for (const Pointer& p : old_nodes) shared += new_nodes.count(p);
  CHECK(shared == 2);  // the leaves of chunks 0-3 and 4-7
  std::map<uint64_t, Pointer> want = WalkAll(old_tree, *old_root);
  want[9] = ChunkBlob(1009);
  want[70] = ChunkBlob(70);
  want[99] = ChunkBlob(99);
  CHECK(WalkAll(tree, *next) == want);

  // Update of the old root itself, given its depth, grows it on the way:
  // the same tree, without reading a node it does not change.
  IndexUpdateStats direct_stats;
  Result<Pointer> direct = tree.Update(*old_root, {{70, ChunkBlob(70)}, {99, ChunkBlob(99)}, {9, ChunkBlob(1009)}},
                                       &direct_stats, nullptr, small.depth);
  REQUIRE_MESSAGE(direct.ok(), direct.status().ToString());
  CHECK(*direct == *next);
  CHECK(direct_stats.nodes_read == 2);  // the old root and the leaf of chunks 8-9
  // With nothing changed it is just grown.
  CHECK(tree.Update(*old_root, {}, nullptr, nullptr, small.depth).value() == *grown);
}

TEST_CASE("index grow: Diff between a tree from before a grow and one after") {
  GrowFixture f;
  const IndexGeometry small = IndexGeometry::Make(10, 4).value();
  const IndexGeometry big = IndexGeometry::Make(40, 4).value();
  IndexTree old_tree(f.store.get(), small);
  IndexTree tree(f.store.get(), big);
  Result<Pointer> old_root = old_tree.Update(Pointer(), {{1, ChunkBlob(1)}, {8, ChunkBlob(8)}});
  REQUIRE(old_root.ok());
  Result<Pointer> grown = tree.Grow(*old_root, small.depth);
  REQUIRE(grown.ok());
  Result<Pointer> next = tree.Update(*grown, {{8, ChunkBlob(108)}, {20, ChunkBlob(20)}, {39, ChunkBlob(39)}});
  REQUIRE(next.ok());

  std::map<uint64_t, std::pair<Pointer, Pointer>> got;
  auto collect = [&](uint64_t c, const Pointer& a, const Pointer& b) {
    CHECK(a != b);
    got[c] = {a, b};
    return Status::OK();
  };
  REQUIRE(tree.Diff(*next, *old_root, collect, big.depth, small.depth).ok());
  std::map<uint64_t, std::pair<Pointer, Pointer>> want = {
      {8, {ChunkBlob(108), ChunkBlob(8)}}, {20, {ChunkBlob(20), Pointer()}}, {39, {ChunkBlob(39), Pointer()}}};
  CHECK(got == want);
  // The grown root and the old one read as the same tree.
  got.clear();
  REQUIRE(tree.Diff(*grown, *old_root, collect, big.depth, small.depth).ok());
  CHECK(got.empty());
  REQUIRE(tree.Diff(*old_root, *old_root, collect, small.depth, small.depth).ok());
  CHECK(got.empty());
  CHECK(tree.Diff(*next, *old_root, collect, big.depth, big.depth + 1).code() == EINVAL);
}
