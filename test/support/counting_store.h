// CountingStore: a Store wrapper that counts calls (for "writes exactly N
// blobs" assertions) and can fail the Nth Put (fault injection).
#pragma once

#include <atomic>

#include "store/store.h"

namespace amberfs::testing {

class CountingStore : public Store {
 public:
  explicit CountingStore(Store* inner) : inner_(inner) {}

  std::atomic<uint64_t> puts{0}, gets{0};
  // When > 0, the Put that brings `puts` to this number fails with ENOSPC.
  std::atomic<uint64_t> fail_put_at{0};

  std::string Describe() const override { return "counting(" + inner_->Describe() + ")"; }
  Status Put(const Pointer& key, std::span<const uint8_t> data) override {
    if (++puts == fail_put_at) return Status::Error(ENOSPC, "injected Put failure");
    return inner_->Put(key, data);
  }
  Result<std::vector<uint8_t>> Get(const Pointer& key) override {
    ++gets;
    return inner_->Get(key);
  }
  Result<bool> Contains(const Pointer& key) override { return inner_->Contains(key); }
  Status Delete(const Pointer& key) override { return inner_->Delete(key); }
  Status List(const std::function<Status(const Pointer&)>& fn) override { return inner_->List(fn); }
  Status PutRef(std::string_view name, std::span<const uint8_t> data) override { return inner_->PutRef(name, data); }
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override { return inner_->GetRef(name); }
  Status DeleteRef(std::string_view name) override { return inner_->DeleteRef(name); }
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override { return inner_->ListRefs(prefix); }

 private:
  Store* inner_;
};

}  // namespace amberfs::testing
