// PairedStore: see paired_store.h for the contract. This file is the facade:
// it puts the calls into the stores, the upload log and the parts
// (upload_queue.h, fast_budget.h, carried_puts.h) in their order; the parts
// keep the state, each under its own lock.
#include "store/paired_store.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "amberfs/log.h"
#include "store/pack_objects.h"
#include "store/packed_disk_store.h"
#include "store/store_naming.h"

namespace amberfs {

namespace {

// Where single Puts' files go: the fast DiskStore, or a packed store's loose
// blobs (carried Puts stay loose files there).
DiskStore* LooseDiskStoreOf(Store* fast) {
  if (auto* packed = dynamic_cast<PackedDiskStore*>(fast)) return &packed->loose();
  return dynamic_cast<DiskStore*>(fast);
}

}  // namespace

PairedStore::PairedStore(std::unique_ptr<Store> fast, std::unique_ptr<Store> slow, PairedOptions options)
    : fast_(std::move(fast)),
      slow_(std::move(slow)),
      options_(options),
      inventory_(dynamic_cast<BlobInventory*>(fast_.get())),
      fast_disk_(LooseDiskStoreOf(fast_.get())),
      fast_packed_(fast_->packed_store()) {}

Result<std::unique_ptr<PairedStore>> PairedStore::Open(std::unique_ptr<Store> fast, std::unique_ptr<Store> slow,
                                                       const std::string& log_path, PairedOptions options) {
  if (!fast || !slow) return Status::Error(EINVAL, "paired store needs a fast and a slow store");
  if (options.upload_workers < 1 || options.upload_workers > 1024)
    return Status::Error(EINVAL, "paired store: upload_workers must be 1..1024");
  if (options.retry_initial.count() <= 0 || options.retry_max < options.retry_initial)
    return Status::Error(EINVAL, "paired store: retry delays must be positive and retry_max >= retry_initial");
  if (options.max_pending == 0) return Status::Error(EINVAL, "paired store: max_pending must be positive");
  std::unique_ptr<PairedStore> store(new PairedStore(std::move(fast), std::move(slow), options));
  AMBER_RETURN_IF_ERROR(store->Start(log_path).Annotate("open " + store->Describe()));
  return store;
}

Status PairedStore::Start(const std::string& log_path) {
  if (!log_path.empty()) {
    AMBER_ASSIGN_OR_RETURN(log_, UploadLog::Open(log_path, CarriedPuts::LogOptions(options_, fast_disk_)));
  }
  // Without a log nothing can be uploaded: the evictor keeps what the slow
  // store lacks.
  FastBudget::UploadMissing upload_missing;
  if (log_) upload_missing = [this](const Pointer& key) { return UploadMissing(key); };
  budget_ = std::make_unique<FastBudget>(*fast_, *slow_, options_, errors_, std::move(upload_missing));
  UploadQueue::Hooks hooks;
  hooks.blob_settled = [this](const Pointer& key, bool in_slow) { budget_->UploadSettled(key, in_slow); };
  hooks.blob_lost = [this](const Pointer& key) { budget_->UploadLost(key); };
  queue_ = std::make_unique<UploadQueue>(*fast_, *slow_, log_.get(), options_, errors_, std::move(hooks), Describe());
  if (log_) AMBER_RETURN_IF_ERROR(OpenLog());
  AMBER_RETURN_IF_ERROR(AccountFastStore());
  queue_->StartWorkers();
  budget_->StartEvictor();
  return Status::OK();
}

Status PairedStore::OpenLog() {
  carried_ = std::make_unique<CarriedPuts>(*fast_, fast_disk_, *log_, options_, Describe());
  AMBER_RETURN_IF_ERROR(carried_->RestoreFromLog());
  std::vector<UploadEntry> pending = FinishInterruptedDeletes(log_->Pending());
  for (UploadEntry& e : pending) {
    if (e.kind == UploadEntry::Kind::kBlob) budget_->HoldForUpload(e.key);
    if (e.kind != UploadEntry::Kind::kPack) continue;
    // The log names the pack; its blobs (held until it is uploaded) come from
    // its table. A pack that cannot be read is the job's to report.
    Result<std::vector<Pointer>> blobs = fast_packed_ ? fast_packed_->PackBlobs(e.key)
                                                      : Result<std::vector<Pointer>>(std::vector<Pointer>{});
    if (!blobs.ok()) LOG_WARN("%s: %s", Describe().c_str(), blobs.status().ToString().c_str());
    if (blobs.ok()) e.pack_blobs = std::move(*blobs);
    for (const Pointer& blob : e.pack_blobs) budget_->HoldForUpload(blob);
  }
  const size_t resumed = queue_->Resume(std::move(pending));
  if (resumed > 0) LOG_INFO("%s: resuming %zu uploads from the log", Describe().c_str(), resumed);
  return Status::OK();
}

std::vector<UploadEntry> PairedStore::FinishInterruptedDeletes(std::vector<UploadEntry> pending) {
  std::vector<UploadEntry> deletes, rest;
  std::unordered_map<Pointer, std::vector<size_t>> uploads;  // key -> indexes in rest of its blob uploads
  for (UploadEntry& e : pending) {
    if (e.kind == UploadEntry::Kind::kDelete) {
      deletes.push_back(std::move(e));
      continue;
    }
    if (e.kind == UploadEntry::Kind::kBlob) uploads[e.key].push_back(rest.size());
    rest.push_back(std::move(e));
  }
  if (deletes.empty()) return rest;
  std::vector<uint64_t> settled;
  std::vector<bool> drop(rest.size(), false);
  for (const UploadEntry& d : deletes) {
    bool put_again = false;  // a Put after the delete began: its copy stays
    for (size_t i : uploads[d.key]) {
      if (rest[i].seq > d.seq) {
        put_again = true;
      } else if (!drop[i]) {  // the delete cancelled it
        drop[i] = true;
        settled.push_back(rest[i].seq);
      }
    }
    Status deleted = put_again ? Status::OK() : fast_->Delete(d.key);
    if (!deleted.ok()) LOG_WARN("%s: finishing a delete: %s", Describe().c_str(), deleted.ToString().c_str());
    settled.push_back(d.seq);
  }
  SettleCancelled(settled);
  LOG_INFO("%s: finished %zu blob deletes a crash interrupted", Describe().c_str(), deletes.size());
  std::vector<UploadEntry> kept;
  for (size_t i = 0; i < rest.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(rest[i]));
  return kept;
}

Status PairedStore::AccountFastStore() {
  // What the fast store holds already, oldest first so the LRU ends up in order.
  std::vector<BlobInfo> held;
  if (inventory_ != nullptr) {
    AMBER_RETURN_IF_ERROR(inventory_->ListBlobInfo([&](const BlobInfo& info) {
      held.push_back(info);
      return Status::OK();
    }));
    std::sort(held.begin(), held.end(),
              [](const BlobInfo& a, const BlobInfo& b) { return a.last_access < b.last_access; });
  } else {
    AMBER_RETURN_IF_ERROR(fast_->List([&](const Pointer& key) {
      BlobInfo info;
      info.key = key;
      auto data = fast_->Get(key);
      if (data.ok()) info.disk_bytes = (data->size() + 4095) / 4096 * 4096;
      held.push_back(info);
      return Status::OK();
    }));
  }
  for (const BlobInfo& info : held) budget_->AddFound(info);
  return Status::OK();
}

PairedStore::~PairedStore() {
  if (queue_) queue_->Stop();
  if (budget_) budget_->Stop();
  // A checkpoint, so the next Open has no fast copies to check.
  if (carried_) carried_->CheckpointAtClose();
  if (queue_) queue_->ReleaseMarkerIfIdle();
}

std::string PairedStore::Describe() const {
  return "paired(fast=" + fast_->Describe() + ", slow=" + slow_->Describe() + ")";
}

Status PairedStore::Refuse(const char* op) const {
  return Status::Error(EROFS, Describe() + " is read-only (opened without an upload log): " + op + " refused");
}

uint64_t PairedStore::SizeOf(const Pointer& key, size_t data_size) {
  if (inventory_ != nullptr) {
    auto bytes = inventory_->BlobDiskSize(key);
    if (bytes.ok()) return *bytes;
  }
  return (data_size + 4095) / 4096 * 4096;
}

Status PairedStore::UploadMissing(const Pointer& key) {
  AMBER_ASSIGN_OR_RETURN(uint64_t seq, log_->AppendBlob(key));
  LOG_WARN("%s: %s is in the fast store but not the slow one; uploading it", Describe().c_str(), key.Hex().c_str());
  queue_->AddBlob(seq, key, /*reserved=*/false);
  return Status::OK();
}

// ---- Put ----

Result<bool> PairedStore::HoldForPut(const Pointer& key, bool staged) {
  if (key.IsNull()) return Status::Error(EINVAL, "put of the null pointer into " + Describe());
  AMBER_RETURN_IF_ERROR(queue_->ReservePut(staged));
  return budget_->HoldForPut(key);
}

void PairedStore::SettlePut(const Pointer& key, uint64_t bytes, const Result<uint64_t>& seq) {
  budget_->SettlePut(key, bytes, /*queued=*/seq.ok());
  if (seq.ok())
    queue_->AddBlob(*seq, key, /*reserved=*/true);  // the job inherits this Put's hold on the key
  else
    queue_->CancelReservations(1);
}

Status PairedStore::Put(const Pointer& key, std::span<const uint8_t> data) {
  if (!log_) return Refuse("put");
  AMBER_RETURN_IF_ERROR(HoldForPut(key).status());
  auto put_and_queue = [&]() -> Result<uint64_t> {
    if (carried_->Wants(data.size())) return carried_->Put(key, data);
    AMBER_RETURN_IF_ERROR(fast_->Put(key, data));
    return log_->AppendBlob(key);
  };
  Result<uint64_t> seq = put_and_queue();
  // A failed queueing may leave the fast copy in place (the fast store's Put
  // succeeded, then the log append failed): its bytes still count.
  Result<bool> held = seq.ok() ? Result<bool>(true) : fast_->Contains(key);
  uint64_t bytes = held.ok() && *held ? SizeOf(key, data.size()) : 0;
  SettlePut(key, bytes, seq);
  if (!seq.ok()) return seq.status().Annotate("put into " + Describe());
  return Status::OK();
}

// A batch of Puts: the blobs go into a batch of the fast store, and at Commit
// that batch is made durable, then one upload-log append queues them all.
// Each staged key keeps its hold (never evicted, and a place in the queue's
// bound) from Put until Commit hands it to its upload job, or until the
// batch is dropped.
class PairedStore::Batch : public PutBatch {
 public:
  // A batch pins the upload marker (writes it if need be, and keeps it)
  // until it is destroyed: the caller queues what refers to the blobs (a
  // snapshot's ref) before that, and the blobs must not look unreachable to
  // another volume's gc in between, even if their uploads are done.
  Batch(PairedStore* store, std::unique_ptr<PutBatch> fast) : store_(store), fast_(std::move(fast)) {
    store_->queue_->PinMarker();
  }
  ~Batch() override {
    std::vector<Staged> dropped;
    {
      std::lock_guard<std::mutex> lock(mu_);
      dropped.swap(staged_);
    }
    for (const Staged& s : dropped) store_->SettlePut(s.key, 0, Status::Error(ECANCELED, "batch dropped"));
    store_->queue_->UnpinMarker();
  }

