// SlowStoreHealth: whether the slow store of a PairedStore answers, as its
// upload workers see it, and what they may try while it does not. One of the
// UploadQueue's parts (upload_queue.h).
//
// Up, every worker uploads. The first failed try marks the store down (its
// time is the outage's start) and closes the gate: from then on one try at a
// time (a probe) may start, each once the gate opens, the gate's wait
// doubling from `initial` up to `max` with each failed probe. Tries that were
// already in flight when the store went down fail without moving the gate.
// The first try that succeeds, probe or not, ends the outage: the gate opens
// and every upload may be tried at once (the caller resets the jobs' own
// backoff), so the backlog drains at full speed as soon as the store is back.
//
// Logs (so that an outage of an hour is a handful of lines, not one per try):
//   - the second failed try in a row (a job-specific failure followed by a
//     success says nothing): LOG_WARN "slow store S unreachable since T
//     (error); N uploads waiting, next try in X s";
//   - reminders while it lasts, 60 s after that and then at doubling
//     intervals up to an hour: "still unreachable";
//   - the end of an announced outage: LOG_INFO "reachable again after D s,
//     N uploads waiting".
// Report fills in the gauges (slow_store_up, down since, outages).
//
// Thread-safety: none of its own; the owner calls it under its lock (the
// calls only log, never block on I/O beyond the log's write).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "amberfs/status.h"
#include "store/paired_options.h"

namespace amberfs {

// The wait before try number `failures` + 1: initial doubled per failure
// after the first, at most max.
std::chrono::milliseconds RetryBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, int failures);

class SlowStoreHealth {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Try { kNo, kNormal, kProbe };

  SlowStoreHealth(std::string store_name, std::chrono::milliseconds initial, std::chrono::milliseconds max)
      : name_(std::move(store_name)), initial_(initial), max_(max) {}

  // Whether a try may start now: kNormal while up, kProbe for the one try of
  // an outage once the gate is open, kNo otherwise (with *wake lowered to
  // the gate's opening, or left as it is while a probe is out: its end
  // wakes the caller). The caller reports every kProbe try's outcome.
  Try MayStart(Clock::time_point now, Clock::time_point* wake);
  // A try ended. `probe`: MayStart said kProbe for it. Failed returns whether
  // this failure started the outage (the caller's one warning for it).
  // Succeeded returns whether it ended one: only a probe's success does (a
  // try in flight from before the outage may still succeed).
  bool Failed(const Status& error, bool probe, size_t waiting, Clock::time_point now);
  bool Succeeded(bool probe, size_t waiting, Clock::time_point now);
  // A probe that was cancelled before it reached the store.
  void ProbeAbandoned() { probe_out_ = false; }

  bool down() const { return down_; }
  void Report(PairedStats* stats) const;

 private:
  std::string Since() const;

  const std::string name_;
  const std::chrono::milliseconds initial_, max_;
  bool down_ = false;
  bool announced_ = false;  // the outage was logged
  bool probe_out_ = false;  // a probe is in flight
  int failures_ = 0;        // failed tries of this outage that moved the gate
  Clock::time_point since_{}, gate_{}, next_reminder_{};
  std::chrono::seconds reminder_every_{60};
  int64_t since_unix_ = 0;
  uint64_t outages_ = 0;
};

}  // namespace amberfs
