#include "amberfs/retention.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

using amberfs::AutoSnapshotName;
using amberfs::FormatRetentionPolicy;
using amberfs::FormatSnapshotInterval;
using amberfs::IsAutoSnapshotName;
using amberfs::ParseRetentionPolicy;
using amberfs::ParseSnapshotInterval;
using amberfs::RetentionPolicy;
using amberfs::SnapshotsToForget;
using amberfs::TimedSnapshot;

namespace {

// "2026-12-31T23:00:00" read as UTC, in nanoseconds.
uint64_t Utc(const char* text) {
  struct tm tm = {};
  REQUIRE(strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) != nullptr);
  return static_cast<uint64_t>(timegm(&tm)) * 1000000000ull;
}

// Snapshots named by their time, so a table reads as times.
std::vector<TimedSnapshot> At(const std::vector<const char*>& times) {
  std::vector<TimedSnapshot> out;
  for (const char* t : times) out.push_back(TimedSnapshot{t, Utc(t)});
  return out;
}

RetentionPolicy Policy(const char* text) {
  auto p = ParseRetentionPolicy(text);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  return *p;
}

struct Case {
  const char* policy;
  std::vector<const char*> snapshots;
  std::vector<std::string> forget;  // newest first
};

}  // namespace

TEST_CASE("retention keeps what restic's forget keeps, on calendar boundaries in UTC") {
  // Run the table in a zone far from UTC: the buckets must not move.
  const char* old_tz = std::getenv("TZ");
  std::string saved = old_tz ? old_tz : "";
  setenv("TZ", "America/St_Johns", 1);  // UTC-3:30, half-hour offset
  tzset();

  const std::vector<Case> table = {
      {"last:3",
       {"2026-12-03T10:00:00", "2026-12-03T10:00:01", "2026-12-03T10:00:02", "2026-12-03T10:00:03",
        "2026-12-03T10:00:04"},
       {"2026-12-03T10:00:01", "2026-12-03T10:00:00"}},
      // Each of the 2 newest hours keeps its newest snapshot.
      {"hourly:2",
       {"2026-12-03T10:05:00", "2026-12-03T10:40:00", "2026-12-03T11:10:00", "2026-12-03T11:50:00",
        "2026-12-03T12:01:00"},
       {"2026-12-03T11:10:00", "2026-12-03T10:40:00", "2026-12-03T10:05:00"}},
      // Midnight UTC splits days (not St John's midnight).
      {"daily:2",
       {"2026-12-01T23:59:59", "2026-12-02T00:00:00", "2026-12-02T12:00:00"},
       {"2026-12-02T00:00:00"}},
      // ISO weeks: 2026-12-28 (Monday) to 2027-01-03 (Sunday) is week 53 of
      // 2026, across the new year; 2027-01-04 starts week 1 of 2027.
      {"weekly:2",
       {"2026-12-27T12:00:00", "2026-12-28T00:00:00", "2027-01-03T23:00:00", "2027-01-04T00:00:00"},
       {"2026-12-28T00:00:00", "2026-12-27T12:00:00"}},
      {"weekly:3",
       {"2026-12-27T12:00:00", "2026-12-28T00:00:00", "2027-01-03T23:00:00", "2027-01-04T00:00:00"},
       {"2026-12-28T00:00:00"}},
      {"monthly:2",
       {"2027-01-31T23:59:59", "2027-02-01T00:00:00", "2027-02-28T08:00:00"},
       {"2027-02-01T00:00:00"}},
      {"yearly:1",
       {"2026-12-31T23:59:59", "2027-01-01T00:00:00"},
       {"2026-12-31T23:59:59"}},
      // Rules add up: last:1 keeps the newest, daily:2 the newest of each of
      // the two newest days.
      {"last:1,daily:2",
       {"2026-12-01T08:00:00", "2026-12-01T20:00:00", "2026-12-02T08:00:00", "2026-12-02T20:00:00"},
       {"2026-12-02T08:00:00", "2026-12-01T08:00:00"}},
      // A count larger than the buckets that exist keeps them all.
      {"hourly:24", {"2026-12-03T10:00:00", "2026-12-03T11:00:00"}, {}},
      {"last:2", {}, {}},
  };
  for (const Case& c : table) {
    CAPTURE(c.policy);
    CHECK(SnapshotsToForget(At(c.snapshots), Policy(c.policy)) == c.forget);
  }

  if (old_tz) setenv("TZ", saved.c_str(), 1); else unsetenv("TZ");
  tzset();
}

