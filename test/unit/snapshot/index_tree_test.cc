#include "snapshot/index_tree.h"

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <random>
#include <thread>

#include "store/disk_store.h"
#include "support/counting_store.h"
#include "support/temp_dir.h"

using amberfs::BlobKind;
using amberfs::ChunkPointer;
using amberfs::IndexGeometry;
using amberfs::IndexTree;
using amberfs::Pointer;
using amberfs::Status;
using amberfs::testing::CountingStore;
using amberfs::testing::TempDir;

namespace {

using Model = std::map<uint64_t, Pointer>;  // non-null chunks only

std::unique_ptr<amberfs::DiskStore> OpenStore(const TempDir& dir) {
  auto s = amberfs::DiskStore::Open(dir / "fast", {.exclusive = true});
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return std::move(s).value();
}

Pointer ChunkBlob(uint64_t v) { return Pointer::Of(&v, sizeof v); }

Model WalkAll(IndexTree& tree, const Pointer& root) {
  Model out;
  Status st = tree.Walk(root, [&](uint64_t c, const Pointer& p) {
    CHECK_FALSE(p.IsNull());
    CHECK(out.emplace(c, p).second);
    return Status::OK();
  });
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return out;
}

std::map<uint64_t, std::pair<Pointer, Pointer>> ModelDiff(const Model& a, const Model& b) {
  std::map<uint64_t, std::pair<Pointer, Pointer>> out;
  for (auto& [c, p] : a) {
    auto it = b.find(c);
    Pointer q = it == b.end() ? Pointer() : it->second;
    if (p != q) out[c] = {p, q};
  }
  for (auto& [c, q] : b)
    if (!a.count(c)) out[c] = {Pointer(), q};
  return out;
}

std::map<uint64_t, std::pair<Pointer, Pointer>> TreeDiff(IndexTree& tree, const Pointer& a, const Pointer& b) {
  std::map<uint64_t, std::pair<Pointer, Pointer>> out;
  Status st = tree.Diff(a, b, [&](uint64_t c, const Pointer& pa, const Pointer& pb) {
    CHECK(pa != pb);
    CHECK(out.emplace(c, std::make_pair(pa, pb)).second);
    return Status::OK();
  });
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return out;
}

}  // namespace

TEST_CASE("index: geometry and strict node parsing") {
  CHECK(IndexGeometry::Make(1)->depth == 1);
  CHECK(IndexGeometry::Make(256)->depth == 1);
  CHECK(IndexGeometry::Make(257)->depth == 2);
  CHECK(IndexGeometry::Make(65536)->depth == 2);
  CHECK(IndexGeometry::Make((64ull << 30) / (64 << 10))->depth == 3);  // 64 GiB of 64 KiB chunks
  CHECK(IndexGeometry::Make(UINT64_MAX, 4096)->depth == 6);
  CHECK(IndexGeometry::Make(UINT64_MAX, 2)->depth == 64);
  CHECK(IndexGeometry::Make(0).status().code() == EINVAL);
  CHECK(IndexGeometry::Make(10, 3).status().code() == EINVAL);
  CHECK(IndexGeometry::Make(10, 8192).status().code() == EINVAL);
  CHECK(IndexGeometry::Make(10, 1).status().code() == EINVAL);

  auto geo = IndexGeometry::Make(10, 4).value();  // depth 2: a root over 3 leaves, the last one half used
  std::vector<Pointer> slots(4);
  slots[1] = ChunkBlob(1);
  auto bytes = amberfs::EncodeIndexNode(slots);
  CHECK(bytes.size() == 128);
  auto back = amberfs::DecodeIndexNode(geo, bytes, 8, 1);  // the leaf of chunks 8..9
  REQUIRE(back.ok());
  CHECK(*back == slots);
  bytes.pop_back();
  CHECK(amberfs::DecodeIndexNode(geo, bytes, 8, 1).status().code() == EBADMSG);
  bytes.push_back(0);
  bytes.push_back(0);
  CHECK(amberfs::DecodeIndexNode(geo, bytes, 8, 1).status().code() == EBADMSG);
  slots[3] = ChunkBlob(3);  // chunk 11 does not exist
  CHECK(amberfs::DecodeIndexNode(geo, amberfs::EncodeIndexNode(slots), 8, 1).status().code() == EBADMSG);
  CHECK(amberfs::DecodeIndexNode(geo, amberfs::EncodeIndexNode(slots), 4, 1).ok());
  CHECK(amberfs::DecodeIndexNode(geo, amberfs::EncodeIndexNode(slots), 0, 2).status().code() == EBADMSG);
}

