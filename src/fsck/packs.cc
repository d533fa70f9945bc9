// The fast store's packs (docs/DESIGN.md "Packs"): every pack file in
// fast/packs decodes (trailer, table, and its name is the SHA-256 of its
// tail; with the whole of --read-data also every blob's SHA-256 and every
// gap), and the blob index agrees with the pack tables both ways:
//  - a live index entry whose pack is here has a table entry of the same id,
//    offset, length and flags;
//  - one whose pack is not here names an evicted pack, which the slow store
//    must hold (checked when the slow store is available: one listing of
//    its index objects); a pack in neither store is an error;
//  - a table entry that no live index entry places in its pack is dead
//    (tombstoned, or live in another pack): normal in a partly live pack,
//    counted as bytes a repack would reclaim, not a problem. A pack with no
//    live blob at all is an orphan, which orphans.cc reports.
// A pack that does not decode, or one the index disagrees with, is a kPack
// problem; one whose bytes do not verify is a note, since its blobs' own
// damage is found by the trees and --read-data (with their repairs), and
// damage elsewhere (a dead blob, a gap) harms no read. Nothing here repairs.
//
// Memory: one pass over the index, keeping the entries of the packs that
// are here (the fast store's budget bounds them) and only a count for
// evicted ones; then one pack's table at a time. The --read-data pass reads
// the packs on every core (ForEachOnWorkers), each opened again by its
// worker (no file descriptor is held per pack).
#include <filesystem>
#include <map>
#include <unordered_map>

#include "fsck/internal.h"
#include "store/pack_file.h"
#include "store/pack_orphans.h"

