// Automatic snapshots and their retention policy (the `snapshot_interval=` and
// `keep=` mount options).
//
// An automatic snapshot is named by its UTC time with a prefix that sets it
// apart from every snapshot a user names: "auto-YYYYMMDDTHHMMSSZ"
// (AutoSnapshotName). Only names of exactly that form are automatic
// (IsAutoSnapshotName); the ctl `snapshot` command refuses them, so
// retention never touches a snapshot a user took.
//
// The policy follows restic's `forget` (and sanoid's): go through the
// automatic snapshots newest first; `last:N` keeps the N newest; `hourly:N`
// keeps the newest snapshot of each of the N most recent hours that have a
// snapshot, and likewise `daily` (calendar day), `weekly` (ISO 8601 week,
// Monday first), `monthly` and `yearly`, all in UTC. A snapshot kept by any
// rule stays; the others are forgotten. An empty policy keeps everything.
//
// ParseRetentionPolicy reads "last:3,hourly:24,daily:7"; each rule at most
// once, counts 1..1000000. AddRetentionRule adds one "rule:N" (the mount
// option parser gets `keep=last:3,hourly:24` as "keep=last:3" and
// "hourly:24", since -o splits at commas). Errors are EINVAL with a message
// naming the text.
//
// Thread-safety: pure functions on values.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/status.h"

namespace amberfs {

struct RetentionPolicy {
  uint32_t last = 0;
  uint32_t hourly = 0;
  uint32_t daily = 0;
  uint32_t weekly = 0;
  uint32_t monthly = 0;
  uint32_t yearly = 0;

  bool empty() const { return last + hourly + daily + weekly + monthly + yearly == 0; }
};

inline constexpr uint32_t kMaxRetentionCount = 1000000;

Result<RetentionPolicy> ParseRetentionPolicy(std::string_view text);
Status AddRetentionRule(std::string_view rule, RetentionPolicy* policy);
// "last:3,hourly:24" (rules with a count of 0 left out; "" when empty).
std::string FormatRetentionPolicy(const RetentionPolicy& policy);
// Whether `text` looks like one rule ("hourly:24"), valid or not.
bool LooksLikeRetentionRule(std::string_view text);

// The `snapshot_interval=` value: a whole number with a unit s, m, h or d
// ("30s", "15m", "1h", "1d"), from 1s to 366d. EINVAL otherwise.
Result<std::chrono::seconds> ParseSnapshotInterval(std::string_view text);
// "1h" for 3600 s: the largest unit that divides it exactly.
std::string FormatSnapshotInterval(std::chrono::seconds interval);

std::string AutoSnapshotName(uint64_t unix_ns);
bool IsAutoSnapshotName(std::string_view name);

struct TimedSnapshot {
  std::string name;
  uint64_t created_ns = 0;  // UTC nanoseconds since 1970-01-01
};

// The snapshots the policy does not keep, newest first. Ties in time are
// ordered by name, so the result does not depend on the input's order.
std::vector<std::string> SnapshotsToForget(std::vector<TimedSnapshot> snapshots, const RetentionPolicy& policy);

}  // namespace amberfs
