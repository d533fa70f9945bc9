// SlowPacks: see slow_packs.h.
#include "store/slow_packs.h"

#include <cerrno>

#include "amberfs/log.h"
#include "base/run_on_threads.h"
#include "store/pack_objects.h"

namespace amberfs {

SlowPacks::SlowPacks(std::unique_ptr<Store> raw, SlowPacksOptions options)
    : raw_(std::move(raw)), options_(options) {}

bool SlowPacks::Lookup(const Pointer& key, BlobLocation* where) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = blobs_.find(key);
  if (it == blobs_.end()) return false;
  *where = it->second;
  return true;
}

Result<bool> SlowPacks::Locate(const Pointer& key, BlobLocation* where) {
  AMBER_RETURN_IF_ERROR(RefreshMap(Refresh::kIfEmpty));
  return Lookup(key, where);
}

SlowPacks::IndexState SlowPacks::PackIndexState(const Pointer& pack) {
  std::lock_guard<std::mutex> lock(mu_);
  if (packs_.count(pack) != 0) return IndexState::kLoaded;
  if (foreign_.count(pack) != 0) return IndexState::kForeign;
  return broken_.count(pack) != 0 ? IndexState::kBroken : IndexState::kUnknown;
}

void SlowPacks::AddPackLocked(const Pointer& pack, uint64_t size, const std::vector<PackEntry>& entries) {
  if (packs_.count(pack) != 0) return;
  Pack& p = packs_[pack];
  p.size = size;
  p.blobs.reserve(entries.size());
  for (const PackEntry& e : entries) {
    p.blobs.push_back(e.id);
    dead_.erase(e.id);  // stored again since it was deleted
    // PackEntry's offset and length fit BlobLocation's fields: a pack is at
    // most kMaxPackBytes (the decoder checks).
    const BlobLocation where{pack, static_cast<uint32_t>(e.offset), e.length, e.flags};
    if (!blobs_.try_emplace(e.id, where).second) copies_.emplace(e.id, where);
  }
}

void SlowPacks::RemovePackLocked(const Pointer& pack) {
  auto it = packs_.find(pack);
  if (it == packs_.end()) return;
  for (const Pointer& id : it->second.blobs) {
    auto [first, last] = copies_.equal_range(id);
    for (auto c = first; c != last;) c = c->second.pack == pack ? copies_.erase(c) : std::next(c);
    auto b = blobs_.find(id);
    if (b == blobs_.end() || b->second.pack != pack) continue;
    // Another copy, if any, takes its place.
    auto other = copies_.find(id);
    if (other == copies_.end()) {
      blobs_.erase(b);
    } else {
      b->second = other->second;
      copies_.erase(other);
    }
  }
  packs_.erase(it);
}