  Status Put(const Pointer& key, std::span<const uint8_t> data) override {
    AMBER_ASSIGN_OR_RETURN(bool known, store_->HoldForPut(key, /*staged=*/true));
    Status put = fast_->Put(key, data);
    if (!put.ok()) {
      store_->SettlePut(key, 0, put);
      return put.Annotate("put into " + store_->Describe());
    }
    std::lock_guard<std::mutex> lock(mu_);
    staged_.push_back(Staged{key, data.size(), known});
    return Status::OK();
  }

  Status Commit() override {
    std::vector<Staged> staged;
    {
      std::lock_guard<std::mutex> lock(mu_);
      staged.swap(staged_);
    }
    Status done = fast_->Commit();
    // A packed fast store's batch is uploaded pack by pack; any other one
    // blob by blob.
    std::optional<std::vector<SealedPackBlobs>> packs;
    if (done.ok()) packs = fast_->SealedPacks();
    std::vector<Pointer> keys, names;
    if (packs)
      for (const SealedPackBlobs& p : *packs) names.push_back(p.name);
    else
      for (const Staged& s : staged) keys.push_back(s.key);
    Result<std::vector<uint64_t>> seqs = !done.ok() ? Result<std::vector<uint64_t>>(done)
                                         : packs    ? store_->log_->AppendPacks(names)
                                                    : store_->log_->AppendBlobs(keys);
    if (!seqs.ok()) {
      // Not queued, so not owed: what the batch put into the fast store
      // (some of it, or all, may be visible) goes again, lest it sit there
      // unaccounted and unqueued.
      for (const Staged& s : staged) {
        store_->SettlePut(s.key, 0, seqs.status());
        if (!s.known) store_->DropUnqueued(s.key, s.size);
      }
      return seqs.status().Annotate("commit a batch of " + std::to_string(staged.size()) + " puts into " +
                                    store_->Describe());
    }
    if (packs) {
      QueuePacks(staged, *packs, *seqs);
      return Status::OK();
    }
    for (const Staged& s : staged) store_->budget_->SettlePut(s.key, store_->SizeOf(s.key, s.size), /*queued=*/true);
    store_->queue_->AddBlobs(*seqs, keys, /*reserved=*/true);
    return Status::OK();
  }

