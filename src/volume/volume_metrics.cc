// The Snapshotter's metric families and the build info in `stats` (the
// names and units are listed in docs/FORMATS.md).
#include "volume/volume_metrics.h"

#include "amberfs/version.h"

namespace amberfs {
namespace {

// Whole seconds and the fraction apart, so a unix time in ns keeps its
// fraction exactly where a double can hold it (one division would not).
double Seconds(uint64_t ns) {
  return static_cast<double>(ns / 1'000'000'000) + static_cast<double>(ns % 1'000'000'000) / 1e9;
}

// One family per figure, one sample per operation: a scrape during a long
// run shows how far it is (done of goal), after it what the last run did.
void WriteProgressMetrics(const SnapshotterStats& s, MetricsWriter* out) {
  const std::pair<const char*, const OperationProgress::Figures*> ops[] = {
      {"snapshot", &s.snapshot_progress}, {"rollback", &s.rollback_progress},
      {"gc", &s.gc_progress}, {"drain", &s.drain_progress}};
  out->Family("amberfs_operation_running", "gauge", "1 while the operation runs.");
  for (const auto& [op, f] : ops) out->Sample("amberfs_operation_running", {{"operation", op}}, f->running ? 1 : 0);
  out->Family("amberfs_operation_done", "gauge",
              "Work done by the running or last run: chunks (snapshot, rollback), blobs deleted (gc), "
              "uploads (drain).");
  for (const auto& [op, f] : ops) out->Sample("amberfs_operation_done", {{"operation", op}}, f->done);
  out->Family("amberfs_operation_goal", "gauge",
              "Work the running or last run has in all, in the units of amberfs_operation_done "
              "(0 while not known yet).");
  for (const auto& [op, f] : ops) out->Sample("amberfs_operation_goal", {{"operation", op}}, f->goal);
}

}  // namespace

void WriteBuildInfo(MetricsWriter* out) {
  out->Family("amberfs_build_info", "gauge", "The amberfs build (value 1).");
  out->Sample("amberfs_build_info", {{"version", kVersion}, {"commit", BuildCommit()}}, 1);
}

void WriteSnapshotMetrics(const SnapshotterStats& s, MetricsWriter* out) {
  out->Counter("amberfs_snapshots_total", "Snapshots committed since the mount.", s.snapshots);
  out->Counter("amberfs_snapshot_failures_total", "Snapshots that failed (nothing committed).", s.snapshot_failures);
  out->Counter("amberfs_snapshot_chunks_total", "Chunks captured by snapshots.", s.chunks_captured);
  out->Counter("amberfs_snapshot_cow_chunks_total", "Chunks copied whole by writers before overwriting them.", s.cow_chunks);
  out->Counter("amberfs_snapshot_cow_blocks_total",
               "4 KiB blocks writers saved before overwriting them, of chunks the capture read later.", s.cow_blocks);
  out->Counter("amberfs_snapshot_new_blobs_total", "Blobs stored by snapshots.", s.new_blobs);
  out->Counter("amberfs_snapshot_stored_bytes_total",
               "Bytes of blobs stored by snapshots, as stored (after compression and encryption).", s.bytes_stored);
  out->Counter("amberfs_snapshot_logical_bytes_total", "The plaintext bytes of the same blobs.", s.bytes_logical);
  out->GaugeReal("amberfs_snapshot_last_duration_seconds", "Duration of the last snapshot.",
                 Seconds(s.last_duration_ns));
  out->GaugeReal("amberfs_snapshot_last_barrier_seconds",
                 "How long writers were held at the last snapshot's capture instant.",
                 Seconds(s.last_barrier_ns));
  out->GaugeReal("amberfs_snapshot_last_success_timestamp_seconds",
                 "Unix time of the newest snapshot's instant; 0 when the volume has none.",
                 Seconds(s.last_success_ns));
  out->Counter("amberfs_rollbacks_total", "Rollbacks done.", s.rollbacks);
  out->Counter("amberfs_snapshot_deletes_total", "Snapshots deleted.", s.deletes);
  out->Counter("amberfs_gc_runs_total", "Garbage collections run.", s.gcs);
  out->Counter("amberfs_gc_deleted_blobs_total", "Blobs deleted by gc.", s.gc_deleted);
  out->Counter("amberfs_snapshot_ref_errors_total", "Snapshot refs that could not be queued.", s.ref_errors);
  out->Gauge("amberfs_rollback_unfinished", "1 while a rollback runs or after one failed (writes are refused).",
             s.unfinished_rollback.empty() ? 0 : 1);
  out->Gauge("amberfs_upload_pending", "Blobs and refs waiting for the slow store (upload queue depth).",
             s.store.pending);
  out->Counter("amberfs_uploaded_total", "Uploads to the slow store.", s.store.uploaded);
  out->Counter("amberfs_uploaded_bytes_total", "Bytes uploaded to the slow store.", s.store.uploaded_bytes);
  out->Counter("amberfs_upload_errors_total", "Failed uploads (retried).", s.store.upload_errors);
  out->Counter("amberfs_upload_lost_total", "Uploads abandoned because the fast copy was gone.", s.store.lost);
  out->Gauge("amberfs_fast_store_bytes", "Disk bytes of the fast store.", s.store.fast_bytes);
  out->Gauge("amberfs_slow_store_up", "1 unless uploads to the slow store keep failing (an outage).",
             s.store.slow_store_up ? 1 : 0);
  out->Gauge("amberfs_slow_store_down_since_seconds", "Unix time the current outage began; 0 while up.",
             static_cast<uint64_t>(s.store.slow_store_down_since));
  out->Counter("amberfs_slow_store_outages_total", "Outages of the slow store seen since the mount.",
               s.store.slow_store_outages);
  out->Gauge("amberfs_snapshot_refs_verified",
             "1 once every snapshot's ref is known to be in the slow store or queued for it.",
             s.refs_verified ? 1 : 0);
  out->Counter("amberfs_snapshot_refs_requeued_total", "Snapshot refs found missing from the slow store and queued.",
               s.refs_requeued);
  WriteProgressMetrics(s, out);
}

void WriteAutoSnapshotMetrics(const AutoSnapshotStats& s, MetricsWriter* out) {
  out->Gauge("amberfs_auto_snapshot_interval_seconds", "The snapshot_interval= of this mount.",
             static_cast<uint64_t>(s.interval.count()));
  out->Family("amberfs_auto_snapshots_total", "counter", "Automatic snapshots tried, by result (failures are retried).");
  out->Sample("amberfs_auto_snapshots_total", {{"result", "ok"}}, s.snapshots_ok);
  out->Sample("amberfs_auto_snapshots_total", {{"result", "failed"}}, s.snapshots_failed);
  out->Counter("amberfs_auto_snapshot_forgotten_total", "Automatic snapshots deleted by the keep= policy.",
               s.forgotten);
  out->Counter("amberfs_auto_snapshot_forget_failures_total",
               "Retention deletes (or their listing) that failed; retried at the next interval.", s.forget_failures);
  out->Counter("amberfs_auto_gc_runs_total", "gc runs after retention deletes.", s.gcs);
  out->Counter("amberfs_auto_gc_failures_total", "gc runs after retention deletes that failed (retried).",
               s.gc_failures);
}

void WriteCloneMetrics(const HydratorStats& s, MetricsWriter* out) {
  out->Gauge("amberfs_clone_remote_chunks", "Chunks of this clone still only in the slow store (0: fully hydrated).",
             s.remote_chunks);
  out->Counter("amberfs_clone_fetched_chunks_total", "Remote chunks fetched into the image by this mount.",
               s.fetched_chunks);
  out->Counter("amberfs_clone_fetched_bytes_total", "Bytes of remote chunks fetched by this mount.", s.fetched_bytes);
  out->Counter("amberfs_clone_fetch_errors_total", "Fetches of remote chunks that failed (the access got EIO).",
               s.fetch_errors);
  out->Gauge("amberfs_clone_hydrating", "1 while `hydrate` runs.", s.hydrating ? 1 : 0);
}

}  // namespace amberfs
