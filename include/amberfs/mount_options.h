// Mount options: the `-o` options amberfs itself understands.
//
// ApplyMountOption() takes one option ("cache_size=1G", "direct", "ro") and
// says whose it is: amberfs's, FUSE's (everything it does not know: allow_other,
// default_permissions, max_read=, fsname=, ... go to libfuse, which rejects
// what it does not know either), or both (ro: the image is opened read-only
// and the kernel mount is read-only). A known key with a bad value is EINVAL
// with a message naming the option. FinishMountOptions() checks the
// combination (dirty_max not above cache_size; keep= and snapshot_interval=
// only together and not with ro) and the memory: cache_size may
// take at most half of the memory this process can have (the machine's
// MemTotal, or its memory cgroup's limit if lower; CheckVolumeMemory, which
// Volume::Open applies too). CheckMountOptionsForVolume() checks what needs
// the volume's config: the cache must hold at least kMinCacheBlocks blocks.
// Every error is EINVAL with a message fit for the user (the tool exits 2).
//
//   cache_size=SIZE   cache budget (default 256M)
//   dirty_max=SIZE    dirty cap (default half of cache_size)
//   io=uring|plain    batch I/O backend (default uring, falling back to plain)
//   direct            O_DIRECT on the image
//   sync_delay=DUR    group-commit gathering delay: 200us, 2ms, 0 (default 0)
//   ro                read-only
//   page_cache        let the kernel cache volume's pages (allows mmap)
//   loglevel=LEVEL    error, warn, info (default) or debug
//   s3_credentials=FILE  AWS credentials file for an s3:// slow store
//   key_file=FILE     the passphrase of an encrypted volume
//   upload_rate=SIZE  bytes per second to the slow store (10M; 0 = no limit)
//   pack_size=SIZE    new packs are sealed at SIZE (1M..64M, default 16M)
//   snapshot_interval=DUR  automatic snapshots every DUR (30s, 15m, 1h, 1d)
//   keep=RULE:N[,RULE:N...]  their retention (last, hourly, daily, weekly,
//                     monthly, yearly); since -o splits at commas, a bare
//                     "RULE:N" after keep= continues it
//
// Thread-safety: pure functions on the caller's MountOptions.
#pragma once

#include <string_view>

#include "amberfs/log.h"
#include "amberfs/status.h"
#include "amberfs/volume.h"
#include "amberfs/volume_config.h"

namespace amberfs {

struct MountOptions {
  VolumeOptions volume;
  bool page_cache = false;  // the kernel page cache in front of volume (FuseServeOptions)
  LogLevel log_level = LogLevel::kInfo;
  bool keep_given = false;  // a keep= was seen: later bare "RULE:N" options continue it
};

enum class OptionOwner { kAmberfs, kFuse, kBoth };

inline constexpr uint64_t kMinCacheBlocks = 16;

Result<OptionOwner> ApplyMountOption(std::string_view option, MountOptions* options);
Status FinishMountOptions(const MountOptions& options);
Status CheckVolumeMemory(const VolumeOptions& options);
Status CheckMountOptionsForVolume(const MountOptions& options, const VolumeConfig& config);

}  // namespace amberfs
