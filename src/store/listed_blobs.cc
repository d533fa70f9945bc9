// ListedBlobs: see listed_blobs.h.
#include "store/listed_blobs.h"

#include <algorithm>

namespace amberfs {

Result<ListedBlobs> ListedBlobs::Load(Store& store) {
  ListedBlobs listed;
  AMBER_RETURN_IF_ERROR(store.List([&](const Pointer& key) {
    listed.sorted_.push_back(key);
    return Status::OK();
  }));
  std::sort(listed.sorted_.begin(), listed.sorted_.end());
  // A store lists each blob once; a second copy of a key would cost only memory.
  listed.sorted_.erase(std::unique(listed.sorted_.begin(), listed.sorted_.end()), listed.sorted_.end());
  listed.sorted_.shrink_to_fit();
  return listed;
}

bool ListedBlobs::Has(const Pointer& key) const { return std::binary_search(sorted_.begin(), sorted_.end(), key); }

}  // namespace amberfs
