#include "cache/conductor_metrics.h"

namespace amberfs {

void WriteConductorMetrics(const ConductorStats& s, MetricsWriter* out) {
  out->Counter("amberfs_cache_hits_total", "Blocks served from the cache.", s.read_hits);
  out->Counter("amberfs_cache_misses_total", "Blocks read from the image.", s.read_misses);
  out->Gauge("amberfs_cache_bytes", "Bytes of block data held in the cache.", s.cached_bytes);
  out->Gauge("amberfs_cache_budget_bytes", "The cache's byte budget (cache_size).", s.cache_budget_bytes);
  out->Gauge("amberfs_dirty_bytes", "Bytes written but not yet written back to the image.", s.dirty_bytes);
  out->Gauge("amberfs_dirty_max_bytes", "The dirty cap (dirty_max).", s.dirty_max_bytes);
  out->Counter("amberfs_writeback_bytes_total", "Bytes written back to the image.", s.writeback_bytes);
  out->Counter("amberfs_writeback_requests_total", "Coalesced write requests to the image.",
               s.writeback_requests);
  out->Counter("amberfs_writeback_direct_requests_total",
               "Of those, requests of scattered blocks written with O_DIRECT.", s.writeback_direct_requests);
  out->Counter("amberfs_fsyncs_total", "fdatasync calls on the image.", s.fsyncs);
  out->Counter("amberfs_flushes_total", "Flush calls (fsync of the volume, ctl flush).", s.flushes);
  out->Counter("amberfs_discards_total", "Discards (hole punches) of volume ranges.", s.discards);
  out->Counter("amberfs_throttled_writes_total", "Writes that waited for the dirty cap.", s.throttled_writes);
  out->Counter("amberfs_evictions_total", "Blocks evicted from the cache.", s.evictions);
  out->Family("amberfs_errors_total", "counter", "I/O errors on the image, by kind.");
  out->Sample("amberfs_errors_total", {{"kind", "writeback"}}, s.write_errors);
  out->Sample("amberfs_errors_total", {{"kind", "fsync"}}, s.fsync_errors);
  out->Family("amberfs_io_backend_info", "gauge",
              "The I/O backend in use (value 1); fallback_reason says why io_uring is not.");
  out->Sample("amberfs_io_backend_info",
              {{"backend", s.backend}, {"fallback_reason", s.backend_fallback_reason}}, 1);
}

}  // namespace amberfs
