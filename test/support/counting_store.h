// CountingStore: a Store wrapper that counts calls, each kind apart (for
// "writes exactly N blobs" and "makes at most N requests" assertions), and
// can fail the Nth Put (fault injection). It wraps a store it does not own,
// or one it owns (for callers that hand the store on, such as a SnapVolume's
// open_slow).
//
// requests() counts calls. S3Requests() is what the calls so far would have
// cost on S3: one request per blob or ref call, and per List / ListRefs call
// one request per page of up to 1000 keys (at least one). ListRefs is counted
// by the names it returned, which undercounts a listing that walked other
// objects too (refs share the namespace with blobs on S3, so ListRefs("")
// walks the blobs).
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
  std::atomic<uint64_t> put_refs{0}, get_refs{0}, delete_refs{0}, list_refs{0};
  std::atomic<uint64_t> list_pages{0}, listed{0};  // List and ListRefs: pages and keys
  // When > 0, the Put that brings `puts` to this number fails with ENOSPC.
  std::atomic<uint64_t> fail_put_at{0};

  static constexpr uint64_t kPageKeys = 1000;

  // Every call so far, of any kind.
  uint64_t requests() const {
    return puts + gets + contains + deletes + lists + put_refs + get_refs + delete_refs + list_refs;
  }
  uint64_t S3Requests() const {
    return puts + gets + contains + deletes + put_refs + get_refs + delete_refs + list_pages;
  }
  void Reset() {
    for (auto* c : {&puts, &gets, &contains, &deletes, &lists, &put_refs, &get_refs, &delete_refs, &list_refs,
                    &list_pages, &listed}) {
      *c = 0;
    }
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
    uint64_t n = 0;
    Status st = inner_->List([&](const Pointer& key) {
      ++n;
      return fn(key);
    });
    CountListing(n);
    return st;
  }
  Result<uint64_t> ReclaimDeleted() override { return inner_->ReclaimDeleted(); }
  // Pack objects count as the blob calls they are on S3.
  Status PutObject(std::string_view name, std::span<const uint8_t> bytes) override {
    ++puts;
    return inner_->PutObject(name, bytes);
  }
  Result<std::vector<uint8_t>> GetObjectRange(std::string_view name, uint64_t offset, uint64_t length) override {
    ++gets;
    return inner_->GetObjectRange(name, offset, length);
  }
  Status ListObjects(std::string_view prefix, const std::function<Status(std::string_view name)>& fn) override {
    ++lists;
    uint64_t n = 0;
    Status st = inner_->ListObjects(prefix, [&](std::string_view name) {
      ++n;
      return fn(name);
    });
    CountListing(n);
    return st;
  }
  Status DeleteObject(std::string_view name) override {
    ++deletes;
    return inner_->DeleteObject(name);
  }
  Status PutRef(std::string_view name, std::span<const uint8_t> data) override {
    ++put_refs;
    return inner_->PutRef(name, data);
  }
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override {
    ++get_refs;
    return inner_->GetRef(name);
  }
  Status DeleteRef(std::string_view name) override {
    ++delete_refs;
    return inner_->DeleteRef(name);
  }
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override {
    ++list_refs;
    auto names = inner_->ListRefs(prefix);
    CountListing(names.ok() ? names->size() : 0);
    return names;
  }

 private:
  void CountListing(uint64_t keys) {
    listed += keys;
    list_pages += keys == 0 ? 1 : (keys + kPageKeys - 1) / kPageKeys;
  }

  std::unique_ptr<Store> owned_;
  Store* inner_;
};

}  // namespace amberfs::testing
