// ListedBlobs: which blobs a store holds, taken from one listing, for a caller
// that asks about many blobs (fsck --slow): one List (on S3 one request per
// 1000 keys) instead of one Contains (one request each) per blob.
//
// The set is what the store held while it was listed: a blob put or deleted
// during or after the listing may or may not be in it, so a caller lists only
// once what it asks about can no longer change (fsck: after it has read the
// upload log, whose pending uploads it does not ask about). Memory: 32 bytes
// per blob in the store.
//
// Thread-safety: Has may be called from many threads once Load returned.
#pragma once

#include <vector>

#include "amberfs/status.h"
#include "store/pointer.h"
#include "store/store.h"

namespace amberfs {

class ListedBlobs {
 public:
  // Lists every blob of store (Store::List); its error if the listing fails.
  static Result<ListedBlobs> Load(Store& store);

  bool Has(const Pointer& key) const;
  size_t size() const { return sorted_.size(); }

 private:
  std::vector<Pointer> sorted_;
};

}  // namespace amberfs