TEST_CASE("index: random updates over many snapshots match a model") {
  TempDir dir("snap");
  auto disk = OpenStore(dir);
  CountingStore store(disk.get());
  auto geo = IndexGeometry::Make(1000, 8).value();  // depth 4
  REQUIRE(geo.depth == 4);
  IndexTree tree(&store, geo, 8);
  std::mt19937_64 rng(7);
  std::vector<Pointer> roots{Pointer()};
  std::vector<Model> models{Model()};
  for (int snap = 0; snap < 12; ++snap) {
    Model model = models.back();
    std::map<uint64_t, Pointer> changes;
    const int n = 1 + static_cast<int>(rng() % 16);
    for (int k = 0; k < n; ++k) {
      // Clustered and scattered chunks, some zeroed, some sharing a blob.
      uint64_t c = rng() % 3 == 0 ? rng() % 40 : rng() % geo.chunk_count;
      Pointer p = rng() % 5 == 0 ? Pointer() : ChunkBlob(rng() % 64);
      changes[c] = p;
      if (p.IsNull()) model.erase(c); else model[c] = p;
    }
    std::vector<ChunkPointer> list;
    for (auto& [c, p] : changes) list.push_back({c, p});
    std::shuffle(list.begin(), list.end(), rng);
    amberfs::IndexUpdateStats stats;
    auto root = tree.Update(roots.back(), list, &stats);
    REQUIRE_MESSAGE(root.ok(), root.status().ToString());
    CHECK(stats.nodes_written <= uint64_t{geo.depth} * list.size());
    CHECK(root->IsNull() == model.empty());

    CHECK(WalkAll(tree, *root) == model);
    for (int k = 0; k < 60; ++k) {
      uint64_t c = rng() % geo.chunk_count;
      auto p = tree.Lookup(*root, c);
      REQUIRE(p.ok());
      auto it = model.find(c);
      CHECK(*p == (it == model.end() ? Pointer() : it->second));
    }
    CHECK(TreeDiff(tree, roots.back(), *root) == ModelDiff(models.back(), model));
    CHECK(TreeDiff(tree, *root, roots.back()).size() == ModelDiff(model, models.back()).size());
    roots.push_back(*root);
    models.push_back(model);
  }
  // Old roots stay intact and diff against any other.
  for (size_t i = 0; i < roots.size(); i += 5) {
    CHECK(WalkAll(tree, roots[i]) == models[i]);
    CHECK(TreeDiff(tree, roots[i], roots.back()) == ModelDiff(models[i], models.back()));
  }
  // Every blob a tree reaches: its nodes exist, its chunks are the model's values.
  std::multiset<Pointer> chunks, expected;
  for (auto& [c, p] : models.back()) expected.insert(p);
  uint64_t nodes = 0;
  Status st = tree.ForEachBlob(roots.back(), [&](const Pointer& p, BlobKind kind) -> amberfs::Result<bool> {
    if (kind == BlobKind::kChunk) {
      chunks.insert(p);
    } else {
      ++nodes;
      CHECK(disk->Contains(p).value());
    }
    return true;
  });
  REQUIRE(st.ok());
  CHECK(chunks == expected);
  CHECK(nodes >= geo.depth);
  // A visitor that declines to descend sees only the root.
  nodes = 0;
  st = tree.ForEachBlob(roots.back(), [&](const Pointer&, BlobKind) -> amberfs::Result<bool> {
    ++nodes;
    return false;
  });
  CHECK(nodes == 1);

  // Zeroing every chunk gives the null root.
  std::vector<ChunkPointer> clear;
  for (auto& [c, p] : models.back()) clear.push_back({c, Pointer()});
  auto empty = tree.Update(roots.back(), clear);
  REQUIRE(empty.ok());
  CHECK(empty->IsNull());
}

