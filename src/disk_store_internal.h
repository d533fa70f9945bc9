// What disk_store.cc shares with disk_store_batch.cc.
#pragma once

#include <string>

namespace amberfs {

// A temp-file name (".tmp.<pid>.<counter>.<salt>") no other writer (thread,
// process, host on NFS) will pick; Open and List treat such names as temp.
std::string DiskStoreTempName();

}  // namespace amberfs
