// The settings and the counters of a PairedStore (paired_store.h), apart so
// that its parts (upload_queue.h, fast_budget.h) can take them too.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "store/upload_log.h"

namespace amberfs {

struct PairedOptions {
  int upload_workers = 16;
  uint64_t upload_rate = 0;  // bytes per second to the slow store, all workers together; 0: no limit
  uint64_t fast_budget_bytes = 0;  // 0: no budget
  uint64_t max_pending = 1 << 18;  // pending blob uploads before Put says EAGAIN
  std::chrono::milliseconds retry_initial{100};
  std::chrono::milliseconds retry_max{30000};
  // While the slow store is down, one upload at a time probes it, the waits
  // doubling from retry_initial up to min(retry_max, probe_max): the longest
  // a recovered store waits before uploads go on (slow_store_health.h).
  std::chrono::milliseconds probe_max{2000};
  // The volume's uuid, to hold locks/upload/<uuid> in the slow store while
  // uploads are pending (slow_store_locks.h), so that the gc of another
  // volume sharing the slow store never sweeps a blob uploaded for a snapshot
  // whose ref is not there yet. Empty: no marker (a slow store of our own).
  std::string lock_owner;
  // How long the marker stays after the last upload (fewer rewrites for a
  // steady trickle of puts).
  std::chrono::milliseconds lock_linger{2000};
  // Single Puts carry their bytes in the upload log (see paired_store.h):
  // one sync per Put instead of three. Off: the fast store's own durable Put.
  bool carry_data_in_log = true;
  UploadLogOptions log;
};

struct PairedStats {
  uint64_t pending = 0;  // blob, pack and ref uploads not yet confirmed
  uint64_t uploaded = 0;
  uint64_t uploaded_bytes = 0;  // of blobs and refs sent to the slow store
  uint64_t upload_errors = 0;
  uint64_t lost = 0;  // uploads abandoned because the fast copy was gone
  std::string last_error;
  uint64_t fast_bytes = 0;
  uint64_t evictions = 0;
  // The slow store as the uploads see it (slow_store_health.h): down once
  // two tries in a row failed, up again at the first success.
  bool slow_store_up = true;
  int64_t slow_store_down_since = 0;  // unix seconds; 0 while up
  uint64_t slow_store_outages = 0;
};

}  // namespace amberfs
