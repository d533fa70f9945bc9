// What disk_store.cc shares with disk_store_batch.cc.
#pragma once

#include <span>
#include <string>

#include "amberfs/status.h"

namespace amberfs {

// A temp-file name (".tmp.<pid>.<counter>.<salt>") no other writer (thread,
// process, host on NFS) will pick; Open and List treat such names as temp.
std::string DiskStoreTempName();

// Writes a new temp file with no sync of its own, for a sync of the whole
// store later; `direct` allows O_DIRECT (see disk_store_batch.cc).
Status WriteUnsyncedTemp(const std::string& temp, std::span<const uint8_t> data, bool direct);

}  // namespace amberfs