namespace amberfs::fsck {
namespace {

// A live index entry of a pack that is here.
struct IndexedBlob {
  Pointer id;
  BlobLocation where;
};

struct IndexByPack {
  std::unordered_map<Pointer, std::vector<IndexedBlob>> here;  // packs in fast/packs
  std::map<Pointer, uint64_t> evicted;                         // other packs: their live blob count
};

Result<IndexByPack> GroupIndex(const BlobIndex& index, const std::vector<Pointer>& files) {
  IndexByPack out;
  for (const Pointer& pack : files) out.here[pack];
  AMBER_RETURN_IF_ERROR(index.ForEach([&](const Pointer& id, const BlobLocation& where) {
    auto it = out.here.find(where.pack);
    if (it != out.here.end()) it->second.push_back({id, where});
    else ++out.evicted[where.pack];
    return Status::OK();
  }));
  return out;
}

// A pack file's path: what a problem with a pack that is here names.
std::string PackPath(const Context& ctx, const Pointer& pack) { return ctx.fast->packs_dir() + "/" + pack.Hex(); }

// The first field in which the index's entry differs from the table's, as
// "offset: index 4096, table 8192"; "" if they agree.
std::string Mismatch(const BlobLocation& index, const PackEntry& table) {
  auto differs = [](const char* field, uint64_t a, uint64_t b) {
    return std::string(field) + ": index " + std::to_string(a) + ", table " + std::to_string(b);
  };
  if (index.offset != table.offset) return differs("offset", index.offset, table.offset);
  if (index.length != table.length) return differs("length", index.length, table.length);
  if (index.flags != table.flags) return differs("flags", index.flags, table.flags);
  return "";
}

// The index's live entries of pack against its table: one problem for all
// the entries that disagree (naming the first and its field); the table's
// other entries are dead bytes. True if they all agree.
bool CompareWithTable(Context& ctx, const Pointer& pack, const std::vector<PackEntry>& table,
                      const std::vector<IndexedBlob>& live) {
  std::unordered_map<Pointer, const PackEntry*> by_id;
  for (const PackEntry& e : table) by_id.emplace(e.id, &e);
  uint64_t bad = 0;
  std::string first;
  for (const IndexedBlob& b : live) {
    auto it = by_id.find(b.id);
    std::string why = it == by_id.end() ? "not in the table" : Mismatch(b.where, *it->second);
    if (it != by_id.end()) by_id.erase(it);  // matched (or reported): not dead
    if (why.empty()) continue;
    if (bad++ == 0) first = "blob " + b.id.Hex() + ": " + why;
  }
  if (bad > 0) {
    ctx.Problem(FsckClass::kPack, PackPath(ctx, pack),
                std::to_string(bad) + " of the " + std::to_string(live.size()) +
                    " entries the blob index places in this pack disagree with its table (first: " + first +
                    "); reads of them fail");
  }
  if (!live.empty()) {  // else an orphan: orphans.cc reports it whole
    for (const auto& [id, e] : by_id) ctx.report.counts.dead_pack_bytes += e->length;
  }
  return bad == 0;
}

// A pack that decoded, to read whole with --read-data.
struct PackToVerify {
  Pointer name;
  bool agrees = false;  // the index agrees with its table
  Status result;        // VerifyAll's (set by a worker)
  uint64_t bytes = 0;   // the pack's size, once read
  bool gone = false;    // evicted since it was opened
};

// Opens one pack file and compares its table with the index. False if the
// file has gone since the listing (evicted while a mount runs).
bool CheckPackFile(Context& ctx, const Pointer& pack, const std::vector<IndexedBlob>& live,
                   std::vector<PackToVerify>* to_verify) {
  Result<std::unique_ptr<PackReader>> reader = PackReader::Open(PackPath(ctx, pack), pack, ctx.pack_tables.get());
  if (!reader.ok() && reader.status().code() == ENOENT) return false;
  ++ctx.report.counts.fast_packs;
  if (!reader.ok()) {
    ctx.Problem(FsckClass::kPack, PackPath(ctx, pack),
                "does not decode: " + reader.status().message() + " (" + std::to_string(live.size()) +
                    " live blobs in it)");
    return true;
  }
  const bool agrees = CompareWithTable(ctx, pack, (*reader)->entries(), live);
  to_verify->push_back({pack, agrees, {}, 0, false});
  return true;
}

// --read-data (the whole of it: a sample reads blobs, not packs): every
// decoded pack read once, on every core.
void VerifyPacks(Context& ctx, std::vector<PackToVerify>& packs) {
  ForEachOnWorkers(ctx, "packs read", packs.size(), [&](size_t i) {
    PackToVerify& p = packs[i];
    Result<std::unique_ptr<PackReader>> reader = PackReader::Open(PackPath(ctx, p.name), p.name, ctx.pack_tables.get());
    p.gone = !reader.ok() && reader.status().code() == ENOENT;
    p.result = reader.ok() ? (*reader)->VerifyAll() : reader.status();
    if (reader.ok()) p.bytes = (*reader)->size();
  });
  for (const PackToVerify& p : packs) {
    if (p.gone) continue;
    ++ctx.report.counts.fast_packs_read;
    ctx.report.counts.pack_bytes_read += p.bytes;
    if (p.result.ok()) {
      // Reads through the index see what was verified only if the index agrees.
      if (p.agrees) ctx.verified_packs.insert(p.name);
      continue;
    }
    // Not an error in itself: damage to a dead blob or a gap harms no read
    // (a repack verifies what it copies). ReadData reads this pack's
    // reached blobs one by one and reports (and refetches) each damaged one.
    ctx.Problem(FsckClass::kNote, PackPath(ctx, p.name),
                "does not verify: " + p.result.message() + "; its reached blobs are checked one by one");
  }
}

// Evicted packs: their bytes must be in the slow store.
void CheckEvicted(Context& ctx, const std::map<Pointer, uint64_t>& evicted) {
  ctx.report.counts.evicted_packs = evicted.size();
  if (evicted.empty()) return;
  const std::unordered_set<Pointer>* slow = ctx.SlowIndexedPacks();
  if (slow == nullptr) return ctx.Skip("evicted packs against the slow store (the slow store is not available)");
  for (const auto& [pack, blobs] : evicted) {
    if (slow->count(pack)) continue;
    // Sealed and indexed since the listing of fast/packs (a mount runs),
    // so not evicted: its upload may well be pending.
    std::error_code ec;
    if (std::filesystem::exists(PackPath(ctx, pack), ec)) continue;
    ctx.Problem(FsckClass::kPack, "pack " + pack.Hex(),
                "evicted from the fast store, and the slow store has no such pack: the " + std::to_string(blobs) +
                    " blobs the blob index places in it have no packed copy");
  }
}

}  // namespace

Status CheckFastPacks(Context& ctx) {
  if (!ctx.fast) return Status::OK();
  Result<std::vector<Pointer>> files = ListPackFiles(ctx.fast->packs_dir());
  if (!files.ok()) return files.status().Annotate("list the fast store's packs");
  Result<IndexByPack> index = GroupIndex(ctx.fast->index(), *files);
  if (!index.ok()) {
    ctx.Skip("packs against the blob index: " + index.status().ToString());
    return Status::OK();
  }
  std::vector<PackToVerify> to_verify;
  uint64_t done = 0;
  for (auto& [pack, live] : index->here) {
    ctx.Progress("packs", done++, index->here.size());
    if (!CheckPackFile(ctx, pack, live, &to_verify) && !live.empty()) index->evicted[pack] = live.size();
    std::vector<IndexedBlob>().swap(live);  // freed as the check goes
  }
  if (ctx.opt.read_data && ctx.opt.read_data_percent >= 100) VerifyPacks(ctx, to_verify);
  CheckEvicted(ctx, index->evicted);
  return Status::OK();
}

}  // namespace amberfs::fsck