TEST_CASE("index: one changed chunk of a 64 GiB volume writes exactly depth nodes") {
  TempDir dir("snap");
  auto disk = OpenStore(dir);
  CountingStore store(disk.get());
  auto geo = IndexGeometry::Make((64ull << 30) / (64 << 10)).value();
  IndexTree tree(&store, geo);
  // A sparse first snapshot: a few clusters across the volume.
  std::vector<ChunkPointer> first;
  for (uint64_t c : {0ull, 1ull, 300ull, 70000ull, 1048575ull}) first.push_back({c, ChunkBlob(c)});
  auto root = tree.Update(Pointer(), first);
  REQUIRE(root.ok());
  const uint64_t puts_before = store.puts;
  amberfs::IndexUpdateStats stats;
  auto next = tree.Update(*root, {{70001, ChunkBlob(99)}}, &stats);
  REQUIRE(next.ok());
  CHECK(store.puts - puts_before == geo.depth);
  CHECK(stats.nodes_written == geo.depth);
  CHECK(stats.nodes_read == geo.depth);
  CHECK(tree.Lookup(*next, 70001).value() == ChunkBlob(99));
  CHECK(tree.Lookup(*next, 70000).value() == ChunkBlob(70000));
  CHECK(tree.Lookup(*next, 70002)->IsNull());
  CHECK(tree.Lookup(*next, geo.chunk_count).status().code() == EINVAL);
  // Rewriting a chunk with the pointer it already has writes nothing.
  const uint64_t puts_mid = store.puts;
  auto same = tree.Update(*next, {{0, ChunkBlob(0)}});
  REQUIRE(same.ok());
  CHECK(*same == *next);
  CHECK(store.puts == puts_mid);
}

TEST_CASE("index: bad changes are rejected before anything is written; store errors surface") {
  TempDir dir("snap");
  auto disk = OpenStore(dir);
  CountingStore store(disk.get());
  auto geo = IndexGeometry::Make(100, 4).value();
  IndexTree tree(&store, geo);
  CHECK(tree.Update(Pointer(), {{1, ChunkBlob(1)}, {100, ChunkBlob(2)}}).status().code() == EINVAL);
  CHECK(tree.Update(Pointer(), {{5, ChunkBlob(1)}, {5, ChunkBlob(2)}}).status().code() == EINVAL);
  CHECK(store.puts == 0);

  auto root = tree.Update(Pointer(), {{5, ChunkBlob(5)}, {50, ChunkBlob(50)}});
  REQUIRE(root.ok());
  store.fail_put_at = store.puts + 2;
  auto failed = tree.Update(*root, {{6, ChunkBlob(6)}, {90, ChunkBlob(90)}});
  CHECK(failed.status().code() == ENOSPC);
  CHECK(WalkAll(tree, *root) == Model{{5, ChunkBlob(5)}, {50, ChunkBlob(50)}});

  // A root that is not a node of this geometry, and one that is missing.
  std::vector<uint8_t> junk(100, 1);
  Pointer junk_ptr = Pointer::Of(junk);
  REQUIRE(disk->Put(junk_ptr, junk).ok());
  CHECK(tree.Lookup(junk_ptr, 3).status().code() == EBADMSG);
  CHECK(tree.Walk(junk_ptr, [](uint64_t, const Pointer&) { return Status::OK(); }).code() == EBADMSG);
  CHECK(tree.Lookup(ChunkBlob(12345), 3).status().code() == ENOENT);
  CHECK(tree.Diff(*root, ChunkBlob(12345), [](uint64_t, const Pointer&, const Pointer&) { return Status::OK(); })
            .code() == ENOENT);
}

TEST_CASE("index: concurrent lookups through a small node cache") {
  TempDir dir("snap");
  auto disk = OpenStore(dir);
  auto geo = IndexGeometry::Make(1024, 4).value();  // depth 5
  IndexTree tree(disk.get(), geo, 4);                 // far fewer than the 23 nodes
  std::vector<ChunkPointer> all;
  for (uint64_t c = 0; c < 64; c += 3) all.push_back({c, ChunkBlob(c)});
  auto root = tree.Update(Pointer(), all);
  REQUIRE(root.ok());
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int k = 0; k < 400; ++k) {
        uint64_t c = rng() % 128;
        auto p = tree.Lookup(*root, c);
        if (!p.ok() || *p != (c % 3 == 0 && c < 64 ? ChunkBlob(c) : Pointer())) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
}
