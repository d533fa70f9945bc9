// WriteConductorMetrics: the Conductor's counters and gauges (ConductorStats)
// as metric families of the mount's `stats` file: cache hits and misses,
// cached and dirty bytes against their budgets, write-back bytes and
// requests, fdatasyncs, flushes, discards, throttled writes, evictions,
// errors by kind, and the I/O backend in use.
//
// Thread-safety: stats is a copy (Conductor::Stats()); out belongs to the
// calling thread, as every MetricsWriter does.
#pragma once

#include "base/stats.h"
#include "cache/conductor.h"

namespace amberfs {

void WriteConductorMetrics(const ConductorStats& stats, MetricsWriter* out);

}  // namespace amberfs
