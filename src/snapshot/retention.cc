// Retention of automatic snapshots (see amberfs/retention.h).
#include "amberfs/retention.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <ctime>

#include "snapshot/snapshot_record.h"

namespace amberfs {
namespace {

constexpr std::string_view kAutoPrefix = "auto-";

// The rules in the order they are printed, each with the member it sets and
// the calendar bucket a snapshot falls in for it.
enum class Bucket { kEach, kHour, kDay, kWeek, kMonth, kYear };
struct Rule {
  std::string_view name;
  uint32_t RetentionPolicy::*count;
  Bucket bucket;
};
constexpr std::array<Rule, 6> kRules = {{
    {"last", &RetentionPolicy::last, Bucket::kEach},
    {"hourly", &RetentionPolicy::hourly, Bucket::kHour},
    {"daily", &RetentionPolicy::daily, Bucket::kDay},
    {"weekly", &RetentionPolicy::weekly, Bucket::kWeek},
    {"monthly", &RetentionPolicy::monthly, Bucket::kMonth},
    {"yearly", &RetentionPolicy::yearly, Bucket::kYear},
}};

// A number that differs between two snapshots exactly when they fall in
// different buckets (restic's scheme: year*100+month and so on). kEach
// gives every snapshot its own, which is what `last` needs.
int64_t BucketOf(const struct tm& tm, Bucket bucket, size_t position) {
  const int64_t year = tm.tm_year + 1900;
  switch (bucket) {
    case Bucket::kEach: return static_cast<int64_t>(position);
    case Bucket::kHour: return ((year * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday) * 100 + tm.tm_hour;
    case Bucket::kDay: return (year * 100 + tm.tm_mon + 1) * 100 + tm.tm_mday;
    case Bucket::kWeek: {
      // ISO 8601: the week belongs to the year of its Thursday.
      char buf[16];
      strftime(buf, sizeof buf, "%G%V", &tm);
      return std::atoll(buf);
    }
    case Bucket::kMonth: return year * 100 + tm.tm_mon + 1;
    case Bucket::kYear: return year;
  }
  return 0;
}

bool AllDigits(std::string_view s, size_t n) {
  if (s.size() != n) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool LooksLikeRetentionRule(std::string_view text) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view name = text.substr(0, colon);
  return std::any_of(kRules.begin(), kRules.end(), [&](const Rule& r) { return r.name == name; });
}

Status AddRetentionRule(std::string_view rule, RetentionPolicy* policy) {
  const std::string quoted = "'" + std::string(rule) + "'";
  const size_t colon = rule.find(':');
  const std::string_view name = rule.substr(0, colon);
  auto it = std::find_if(kRules.begin(), kRules.end(), [&](const Rule& r) { return r.name == name; });
  if (colon == std::string_view::npos || it == kRules.end()) {
    return Status::Error(EINVAL, "retention rule " + quoted +
                                     " is not RULE:N with RULE last, hourly, daily, weekly, monthly or yearly");
  }
  const std::string_view digits = rule.substr(colon + 1);
  uint32_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || n == 0 ||
      n > kMaxRetentionCount) {
    return Status::Error(EINVAL, "retention rule " + quoted + ": the count must be a whole number from 1 to " +
                                     std::to_string(kMaxRetentionCount));
  }
  uint32_t& slot = policy->*(it->count);
  if (slot != 0) return Status::Error(EINVAL, "retention rule " + quoted + ": " + std::string(name) + " given twice");
  slot = n;
  return Status::OK();
}

Result<RetentionPolicy> ParseRetentionPolicy(std::string_view text) {
  RetentionPolicy policy;
  if (text.empty()) return Status::Error(EINVAL, "empty retention policy (e.g. last:3,hourly:24)");
  while (true) {
    const size_t comma = text.find(',');
    AMBER_RETURN_IF_ERROR(AddRetentionRule(text.substr(0, comma), &policy));
    if (comma == std::string_view::npos) return policy;
    text.remove_prefix(comma + 1);
  }
}

std::string FormatRetentionPolicy(const RetentionPolicy& policy) {
  std::string out;
  for (const Rule& r : kRules) {
    if (policy.*(r.count) == 0) continue;
    if (!out.empty()) out += ',';
    out += std::string(r.name) + ":" + std::to_string(policy.*(r.count));
  }
  return out;
}

namespace {

struct IntervalUnit {
  char suffix;
  int64_t seconds;
};
// Largest first, for FormatSnapshotInterval.
constexpr std::array<IntervalUnit, 4> kIntervalUnits = {{{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};
constexpr int64_t kMaxIntervalSeconds = 366 * 86400;

}  // namespace

Result<std::chrono::seconds> ParseSnapshotInterval(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::Error(EINVAL, "snapshot interval '" + std::string(text) + "': " + why);
  };
  if (text.size() < 2) return bad("use a whole number with s, m, h or d, e.g. 15m or 1h");
  const char suffix = text.back();
  auto unit = std::find_if(kIntervalUnits.begin(), kIntervalUnits.end(),
                           [&](const IntervalUnit& u) { return u.suffix == suffix; });
  if (unit == kIntervalUnits.end()) return bad("the unit must be s, m, h or d, e.g. 15m or 1h");
  const std::string_view digits = text.substr(0, text.size() - 1);
  int64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n <= 0 || n > kMaxIntervalSeconds / unit->seconds) {
    return bad("must be a whole number of " + std::string(1, suffix) + " from 1s to 366d");
  }
  return std::chrono::seconds(n * unit->seconds);
}

std::string FormatSnapshotInterval(std::chrono::seconds interval) {
  for (const IntervalUnit& u : kIntervalUnits) {
    if (interval.count() > 0 && interval.count() % u.seconds == 0) {
      return std::to_string(interval.count() / u.seconds) + u.suffix;
    }
  }
  return std::to_string(interval.count()) + "s";
}

std::string AutoSnapshotName(uint64_t unix_ns) { return std::string(kAutoPrefix) + DefaultSnapshotName(unix_ns); }

bool IsAutoSnapshotName(std::string_view name) {
  // auto-YYYYMMDDTHHMMSSZ
  if (name.substr(0, kAutoPrefix.size()) != kAutoPrefix) return false;
  name.remove_prefix(kAutoPrefix.size());
  return name.size() == 16 && AllDigits(name.substr(0, 8), 8) && name[8] == 'T' && AllDigits(name.substr(9, 6), 6) &&
         name[15] == 'Z';
}

std::vector<std::string> SnapshotsToForget(std::vector<TimedSnapshot> snapshots, const RetentionPolicy& policy) {
  std::vector<std::string> forget;
  if (policy.empty()) return forget;
  std::sort(snapshots.begin(), snapshots.end(), [](const TimedSnapshot& a, const TimedSnapshot& b) {
    return a.created_ns != b.created_ns ? a.created_ns > b.created_ns : a.name > b.name;
  });
  struct RuleState {
    uint32_t left;
    bool any = false;
    int64_t last_bucket = 0;
  };
  std::array<RuleState, kRules.size()> state;
  for (size_t r = 0; r < kRules.size(); ++r) state[r] = RuleState{policy.*(kRules[r].count)};
  for (size_t i = 0; i < snapshots.size(); ++i) {
    const time_t secs = static_cast<time_t>(snapshots[i].created_ns / 1000000000ull);
    struct tm tm;
    gmtime_r(&secs, &tm);
    bool keep = false;
    for (size_t r = 0; r < kRules.size(); ++r) {
      RuleState& s = state[r];
      if (s.left == 0) continue;
      const int64_t bucket = BucketOf(tm, kRules[r].bucket, i);
      if (s.any && bucket == s.last_bucket) continue;  // this bucket has a newer snapshot kept
      s.any = true;
      s.last_bucket = bucket;
      --s.left;
      keep = true;
    }
    if (!keep) forget.push_back(snapshots[i].name);
  }
  return forget;
}

}  // namespace amberfs
