// The default PutBatch: each Put is the store's own Put, durable at once, so
// Commit has nothing left to do. Stores with a cheaper group sync override
// Store::NewPutBatch.
#include "store/store.h"

namespace amberfs {
namespace {

class ImmediatePutBatch : public PutBatch {
 public:
  explicit ImmediatePutBatch(Store* store) : store_(store) {}
  Status Put(const Pointer& key, std::span<const uint8_t> data) override { return store_->Put(key, data); }
  Status Commit() override { return Status::OK(); }

 private:
  Store* const store_;
};

// A batch that cannot work (a read-only store, an unopenable directory).
class FailedPutBatch : public PutBatch {
 public:
  explicit FailedPutBatch(Status why) : why_(std::move(why)) {}
  Status Put(const Pointer&, std::span<const uint8_t>) override { return why_; }
  Status Commit() override { return why_; }

 private:
  const Status why_;
};

}  // namespace

std::unique_ptr<PutBatch> NewFailedPutBatch(Status why) { return std::make_unique<FailedPutBatch>(std::move(why)); }

std::unique_ptr<PutBatch> Store::NewPutBatch() { return std::make_unique<ImmediatePutBatch>(this); }

}  // namespace amberfs
