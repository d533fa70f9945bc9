// PairedRig: a PairedStore over two DiskStores in a scratch directory, each
// behind a FaultStore, for the Paired store's unit tests; Blob(i, size): a
// blob's bytes, distinct for each i; FastRetry(): options with short retries.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "store/disk_store.h"
#include "store/paired_store.h"
#include "support/fault_store.h"
#include "support/temp_dir.h"

namespace amberfs::testing {

using namespace std::chrono_literals;

inline std::vector<uint8_t> Blob(int i, size_t size = 1000) {
  std::vector<uint8_t> data(size);
  for (size_t j = 0; j < size; ++j) data[j] = static_cast<uint8_t>(i * 131 + j * 7 + (j >> 8));
  std::string tag = std::to_string(i);
  std::copy(tag.begin(), tag.end(), data.begin());
  return data;
}

inline PairedOptions FastRetry() {
  PairedOptions o;
  o.upload_workers = 4;
  o.retry_initial = 5ms;
  o.retry_max = 20ms;
  return o;
}

// A paired store over two DiskStores in a scratch directory, each behind a
// FaultStore; with bare_fast, the fast DiskStore is used as it is (so single
// Puts carry their data in the upload log).
struct PairedRig {
  TempDir dir{"blobs-paired"};
  std::shared_ptr<OpRecorder> ops = std::make_shared<OpRecorder>();
  bool bare_fast = false;
  FaultStore* fast = nullptr;  // null with bare_fast
  FaultStore* slow = nullptr;
  std::unique_ptr<PairedStore> store;

  std::string log() const { return dir / "upload.log"; }
  std::unique_ptr<DiskStore> OpenDisk(const std::string& name) {
    auto s = DiskStore::Open(dir / name);
    REQUIRE(s.ok());
    return std::move(s).value();
  }
  void Open(PairedOptions options = FastRetry(), bool read_only = false, bool slow_down = false) {
    store.reset();
    std::unique_ptr<Store> f = OpenDisk("fast");
    if (!bare_fast) f = std::make_unique<FaultStore>(std::move(f), "fast", ops);
    auto s = std::make_unique<FaultStore>(OpenDisk("slow"), "slow", ops);
    fast = bare_fast ? nullptr : static_cast<FaultStore*>(f.get());
    slow = s.get();
    slow->SetDown(slow_down);
    auto opened = PairedStore::Open(std::move(f), std::move(s), read_only ? "" : log(), options);
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    store = std::move(opened).value();
  }
  // Puts Blob(0..count-1, size); returns their keys.
  std::vector<Pointer> PutBlobs(int count, size_t size = 1000) {
    std::vector<Pointer> keys;
    for (int i = 0; i < count; ++i) {
      auto data = Blob(i, size);
      keys.push_back(Pointer::Of(data));
      REQUIRE(store->Put(keys.back(), data).ok());
    }
    return keys;
  }
  // Puts Blob(i) and waits until it is in the slow store.
  Pointer PutUploaded(int i) {
    auto data = Blob(i);
    Pointer key = Pointer::Of(data);
    REQUIRE(store->Put(key, data).ok());
    REQUIRE(store->Drain(10s).ok());
    return key;
  }
  bool InSlow(const Pointer& key) { return slow->inner().Contains(key).value(); }
  bool InFast(const Pointer& key) { return OpenDisk("fast")->Contains(key).value(); }
};


}  // namespace amberfs::testing
