// Mount options: the `-o` options amberfs itself understands.
//
// ApplyMountOption() takes one option ("cache_size=1G", "direct", "ro") and
// says whose it is: amberfs's, FUSE's (everything it does not know: allow_other,
// default_permissions, max_read=, fsname=, ... go to libfuse, which rejects
// what it does not know either), or both (ro: the image is opened read-only
// and the kernel mount is read-only). A known key with a bad value is EINVAL
// with a message naming the option. Finish() checks the combination (dirty_max
// not above cache_size).
//
//   cache_size=SIZE   cache budget (default 256M)
//   dirty_max=SIZE    dirty cap (default half of cache_size)
//   io=uring|plain    batch I/O backend (default uring, falling back to plain)
//   direct            O_DIRECT on the image
//   sync_delay=DUR    group-commit gathering delay: 200us, 2ms, 0 (default 0)
//   ro                read-only
//   page_cache        let the kernel cache volume's pages (allows mmap)
//   loglevel=LEVEL    error, warn, info (default) or debug
//
// Thread-safety: pure functions on the caller's MountOptions.
#pragma once

#include <string_view>

#include "amberfs/log.h"
#include "amberfs/status.h"
#include "amberfs/volume.h"

namespace amberfs {

struct MountOptions {
  VolumeOptions volume;
  bool page_cache = false;  // the kernel page cache in front of volume (FuseServeOptions)
  LogLevel log_level = LogLevel::kInfo;
};

enum class OptionOwner { kAmberfs, kFuse, kBoth };

Result<OptionOwner> ApplyMountOption(std::string_view option, MountOptions* options);
Status FinishMountOptions(const MountOptions& options);

}  // namespace amberfs