TEST_CASE("retention does not depend on the order it is given the snapshots in") {
  auto snaps = At({"2026-12-03T12:00:00", "2026-12-03T10:00:00", "2026-12-03T11:00:00"});
  // Equal times are ordered by name.
  snaps.push_back(TimedSnapshot{"b", Utc("2026-12-03T09:00:00")});
  snaps.push_back(TimedSnapshot{"a", Utc("2026-12-03T09:00:00")});
  CHECK(SnapshotsToForget(snaps, Policy("last:2")) == std::vector<std::string>{"2026-12-03T10:00:00", "b", "a"});
  std::reverse(snaps.begin(), snaps.end());
  CHECK(SnapshotsToForget(snaps, Policy("last:2")) == std::vector<std::string>{"2026-12-03T10:00:00", "b", "a"});
}

TEST_CASE("an empty policy forgets nothing") {
  CHECK(SnapshotsToForget(At({"2026-12-03T10:00:00", "2026-12-03T11:00:00"}), RetentionPolicy{}).empty());
}

TEST_CASE("retention policies parse, print back, and bad ones are EINVAL") {
  CHECK(FormatRetentionPolicy(Policy("daily:7,last:3,hourly:24")) == "last:3,hourly:24,daily:7");
  CHECK(FormatRetentionPolicy(Policy("weekly:4,monthly:12,yearly:2")) == "weekly:4,monthly:12,yearly:2");
  for (const char* bad : {"", "last", "last:", "last:0", "last:-1", "last:+1", "last:1x", "foo:3", "last:3,last:4",
                          "last:3,", ",last:3", "last:1000001", "last:99999999999", "Last:3"}) {
    CAPTURE(bad);
    auto p = ParseRetentionPolicy(bad);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == EINVAL);
  }
}

TEST_CASE("automatic snapshot names are the UTC time with a prefix no user name takes") {
  const uint64_t t = Utc("2026-12-03T19:50:01") + 999999999;
  CHECK(AutoSnapshotName(t) == "auto-20261203T195001Z");
  CHECK(IsAutoSnapshotName(AutoSnapshotName(t)));
  for (const char* not_auto : {"20261203T195001Z", "auto-", "auto-x", "auto-20261203T195001", "auto-20261203T195001Zx",
                               "auto-2026120xT195001Z", "auto-20261203_195001Z", "nightly"}) {
    CAPTURE(not_auto);
    CHECK_FALSE(IsAutoSnapshotName(not_auto));
  }
}

TEST_CASE("snapshot intervals are whole numbers of s, m, h or d, from 1s to 366d") {
  using std::chrono::seconds;
  const std::pair<const char*, int64_t> good[] = {{"1s", 1}, {"90s", 90}, {"15m", 900}, {"1h", 3600},
                                                   {"1d", 86400}, {"366d", 366 * 86400}, {"8784h", 366 * 86400}};
  for (const auto& [text, secs] : good) {
    CAPTURE(text);
    auto interval = ParseSnapshotInterval(text);
    REQUIRE(interval.ok());
    CHECK(interval->count() == secs);
  }
  CHECK(FormatSnapshotInterval(seconds(3600)) == "1h");
  CHECK(FormatSnapshotInterval(seconds(90)) == "90s");
  CHECK(FormatSnapshotInterval(seconds(86400 * 7)) == "7d");
  for (const char* bad : {"", "s", "0s", "1", "1.5h", "-1h", "+1h", "1w", "1H", "367d", "8785h", "1 h", "h1",
                          "99999999999999999999s"}) {
    CAPTURE(bad);
    auto interval = ParseSnapshotInterval(bad);
    REQUIRE_FALSE(interval.ok());
    CHECK(interval.status().code() == EINVAL);
  }
}
