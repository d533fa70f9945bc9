// What disk_store.cc shares with disk_store_batch.cc.
#pragma once

#include <span>
#include <string>

#include "amberfs/status.h"

namespace amberfs {

// Content-addressed: a whole file of the right size under a blob's name is
// that blob (a short one, e.g. torn on a filesystem without rename
// atomicity, is not).
bool HoldsBlobFile(const std::string& path, uint64_t size);

// Writes a new temp file with no sync of its own, for a sync of the whole
// store later; `direct` allows O_DIRECT (see disk_store_batch.cc).
Status WriteUnsyncedTemp(const std::string& temp, std::span<const uint8_t> data, bool direct);

}  // namespace amberfs