void SlowPacks::set_pack_tables(std::shared_ptr<const PackTableCodec> tables) {
  std::lock_guard<std::mutex> refresh(refresh_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  tables_ = std::move(tables);
  foreign_.clear();  // the next refresh reads them again, with these tables,
  loaded_ = false;   // and it comes at the next miss
}

std::shared_ptr<const PackTableCodec> SlowPacks::PackTables() {
  std::lock_guard<std::mutex> lock(mu_);
  return tables_;
}

void GivePackTables(Store* store, std::shared_ptr<const PackTableCodec> tables) {
  if (auto* packs = dynamic_cast<SlowPacks*>(store)) packs->set_pack_tables(std::move(tables));
}

std::vector<SlowPacks::IndexRead> SlowPacks::ReadIndexObjects(const std::vector<Pointer>& packs,
                                                               const PackTableCodec* tables) {
  // One request at a time cost a restore of 1 GiB (64 packs) 0.2 s before
  // its first download; the requests are small, so a few at once suffice.
  std::vector<IndexRead> reads(packs.size());
  RunOnThreads(packs.size(), kIndexReaders, [&](size_t i) {
    reads[i].entries = GetPackIndex(*raw_, packs[i], tables, &reads[i].pack_size);
  });
  return reads;
}

Status SlowPacks::RefreshMap(Refresh when) {
  std::lock_guard<std::mutex> refresh(refresh_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (loaded_ && (when == Refresh::kIfEmpty ||
                  (when == Refresh::kIfDue && now - last_refresh_ < options_.refresh_interval)))
    return Status::OK();
  std::vector<Pointer> fresh;
  Status listed = ListPacks(*raw_, [&](const Pointer& pack) -> Status {
    std::lock_guard<std::mutex> lock(mu_);
    if (packs_.count(pack) == 0 && broken_.count(pack) == 0 && foreign_.count(pack) == 0) fresh.push_back(pack);
    return Status::OK();
  });
  const std::shared_ptr<const PackTableCodec> tables = PackTables();
  // A store that keeps no pack objects has no packed blobs.
  if (!listed.ok() && listed.code() != ENOTSUP) return listed;
  // Each index object is read outside mu_: reads of blobs already mapped go on.
  std::vector<IndexRead> reads = ReadIndexObjects(fresh, tables.get());
  for (size_t i = 0; i < fresh.size(); ++i) {
    const Pointer& pack = fresh[i];
    const uint64_t size = reads[i].pack_size;
    Result<std::vector<PackEntry>>& entries = reads[i].entries;
    std::lock_guard<std::mutex> lock(mu_);
    if (entries.ok()) {
      AddPackLocked(pack, size, *entries);
    } else if (entries.status().code() == EACCES) {
      foreign_.insert(pack);
    } else if (entries.status().code() == EBADMSG) {
      LOG_WARN("%s: skipping pack %s: %s", Describe().c_str(), pack.Hex().c_str(),
               entries.status().message().c_str());
      broken_.insert(pack);
    } else if (entries.status().code() != ENOENT) {  // ENOENT: deleted since the listing
      return entries.status();
    }
  }
  loaded_ = true;
  last_refresh_ = now;
  return Status::OK();
}

Result<std::vector<uint8_t>> SlowPacks::Get(const Pointer& key) {
  BlobLocation where;
  if (Lookup(key, &where)) {
    // Packed: one ranged read, no request for a loose copy first.
    Result<std::vector<uint8_t>> packed = GetPackedBlob(*raw_, key, where);
    if (packed.ok()) return packed;
    Result<std::vector<uint8_t>> loose = raw_->Get(key);
    if (loose.ok() || loose.status().code() != ENOENT) return loose;
    if (packed.status().code() != ENOENT) return packed.status();
    // The pack may be gone: another volume's gc deleted it after repacking
    // its live blobs. (The pack stays in the map: the whole store may be
    // away for a while.)
    Result<std::vector<uint8_t>> copy = GetAnotherCopy(key, where.pack);
    if (copy.ok() || copy.status().code() != ENOENT) return copy;
    return packed.status();
  }
  Result<std::vector<uint8_t>> loose = raw_->Get(key);
  if (loose.ok() || loose.status().code() != ENOENT) return loose;
  AMBER_RETURN_IF_ERROR(RefreshMap(Refresh::kIfDue));
  if (!Lookup(key, &where)) return loose.status();
  return GetPackedBlob(*raw_, key, where);
}

Result<std::vector<uint8_t>> SlowPacks::GetAnotherCopy(const Pointer& key, const Pointer& failed_pack) {
  AMBER_RETURN_IF_ERROR(RefreshMap(Refresh::kAlways));  // the packs put since
  std::vector<BlobLocation> others;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto [first, last] = copies_.equal_range(key);
    for (auto c = first; c != last; ++c) {
      if (c->second.pack != failed_pack) others.push_back(c->second);
    }
  }
  for (const BlobLocation& other : others) {
    Result<std::vector<uint8_t>> copy = GetPackedBlob(*raw_, key, other);
    if (!copy.ok()) continue;
    // Read from the copy from now on: it and the failed location swap places.
    std::lock_guard<std::mutex> lock(mu_);
    auto b = blobs_.find(key);
    if (b == blobs_.end() || b->second.pack != failed_pack) return copy;
    auto [first, last] = copies_.equal_range(key);
    for (auto c = first; c != last; ++c) {
      if (c->second.pack == other.pack) {
        std::swap(c->second, b->second);
        break;
      }
    }
    return copy;
  }
  return Status::Error(ENOENT, "no other copy of blob " + key.Hex() + " in " + Describe());
}

Result<bool> SlowPacks::Contains(const Pointer& key) {
  BlobLocation where;
  if (Lookup(key, &where)) return true;
  AMBER_ASSIGN_OR_RETURN(bool loose, raw_->Contains(key));
  if (loose) return true;
  AMBER_RETURN_IF_ERROR(RefreshMap(Refresh::kIfDue));
  return Lookup(key, &where);
}

Status SlowPacks::Delete(const Pointer& key) {
  // The map must know the packed blobs for the mark to count.
  AMBER_RETURN_IF_ERROR(RefreshMap(Refresh::kIfEmpty));
  bool may_be_loose;
  {
    std::lock_guard<std::mutex> lock(mu_);
    may_be_loose = blobs_.count(key) == 0 || !loose_listed_ || loose_.count(key) != 0;
  }
  // gc deletes every garbage blob it listed, and frees packs whole: a packed
  // blob the last listing did not show loose costs no request. (A loose copy
  // put since that listing stays, as garbage for the next gc.)
  if (may_be_loose) AMBER_RETURN_IF_ERROR(raw_->Delete(key));
  std::lock_guard<std::mutex> lock(mu_);
  loose_.erase(key);
  if (blobs_.erase(key) != 0) dead_.insert(key);
  copies_.erase(key);
  return Status::OK();
}

std::vector<std::pair<Pointer, uint64_t>> SlowPacks::DoomedPacksLocked() const {
  // A pack's share of dead blobs (by count: chunks are alike in size).
  std::unordered_map<Pointer, double> dead_share;
  for (const auto& [pack, p] : packs_) {
    size_t dead = 0;
    for (const Pointer& id : p.blobs) dead += dead_.count(id);
    dead_share[pack] = p.blobs.empty() ? 1.0 : static_cast<double>(dead) / static_cast<double>(p.blobs.size());
  }
  // Sparsest first. A pack goes when each of its blobs is dead or has a copy
  // in a pack that stays and is strictly denser (a repack's new pack): the
  // order is strict, so two packs never count on each other, and what a
  // pack counts on was decided to stay before it.
  std::vector<Pointer> order;
  for (const auto& [pack, share] : dead_share) order.push_back(pack);
  std::sort(order.begin(), order.end(), [&](const Pointer& a, const Pointer& b) {
    return dead_share.at(a) != dead_share.at(b) ? dead_share.at(a) > dead_share.at(b) : a < b;
  });
  std::unordered_set<Pointer> going;
  std::vector<std::pair<Pointer, uint64_t>> doomed;
  for (const Pointer& pack : order) {
    const double share = dead_share.at(pack);
    if (share == 0) break;  // no dead blob: nothing to gain
    bool redundant = true;
    for (const Pointer& id : packs_.at(pack).blobs) {
      if (dead_.count(id)) continue;
      bool elsewhere = false;
      auto denser_copy = [&](const BlobLocation& where) {
        return where.pack != pack && !going.count(where.pack) && dead_share.count(where.pack) &&
               dead_share.at(where.pack) < share;
      };
      if (auto it = blobs_.find(id); it != blobs_.end()) elsewhere = denser_copy(it->second);
      for (auto [c, end] = copies_.equal_range(id); !elsewhere && c != end; ++c) elsewhere = denser_copy(c->second);
      if (!elsewhere) {
        redundant = false;
        break;
      }
    }
    if (!redundant) continue;
    going.insert(pack);
    doomed.emplace_back(pack, packs_.at(pack).size);
  }
  return doomed;
}

Result<uint64_t> SlowPacks::ReclaimDeleted() {
  AMBER_ASSIGN_OR_RETURN(uint64_t freed, raw_->ReclaimDeleted());
  std::lock_guard<std::mutex> refresh(refresh_mu_);  // no refresh reloads a pack while it goes
  std::vector<std::pair<Pointer, uint64_t>> doomed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    doomed = DoomedPacksLocked();
  }
  for (const auto& [pack, size] : doomed) {
    AMBER_RETURN_IF_ERROR(DeletePack(*raw_, pack));
    std::lock_guard<std::mutex> lock(mu_);
    RemovePackLocked(pack);
    freed += size;
  }
  if (!doomed.empty())
    LOG_INFO("%s: deleted %zu pack%s whose every blob is dead or in a denser pack (%llu bytes)", Describe().c_str(),
             doomed.size(), doomed.size() == 1 ? "" : "s", static_cast<unsigned long long>(freed));
  return freed;
}

