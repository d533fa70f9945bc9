// CountingStore: a Store wrapper that counts calls, each kind apart (for
// "writes exactly N blobs" and "makes at most N requests" assertions), and
// can fail the Nth Put (fault injection). It wraps a store it does not own,
// or one it owns (for callers that hand the store on, such as a SnapVolume's
// open_slow).
#pragma once

#include <atomic>
#include <memory>

#include "store/store.h"

namespace amberfs::testing {

class CountingStore : public Store {
 public:
  explicit CountingStore(Store* inner) : inner_(inner) {}
  explicit CountingStore(std::unique_ptr<Store> owned) : owned_(std::move(owned)), inner_(owned_.get()) {}

  std::atomic<uint64_t> puts{0}, gets{0}, contains{0}, deletes{0}, lists{0};
  std::atomic<uint64_t> putrefs{0}, getrefs{0}, deleterefs{0}, listrefs{0};
  // When > 0, the Put that brings `puts` to this number fails with ENOSPC.
  std::atomic<uint64_t> fail_put_at{0};

  // Every call so far, of any kind.
  uint64_t requests() const {
    return puts + gets + contains + deletes + lists + putrefs + getrefs + deleterefs + listrefs;
  }
  void Reset() {
    for (auto* c : {&puts, &gets, &contains, &deletes, &lists, &putrefs, &getrefs, &deleterefs, &listrefs}) *c = 0;
  }

  std::string Describe() const override { return "counting(" + inner_->Describe() + ")"; }
  Status Put(const Pointer& key, std::span<const uint8_t> data) override {
    if (++puts == fail_put_at) return Status::Error(ENOSPC, "injected Put failure");
    return inner_->Put(key, data);
  }
  Result<std::vector<uint8_t>> Get(const Pointer& key) override {
    ++gets;
    return inner_->Get(key);
  }
  Result<bool> Contains(const Pointer& key) override {
    ++contains;
    return inner_->Contains(key);
  }
  Status Delete(const Pointer& key) override {
    ++deletes;
    return inner_->Delete(key);
  }
  Status List(const std::function<Status(const Pointer&)>& fn) override {
    ++lists;
    return inner_->List(fn);
  }
  Status PutRef(std::string_view name, std::span<const uint8_t> data) override {
    ++putrefs;
    return inner_->PutRef(name, data);
  }
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override {
    ++getrefs;
    return inner_->GetRef(name);
  }
  Status DeleteRef(std::string_view name) override {
    ++deleterefs;
    return inner_->DeleteRef(name);
  }
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override {
    ++listrefs;
    return inner_->ListRefs(prefix);
  }

 private:
  std::unique_ptr<Store> owned_;
  Store* inner_;
};

}  // namespace amberfs::testing
