// SlowStoreHealth: see slow_store_health.h for the contract.
#include "store/slow_store_health.h"

#include <algorithm>
#include <ctime>

#include "amberfs/log.h"
#include "store/store_naming.h"

namespace amberfs {

namespace {

constexpr std::chrono::seconds kMaxReminderInterval{3600};

double Seconds(SlowStoreHealth::Clock::duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

std::chrono::milliseconds RetryBackoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, int failures) {
  int shift = std::clamp(failures - 1, 0, 20);
  auto wait = initial * (int64_t{1} << shift);
  return std::min(wait, max);
}

std::string SlowStoreHealth::Since() const {
  time_t t = static_cast<time_t>(since_unix_);
  tm utc;
  gmtime_r(&t, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

SlowStoreHealth::Try SlowStoreHealth::MayStart(Clock::time_point now, Clock::time_point* wake) {
  if (!down_) return Try::kNormal;
  if (probe_out_) return Try::kNo;
  if (now < gate_) {
    *wake = std::min(*wake, gate_);
    return Try::kNo;
  }
  probe_out_ = true;
  return Try::kProbe;
}

bool SlowStoreHealth::Failed(const Status& error, bool probe, size_t waiting, Clock::time_point now) {
  if (probe) probe_out_ = false;
  if (!down_) {
    down_ = true;
    announced_ = false;
    failures_ = 1;
    since_ = now;
    since_unix_ = static_cast<int64_t>(std::time(nullptr));
    gate_ = now + RetryBackoff(initial_, max_, failures_);
    return true;
  }
  if (!probe) return false;  // in flight before the store went down: it tells nothing new
  gate_ = now + RetryBackoff(initial_, max_, ++failures_);
  const double next = Seconds(gate_ - now);
  if (!announced_) {
    announced_ = true;
    ++outages_;
    reminder_every_ = std::chrono::seconds(60);
    next_reminder_ = now + reminder_every_;
    const std::string why = error.ToString();
    LOG_WARN("slow store%s unreachable since %s (%s); %zu uploads waiting, next try in %.1f s",
             StoreNameUnlessQuoted(" ", name_, why).c_str(), Since().c_str(), why.c_str(), waiting, next);
  } else if (now >= next_reminder_) {
    reminder_every_ = std::min(reminder_every_ * 2, kMaxReminderInterval);
    next_reminder_ = now + reminder_every_;
    const std::string why = error.ToString();
    LOG_WARN("slow store%s still unreachable after %.0f s (since %s; %s); %zu uploads waiting, next try in %.1f s",
             StoreNameUnlessQuoted(" ", name_, why).c_str(), Seconds(now - since_), Since().c_str(), why.c_str(), waiting, next);
  }
  return false;
}

bool SlowStoreHealth::Succeeded(bool probe, size_t waiting, Clock::time_point now) {
  if (probe) probe_out_ = false;
  if (!down_) return false;
  // While down only probes start, so any other try was sent before the
  // outage began: its success says nothing about the store now, and ending
  // the outage on it would start a new one (and its warning) at the next
  // failure. Only a probe ends an outage.
  if (!probe) return false;
  down_ = false;
  gate_ = {};
  if (announced_)
    LOG_INFO("slow store %s reachable again after %.1f s, %zu uploads waiting", name_.c_str(), Seconds(now - since_),
             waiting);
  announced_ = false;
  return true;
}

void SlowStoreHealth::Report(PairedStats* stats) const {
  stats->slow_store_up = !(down_ && announced_);
  stats->slow_store_down_since = down_ && announced_ ? since_unix_ : 0;
  stats->slow_store_outages = outages_;
}

}  // namespace amberfs