Status SlowPacks::List(const std::function<Status(const Pointer&)>& fn) {
  AMBER_RETURN_IF_ERROR(RefreshMap(Refresh::kAlways));
  std::unordered_set<Pointer> listed;
  AMBER_RETURN_IF_ERROR(raw_->List([&](const Pointer& key) -> Status {
    listed.insert(key);
    return fn(key);
  }));
  // A copy: fn may call back into this store.
  std::vector<Pointer> packed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    loose_ = listed;  // what Delete needs to ask the raw store about
    loose_listed_ = true;
    packed.reserve(blobs_.size());
    for (const auto& [key, where] : blobs_)
      if (listed.count(key) == 0) packed.push_back(key);
  }
  for (const Pointer& key : packed) AMBER_RETURN_IF_ERROR(fn(key));
  return Status::OK();
}

Status SlowPacks::PutObject(std::string_view name, std::span<const uint8_t> bytes) {
  AMBER_RETURN_IF_ERROR(raw_->PutObject(name, bytes));
  if (!name.starts_with(kPackIndexObjectPrefix)) return Status::OK();
  // An index object is put after its pack (PutPack): its blobs can be found now.
  const Pointer pack = ObjectNamePack(name);
  uint64_t size = 0;
  const std::shared_ptr<const PackTableCodec> tables = PackTables();
  Result<std::vector<PackEntry>> entries = DecodePackIndexObject(
      pack, bytes, "index object " + std::string(name) + " put into " + Describe(), tables.get(), &size);
  if (!entries.ok()) {
    LOG_WARN("%s", entries.status().message().c_str());  // the next refresh gives its verdict
    return Status::OK();
  }
  std::lock_guard<std::mutex> lock(mu_);
  AddPackLocked(pack, size, *entries);
  return Status::OK();
}

Status SlowPacks::DeleteObject(std::string_view name) {
  AMBER_RETURN_IF_ERROR(raw_->DeleteObject(name));
  if (name.starts_with(kPackIndexObjectPrefix)) {
    std::lock_guard<std::mutex> lock(mu_);
    RemovePackLocked(ObjectNamePack(name));
  }
  return Status::OK();
}

}  // namespace amberfs