 private:
  struct Staged {
    Pointer key;
    size_t size;
    bool known;  // the fast store held it, or something else held the key, before this Put
  };

  // A packed fast store: each staged blob's hold goes to the upload of the
  // pack that carries it. A staged blob in no sealed pack was in the fast
  // store already (the batch did not write it again), so its upload was
  // queued when it was first put, or it came from the slow store: its hold
  // just ends.
  void QueuePacks(const std::vector<Staged>& staged, const std::vector<SealedPackBlobs>& packs,
                  const std::vector<uint64_t>& seqs) {
    std::unordered_map<Pointer, size_t> pack_of;
    for (size_t i = 0; i < packs.size(); ++i)
      for (const Pointer& blob : packs[i].blobs) pack_of.emplace(blob, i);
    std::vector<std::vector<Pointer>> carried(packs.size());  // a key staged twice holds twice
    size_t unqueued = 0;
    for (const Staged& s : staged) {
      auto it = pack_of.find(s.key);
      const bool queued = it != pack_of.end();
      store_->budget_->SettlePut(s.key, store_->SizeOf(s.key, s.size), queued);
      if (queued)
        carried[it->second].push_back(s.key);
      else
        ++unqueued;
    }
    store_->queue_->CancelReservations(unqueued);
    for (size_t i = 0; i < packs.size(); ++i)
      store_->queue_->AddPack(seqs[i], packs[i].name, std::move(carried[i]), /*reserved=*/true);
  }
  PairedStore* const store_;
  const std::unique_ptr<PutBatch> fast_;
  std::mutex mu_;
  std::vector<Staged> staged_;  // guarded by mu_
};

std::unique_ptr<PutBatch> PairedStore::NewPutBatch() {
  if (!log_) return NewFailedPutBatch(Refuse("put"));
  return std::make_unique<Batch>(this, fast_->NewPutBatch());
}

std::unique_ptr<PutBatch> PairedStore::NewRepackBatch() {
  if (!log_) return NewFailedPutBatch(Refuse("repack"));
  if (fast_packed_ == nullptr)
    return NewFailedPutBatch(Status::Error(ENOTSUP, Describe() + ": the fast store keeps no packs to repack"));
  return std::make_unique<Batch>(this, fast_packed_->NewRepackBatch());
}

// ---- the rest of Store ----

Result<std::vector<uint8_t>> PairedStore::Get(const Pointer& key) {
  if (key.IsNull()) return Status::Error(EINVAL, "get of the null pointer from " + Describe());
  auto local = fast_->Get(key);
  if (local.ok()) {
    budget_->Touch(key);
    return local;
  }
  bool corrupt = local.status().code() == EBADMSG;
  if (corrupt) LOG_WARN("%s; fetching it from %s", local.status().message().c_str(), slow_->Describe().c_str());
  else if (local.status().code() != ENOENT)
    LOG_WARN("%s; trying %s", local.status().ToString().c_str(), slow_->Describe().c_str());
  auto remote = GetFromSlow(key, /*evicted=*/local.status().code() == ENOENT);
  if (remote.ok() && Pointer::Of(*remote) != key)  // never trust a store to have checked
    remote = Status::Error(EBADMSG, "blob " + key.Hex() + " in " + slow_->Describe() + " is corrupt (SHA-256 mismatch)");
  if (!remote.ok()) {
    if (corrupt) return remote.status().Annotate(local.status().message() + ", and from the slow store");
    return remote.status();
  }
  // Keep it for next time; a failure here costs only speed.
  Status kept = corrupt ? fast_->Delete(key) : Status::OK();
  if (kept.ok()) kept = fast_->Put(key, *remote);
  if (!kept.ok()) {
    LOG_WARN("%s: keeping %s in the fast store: %s", Describe().c_str(), key.Hex().c_str(), kept.ToString().c_str());
    return remote;
  }
  budget_->KeepFetched(key, SizeOf(key, remote->size()));
  return remote;
}

Result<std::vector<uint8_t>> PairedStore::GetFromSlow(const Pointer& key, bool evicted) {
  // A blob whose pack is not here (evicted): the fast index still names the
  // pack, so one ranged read of the slow copy of it. A damaged or unreadable
  // fast copy goes by key, through the slow store's own map.
  if (evicted && fast_packed_ != nullptr) {
    Result<BlobLocation> where = fast_packed_->index().Lookup(key);
    if (where.ok()) {
      auto blob = GetPackedBlob(*slow_, key, *where);
      if (blob.ok() || blob.status().code() != ENOENT) return blob;
    }
  }
  return slow_->Get(key);
}

Result<bool> PairedStore::Contains(const Pointer& key) {
  auto local = fast_->Contains(key);
  if (local.ok() && *local) return true;
  return slow_->Contains(key);
}

void PairedStore::SettleCancelled(const std::vector<uint64_t>& seqs) {
  for (uint64_t seq : seqs) {
    Status s = log_->MarkDone(seq);
    if (!s.ok()) LOG_WARN("%s: %s", Describe().c_str(), s.ToString().c_str());
  }
}

Status PairedStore::Delete(const Pointer& key) { return DeleteBlobs(std::span<const Pointer>(&key, 1)); }

Status PairedStore::DeleteBlobs(std::span<const Pointer> keys, bool slow_lacks) {
  if (!log_) return Refuse("delete");
  for (const Pointer& key : keys)
    if (key.IsNull()) return Status::Error(EINVAL, "delete of the null pointer from " + Describe());
  // Written before anything is deleted: should a crash come between the slow
  // delete and the fast one, the next Open finishes the delete rather than
  // upload the fast copy again as one the slow store lost.
  Result<std::vector<uint64_t>> seqs = log_->AppendDeletes(keys);
  if (!seqs.ok()) return seqs.status().Annotate("delete from " + Describe());
  Status failed;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (failed.ok()) failed = DeleteOne(keys[i], slow_lacks);
    SettleCancelled({(*seqs)[i]});  // over, done or not
  }
  return failed;
}

