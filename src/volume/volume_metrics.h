// The metric families of a volume's parts above the Conductor (which has
// cache/conductor_metrics.h): the Snapshotter with its store, progress gauges
// of long operations, and the build info. See docs/FORMATS.md for the list.
#pragma once

#include "base/stats.h"
#include "snapshot/hydrator.h"
#include "snapshot/snapshotter.h"
#include "volume/auto_snapshots.h"

namespace amberfs {

// amberfs_build_info{version,commit} 1.
void WriteBuildInfo(MetricsWriter* out);
void WriteSnapshotMetrics(const SnapshotterStats& s, MetricsWriter* out);
// Only on a mount with snapshot_interval=.
void WriteAutoSnapshotMetrics(const AutoSnapshotStats& s, MetricsWriter* out);
// Only on a clone (mkfs.amberfs --clone) opened with remote chunks.
void WriteCloneMetrics(const HydratorStats& s, MetricsWriter* out);

}  // namespace amberfs
