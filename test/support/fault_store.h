// FaultStore: a Store wrapper that injects faults, for tests.
//
//   - Fail(op, errno, key, times): the next `times` calls of op (any key, or
//     only `key`) fail with errno before reaching the inner store; times < 0
//     means until Clear().
//   - SetDelay(d): every call sleeps d first (a slow network store).
//   - CorruptOnGet(key): Get returns the inner bytes with one bit flipped,
//     bypassing the inner store's verification (a store that lies).
//   - SetDown(true): every call fails with ECONNREFUSED (an unreachable store);
//     a call in its delay when the store goes down fails with ECONNRESET.
//   - PauseNext(op, key, after, what): the next call of op (on key, if
//     given; whose "<op> <key or name>" contains `what`, if not empty)
//     waits, before reaching the inner store or (after) once it returned,
//     until Resume(); WaitPaused() waits for a call to be held there.
//   - A shared OpRecorder, when given, gets "<label>:<op> <key or name>" for
//     every call that reached the inner store, in order across stores.
// Batches wrap the inner store's batch: their Puts take kPut faults and their
// Commit takes kCommit faults.
// It forwards BlobInventory to the inner store when that implements it.
//
// Header-only; thread-safe (one mutex guards the fault settings, never held
// across a call into the inner store or a sleep).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/disk_store.h"
#include "store/store.h"

namespace amberfs::testing {

class OpRecorder {
 public:
  void Record(std::string entry) {
    std::lock_guard<std::mutex> lock(mu_);
    ops_.push_back(std::move(entry));
  }
  std::vector<std::string> ops() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ops_;
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    ops_.clear();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> ops_;
};

class FaultStore : public Store, public BlobInventory {
 public:
  enum class Op { kPut, kGet, kContains, kDelete, kList, kPutRef, kGetRef, kDeleteRef, kListRefs, kCommit };

  explicit FaultStore(std::unique_ptr<Store> inner, std::string label = "store",
                      std::shared_ptr<OpRecorder> recorder = nullptr)
      : inner_(std::move(inner)), label_(std::move(label)), recorder_(std::move(recorder)) {}