Status PairedStore::DeleteOne(const Pointer& key, bool slow_lacks) {
  // Slow store first on delete; a copy an upload may still land needs the
  // delete whatever the listing said (the cancelled upload takes it out again).
  const bool uploading = budget_->IsHeld(key);
  if (!slow_lacks || uploading) AMBER_RETURN_IF_ERROR(AnnotateNamingOnce(slow_->Delete(key), slow_->Describe(), "delete from " + Describe(), "delete"));
  if (uploading) {
    std::vector<uint64_t> cancelled = queue_->CancelBlob(key);
    for (size_t i = 0; i < cancelled.size(); ++i) budget_->ReleaseHold(key);
    SettleCancelled(cancelled);
  }
  // A Put of the key in progress owns the fast copy: the delete came first.
  if (!budget_->BeginDelete(key, /*only_if_unheld=*/false)) return Status::OK();
  return EndFastDelete(key, 0).Annotate("delete from " + Describe());
}

Status PairedStore::EndFastDelete(const Pointer& key, size_t data_size) {
  Status deleted = fast_->Delete(key);
  budget_->EndDelete(key, deleted.ok(), deleted.ok() ? 0 : SizeOf(key, data_size));
  return deleted;
}

void PairedStore::DropUnqueued(const Pointer& key, size_t data_size) {
  // Only a blob this Put brought into the fast store, and that nothing else
  // holds (another Put or upload of the same key needs the copy).
  if (!budget_->BeginDelete(key, /*only_if_unheld=*/true)) return;
  Status deleted = EndFastDelete(key, data_size);
  if (!deleted.ok())
    LOG_WARN("%s: removing %s, stored by a failed batch: %s", Describe().c_str(), key.Hex().c_str(),
             deleted.ToString().c_str());
}

