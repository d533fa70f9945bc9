// SnapshotRefs: see snapshot_refs.h for the contract.
#include "snapshot/snapshot_refs.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "amberfs/log.h"
#include "snapshot/internal.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/volume_layout.h"
#include "store/store_naming.h"

namespace amberfs {

SnapshotRefs::SnapshotRefs(PairedStore* store, Catalog* catalog, std::string volume_uuid, VolumeCodec codec)
    : store_(store), catalog_(catalog), uuid_(std::move(volume_uuid)), codec_(std::move(codec)) {}

SnapshotRefs::~SnapshotRefs() {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    stop_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void SnapshotRefs::Start() { thread_ = std::thread([this] { Loop(); }); }

bool SnapshotRefs::verified() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return verified_;
}

uint64_t SnapshotRefs::requeued() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return requeued_;
}

void SnapshotRefs::MarkUnverified(const Status& why) {
  LOG_WARN("snapshot refs: %s; checking the slow store's refs against the catalog", why.ToString().c_str());
  std::lock_guard<std::mutex> lock(state_mu_);
  verified_ = false;
  ++generation_;
  wake_.notify_all();
}

Status SnapshotRefs::Publish(const std::string& name, const Pointer& record) {
  const std::string ref = SnapshotRef(uuid_, name);
  Result<std::vector<uint8_t>> value = codec_.SealRef(ref, AsBytes(EncodeSnapshotRefValue(record)));
  Status queued = value.ok() ? store_->PutRef(ref, *value) : value.status();
  if (!queued.ok()) MarkUnverified(queued.Annotate("snapshot " + name + ": queue its ref"));
  return queued;
}

Status SnapshotRefs::Verify() {
  std::lock_guard<std::mutex> one(verify_mu_);
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (verified_) return Status::OK();
    generation = generation_;
  }
  const std::string slow = store_->slow().Describe();
  AMBER_RETURN_IF_ERROR(
      AnnotateNamingOnce(VerifyOnce(), slow, "snapshot refs not verified against " + slow, "snapshot refs not verified"));
  std::lock_guard<std::mutex> lock(state_mu_);
  if (generation_ == generation) verified_ = true;  // else: a failure came meanwhile, look again
  return Status::OK();
}

Status SnapshotRefs::VerifyOnce() {
  const std::string prefix = SnapshotRefPrefix(uuid_);
  AMBER_ASSIGN_OR_RETURN(std::vector<std::string> listed, store_->slow().ListRefs(prefix));
  const std::set<std::string> in_slow(listed.begin(), listed.end());
  std::unique_lock<std::mutex> lock(mu_);
  AMBER_ASSIGN_OR_RETURN(std::vector<CatalogEntry> entries, catalog_->List());
  std::set<std::pair<std::string, std::vector<uint8_t>>> queued;  // opened values
  for (auto& [ref, stored] : store_->PendingRefs()) {
    Result<std::vector<uint8_t>> opened = codec_.OpenRef(ref, std::move(stored));
    if (opened.ok()) queued.emplace(ref, std::move(opened).value());  // else: requeued below
  }
  std::vector<std::string> names;
  for (const CatalogEntry& e : entries) {
    const std::string ref = SnapshotRef(uuid_, e.name);
    const std::string value = EncodeSnapshotRefValue(e.record);
    if (in_slow.count(ref) || queued.count({ref, std::vector<uint8_t>(value.begin(), value.end())})) continue;
    AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> sealed, codec_.SealRef(ref, AsBytes(value)));
    AMBER_RETURN_IF_ERROR(store_->PutRef(ref, sealed).Annotate("queue the ref of snapshot " + e.name));
    names.push_back(e.name);
  }
  lock.unlock();
  if (names.empty()) return Status::OK();
  std::string shown;
  for (size_t i = 0; i < names.size() && i < 5; ++i) shown += (i ? ", " : "") + names[i];
  if (names.size() > 5) shown += ", ...";
  LOG_WARN("snapshot refs: %zu snapshots in the catalog had no ref in %s and none queued (%s); queued them",
           names.size(), store_->slow().Describe().c_str(), shown.c_str());
  std::lock_guard<std::mutex> state(state_mu_);
  requeued_ += names.size();
  return Status::OK();
}

void SnapshotRefs::Loop() {
  std::chrono::seconds wait{1};
  std::unique_lock<std::mutex> lock(state_mu_);
  while (!stop_) {
    if (verified_) {
      wake_.wait(lock);
      wait = std::chrono::seconds(1);
      continue;
    }
    lock.unlock();
    Status st = Verify();
    lock.lock();
    if (st.ok()) continue;
    // Said once per streak: a slow store that is down has lines of its own.
    AMBER_LOG(wait.count() == 1 ? LogLevel::kWarn : LogLevel::kDebug, "%s; trying again in %lld s",
              st.ToString().c_str(), static_cast<long long>(wait.count()));
    wake_.wait_for(lock, wait, [&] { return stop_; });
    wait = std::min(wait * 2, std::chrono::seconds(60));
  }
}

}  // namespace amberfs
