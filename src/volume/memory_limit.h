// Memory limit: how much memory this process can have, and the rule that
// keeps the cache inside it.
//
// ReadMemoryLimit() is the smaller of the machine's memory (MemTotal in
// /proc/meminfo) and the limit of the memory cgroup the process runs in
// (cgroup v2: memory.max of its cgroup and every ancestor; v1:
// memory.limit_in_bytes), whichever is lower; `source` names it for messages.
// A cgroup without a limit ("max", or v1's huge sentinel) does not count.
//
// CheckCacheFits: the cache budget may take at most half of that limit
// (kCacheShareOfMemory); the other half is left to the daemon's other buffers
// (snapshots, the write-back staging, the kernel's FUSE buffers), the page
// cache and the rest of the machine. Anything larger is EINVAL naming the
// limit, so a mount is refused up front instead of driving the host into the
// OOM killer once the cache fills.
//
// Thread-safety: functions without shared state.
#pragma once

#include <cstdint>
#include <string>

#include "amberfs/status.h"

namespace amberfs {

struct MemoryLimit {
  uint64_t bytes = 0;
  std::string source;  // "MemTotal" or "cgroup <path>/memory.max", ...
};

inline constexpr uint64_t kCacheShareOfMemory = 2;  // the cache may take 1/2

Result<MemoryLimit> ReadMemoryLimit();

// `option` names the option in the message ("cache_size").
Status CheckCacheFits(const char* option, uint64_t cache_bytes, const MemoryLimit& limit);

}  // namespace amberfs