Result<uint64_t> PairedStore::ReclaimDeleted() {
  if (!log_) return Refuse("reclaim deleted blobs");
  Result<uint64_t> slow_bytes = slow_->ReclaimDeleted();
  if (!slow_bytes.ok())
    return AnnotateNamingOnce(slow_bytes.status(), slow_->Describe(), "reclaim in " + Describe(), "reclaim");
  AMBER_ASSIGN_OR_RETURN(uint64_t fast_bytes, fast_->ReclaimDeleted());
  return *slow_bytes + fast_bytes;
}

Status PairedStore::List(const std::function<Status(const Pointer&)>& fn) {
  std::unordered_set<Pointer> seen;
  AMBER_RETURN_IF_ERROR(slow_->List([&](const Pointer& key) {
    seen.insert(key);
    return fn(key);
  }));
  return fast_->List([&](const Pointer& key) { return seen.count(key) ? Status::OK() : fn(key); });
}

Result<uint64_t> PairedStore::QueueRef(std::string_view name, std::span<const uint8_t> data) {
  if (!log_) return Refuse("put ref");
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  AMBER_RETURN_IF_ERROR(fast_->PutRef(name, data));
  AMBER_ASSIGN_OR_RETURN(uint64_t seq, log_->AppendRef(name, data));
  queue_->AddRef(seq, name, data);
  return seq;
}