  void Fail(Op op, int err, std::optional<Pointer> key = std::nullopt, int times = -1) {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.push_back(Fault{op, err, key, times});
  }
  void SetDelay(std::chrono::milliseconds delay) {
    std::lock_guard<std::mutex> lock(mu_);
    delay_ = delay;
  }
  void CorruptOnGet(const Pointer& key) {
    std::lock_guard<std::mutex> lock(mu_);
    corrupt_.push_back(key);
  }
  void SetDown(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  void PauseNext(Op op, std::optional<Pointer> key = std::nullopt, bool after = false, std::string what = "") {
    std::lock_guard<std::mutex> lock(mu_);
    pause_ = Pause{op, key, after, std::move(what)};
    paused_ = false;
    resumed_ = false;
  }
  bool WaitPaused(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return pause_cv_.wait_for(lock, timeout, [&] { return paused_; });
  }
  void Resume() {
    std::lock_guard<std::mutex> lock(mu_);
    resumed_ = true;
    pause_cv_.notify_all();
  }
  void Clear() {
    std::lock_guard<std::mutex> lock(mu_);
    faults_.clear();
    corrupt_.clear();
    down_ = false;
    delay_ = {};
  }
  // Calls that failed because of an injected fault.
  int injected() const {
    std::lock_guard<std::mutex> lock(mu_);
    return injected_;
  }
  Store& inner() { return *inner_; }

  std::string Describe() const override { return "fault(" + inner_->Describe() + ")"; }

  Status Put(const Pointer& key, std::span<const uint8_t> data) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kPut, &key, "put " + key.Hex()));
    return After(Op::kPut, &key, inner_->Put(key, data));
  }
  std::unique_ptr<PutBatch> NewPutBatch() override {
    return std::make_unique<FaultBatch>(this, inner_->NewPutBatch());
  }
  Result<std::vector<uint8_t>> Get(const Pointer& key) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kGet, &key, "get " + key.Hex()));
    auto data = inner_->Get(key);
    if (data.ok() && !data->empty() && ShouldCorrupt(key)) (*data)[data->size() / 2] ^= 0x20;
    return data;
  }
  Result<bool> Contains(const Pointer& key) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kContains, &key, "contains " + key.Hex()));
    return inner_->Contains(key);
  }
  Status Delete(const Pointer& key) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kDelete, &key, "delete " + key.Hex()));
    return After(Op::kDelete, &key, inner_->Delete(key));
  }
  Status List(const std::function<Status(const Pointer&)>& fn) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kList, nullptr, "list"));
    return inner_->List(fn);
  }
  Status PutRef(std::string_view name, std::span<const uint8_t> data) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kPutRef, nullptr, "putref " + std::string(name)));
    return inner_->PutRef(name, data);
  }
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kGetRef, nullptr, "getref " + std::string(name)));
    return inner_->GetRef(name);
  }
  Status DeleteRef(std::string_view name) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kDeleteRef, nullptr, "deleteref " + std::string(name)));
    return inner_->DeleteRef(name);
  }
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kListRefs, nullptr, "listrefs " + std::string(prefix)));
    return inner_->ListRefs(prefix);
  }

  Result<uint64_t> ReclaimDeleted() override { return inner_->ReclaimDeleted(); }
  PackedDiskStore* packed_store() override { return inner_->packed_store(); }
  Status Evict(const Pointer& key) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kDelete, &key, "evict " + key.Hex()));
    return After(Op::kDelete, &key, inner_->Evict(key));
  }
  // Pack objects: faults of the blob ops without a key apply (a put, get,
  // list or delete fault with no key).
  Status PutObject(std::string_view name, std::span<const uint8_t> bytes) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kPut, nullptr, "put object " + std::string(name)));
    return After(Op::kPut, nullptr, inner_->PutObject(name, bytes));
  }
  Result<std::vector<uint8_t>> GetObjectRange(std::string_view name, uint64_t offset, uint64_t length) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kGet, nullptr, "get object " + std::string(name)));
    return inner_->GetObjectRange(name, offset, length);
  }
  Status ListObjects(std::string_view prefix, const std::function<Status(std::string_view name)>& fn) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kList, nullptr, "list objects " + std::string(prefix)));
    return inner_->ListObjects(prefix, fn);
  }
  Status DeleteObject(std::string_view name) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kDelete, nullptr, "delete object " + std::string(name)));
    return After(Op::kDelete, nullptr, inner_->DeleteObject(name));
  }

  Status ListBlobInfo(const std::function<Status(const BlobInfo&)>& fn) override {
    AMBER_RETURN_IF_ERROR(Enter(Op::kList, nullptr, "list"));
    if (auto* inv = dynamic_cast<BlobInventory*>(inner_.get())) return inv->ListBlobInfo(fn);
    return inner_->List([&](const Pointer& key) {
      BlobInfo info;
      info.key = key;
      auto data = inner_->Get(key);
      if (data.ok()) info.disk_bytes = data->size();
      return fn(info);
    });
  }
  Result<uint64_t> BlobDiskSize(const Pointer& key) override {
    if (auto* inv = dynamic_cast<BlobInventory*>(inner_.get())) return inv->BlobDiskSize(key);
    AMBER_ASSIGN_OR_RETURN(auto data, inner_->Get(key));
    return static_cast<uint64_t>(data.size());
  }

 private:
  class FaultBatch : public PutBatch {
   public:
    FaultBatch(FaultStore* store, std::unique_ptr<PutBatch> inner) : store_(store), inner_(std::move(inner)) {}
    Status Put(const Pointer& key, std::span<const uint8_t> data) override {
      AMBER_RETURN_IF_ERROR(store_->Enter(Op::kPut, &key, "put " + key.Hex()));
      return inner_->Put(key, data);
    }
    Status Commit() override {
      AMBER_RETURN_IF_ERROR(store_->Enter(Op::kCommit, nullptr, "commit"));
      return inner_->Commit();
    }
    std::optional<std::vector<SealedPackBlobs>> SealedPacks() const override { return inner_->SealedPacks(); }

   private:
    FaultStore* const store_;
    const std::unique_ptr<PutBatch> inner_;
  };
  struct Fault {
    Op op;
    int err;
    std::optional<Pointer> key;
    int times;
  };
  struct Pause {
    Op op;
    std::optional<Pointer> key;
    bool after;
    std::string what;
  };

  Status Enter(Op op, const Pointer* key, std::string what) {
    std::chrono::milliseconds delay;
    Status fail;
    {
      std::lock_guard<std::mutex> lock(mu_);
      delay = delay_;
      if (down_) {
        fail = Status::Error(ECONNREFUSED, Describe() + " is down (injected): " + what);
      } else {
        for (auto it = faults_.begin(); it != faults_.end(); ++it) {
          if (it->op != op || (it->key && (key == nullptr || *it->key != *key))) continue;
          fail = Status::Error(it->err, "injected fault on " + what);
          if (it->times > 0 && --it->times == 0) faults_.erase(it);
          break;
        }
      }
      if (!fail.ok()) ++injected_;
    }
    if (delay.count() > 0) {
      std::this_thread::sleep_for(delay);
      std::lock_guard<std::mutex> lock(mu_);
      if (fail.ok() && down_) {  // it went down while this call was on its way
        fail = Status::Error(ECONNRESET, Describe() + " went down (injected): " + what);
        ++injected_;
      }
    }
    if (!fail.ok()) return fail;
    HoldIfPaused(op, key, /*after=*/false, what);
    if (recorder_) recorder_->Record(label_ + ":" + what);
    return Status::OK();
  }
  // Holds the call here if it is the one PauseNext chose.
  void HoldIfPaused(Op op, const Pointer* key, bool after, const std::string& what = "") {
    std::unique_lock<std::mutex> lock(mu_);
    if (!pause_ || pause_->op != op || pause_->after != after || (pause_->key && (key == nullptr || *pause_->key != *key)))
      return;
    if (!pause_->what.empty() && what.find(pause_->what) == std::string::npos) return;
    pause_.reset();
    paused_ = true;
    pause_cv_.notify_all();
    pause_cv_.wait(lock, [&] { return resumed_; });
  }
  template <typename T>
  T After(Op op, const Pointer* key, T result) {
    HoldIfPaused(op, key, /*after=*/true);
    return result;
  }
  bool ShouldCorrupt(const Pointer& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::find(corrupt_.begin(), corrupt_.end(), key) != corrupt_.end();
  }

  const std::unique_ptr<Store> inner_;
  const std::string label_;
  const std::shared_ptr<OpRecorder> recorder_;
  mutable std::mutex mu_;
  std::vector<Fault> faults_;
  std::vector<Pointer> corrupt_;
  std::chrono::milliseconds delay_{0};
  bool down_ = false;
  int injected_ = 0;
  std::optional<Pause> pause_;
  bool paused_ = false, resumed_ = false;
  std::condition_variable pause_cv_;
};

}  // namespace amberfs::testing