Status PairedStore::PutRef(std::string_view name, std::span<const uint8_t> data) {
  return QueueRef(name, data).status();
}

Status PairedStore::PutRefSync(std::string_view name, std::span<const uint8_t> data,
                               std::chrono::milliseconds timeout) {
  AMBER_ASSIGN_OR_RETURN(uint64_t seq, QueueRef(name, data));
  return queue_->WaitFor(seq, /*exact=*/true, timeout);
}

Result<std::vector<uint8_t>> PairedStore::GetRef(std::string_view name) {
  auto local = fast_->GetRef(name);
  if (local.ok() || local.status().code() != ENOENT) return local;
  return slow_->GetRef(name);
}

Status PairedStore::DeleteRef(std::string_view name) {
  if (!log_) return Refuse("delete ref");
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  // A pending snapshot may reach blobs only this ref keeps alive: another
  // volume's gc must see our upload marker before the ref goes (see
  // slow_store_locks.h).
  AMBER_RETURN_IF_ERROR(queue_->MarkBeforeRefDelete().Annotate("delete ref " + std::string(name)));
  AMBER_RETURN_IF_ERROR(slow_->DeleteRef(name));
  SettleCancelled(queue_->CancelRef(name));
  return fast_->DeleteRef(name);
}

Result<std::vector<std::string>> PairedStore::ListRefs(std::string_view prefix) {
  AMBER_ASSIGN_OR_RETURN(std::vector<std::string> names, slow_->ListRefs(prefix));
  AMBER_ASSIGN_OR_RETURN(std::vector<std::string> local, fast_->ListRefs(prefix));
  names.insert(names.end(), local.begin(), local.end());
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

Status PairedStore::Drain(std::chrono::milliseconds timeout) { return queue_->Drain(timeout); }

std::vector<std::pair<std::string, std::vector<uint8_t>>> PairedStore::PendingRefs() const {
  return queue_->PendingRefs();
}

PairedStats PairedStore::Stats() const {
  PairedStats s;
  queue_->ReportStats(&s);
  budget_->ReportStats(&s);
  s.upload_errors = errors_.count();
  s.last_error = errors_.last();
  return s;
}

std::vector<Pointer> PairedStore::LostBlobs() const {
  if (!log_) return {};
  return log_->Lost();
}

}  // namespace amberfs
