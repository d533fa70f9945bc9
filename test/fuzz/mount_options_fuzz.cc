// Fuzz target: mount options as amberfs's command line takes them (one -o
// string split by libfuse's fuse_opt_parse, each option through
// ApplyMountOption, then FinishMountOptions), and the size and duration
// parsers behind them (also used by mkfs and the config).
//
// Invariants: every error is EINVAL (an option error names the option);
// a parsed size is > 0 and FormatSize of it parses back to it; a parsed
// duration lies in [0, 1 h] and parses back from its microseconds; snapshot
// intervals and retention policies print back to what was parsed.
#include <fuse_opt.h>

#include <cstdint>
#include <string>

#include "amberfs/mount_options.h"
#include "amberfs/retention.h"
#include "amberfs/size_parse.h"
#include "fuzz/fuzz_support.h"

using namespace amberfs;

namespace {

struct Parsed {
  MountOptions options;
  Status error;
  int applied = 0;
};

int OnOption(void* data, const char* arg, int key, fuse_args*) {
  auto* p = static_cast<Parsed*>(data);
  if (key != FUSE_OPT_KEY_OPT) return 1;
  if (arg[0] == '-') return 1;  // amberfs refuses unknown dashed options; nothing to parse
  Result<OptionOwner> owner = ApplyMountOption(arg, &p->options);
  if (!owner.ok()) {
    FUZZ_CHECK(owner.status().code() == EINVAL, "an option error is not EINVAL: " + owner.status().ToString());
    FUZZ_CHECK(owner.status().message().starts_with("option '"), "the error does not name the option");
    p->error = owner.status();
    return -1;
  }
  ++p->applied;
  return 0;
}

void CheckSize(std::string_view text) {
  Result<uint64_t> size = ParseSize(text);
  if (!size.ok()) {
    FUZZ_CHECK(size.status().code() == EINVAL, "a size error is not EINVAL");
    return;
  }
  FUZZ_CHECK(*size > 0, "a zero size was accepted");
  const std::string shown = FormatSize(*size);
  Result<uint64_t> again = ParseSize(shown);
  FUZZ_CHECK(again.ok() && *again == *size, "FormatSize does not parse back: " + shown);
}

void CheckDuration(std::string_view text) {
  Result<std::chrono::microseconds> d = ParseDuration(text);
  if (!d.ok()) {
    FUZZ_CHECK(d.status().code() == EINVAL, "a duration error is not EINVAL");
    return;
  }
  FUZZ_CHECK(d->count() >= 0 && d->count() <= 3600ll * 1000000, "a duration outside [0, 1 h]");
  Result<std::chrono::microseconds> again = ParseDuration(std::to_string(d->count()) + "us");
  FUZZ_CHECK(again.ok() && *again == *d, "a duration does not parse back from its microseconds");
}

// A parsed interval lies in [1 s, 366 d] and prints back to itself; a parsed
// retention policy prints back to itself.
void CheckRetention(std::string_view text) {
  Result<std::chrono::seconds> interval = ParseSnapshotInterval(text);
  if (interval.ok()) {
    FUZZ_CHECK(interval->count() >= 1 && interval->count() <= 366ll * 86400, "an interval outside [1 s, 366 d]");
    Result<std::chrono::seconds> again = ParseSnapshotInterval(FormatSnapshotInterval(*interval));
    FUZZ_CHECK(again.ok() && *again == *interval, "an interval does not print back");
  } else {
    FUZZ_CHECK(interval.status().code() == EINVAL, "an interval error is not EINVAL");
  }
  Result<RetentionPolicy> policy = ParseRetentionPolicy(text);
  if (policy.ok()) {
    Result<RetentionPolicy> again = ParseRetentionPolicy(FormatRetentionPolicy(*policy));
    FUZZ_CHECK(again.ok() && FormatRetentionPolicy(*again) == FormatRetentionPolicy(*policy),
               "a retention policy does not print back");
  } else {
    FUZZ_CHECK(policy.status().code() == EINVAL, "a retention policy error is not EINVAL");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  const std::string text(reinterpret_cast<const char*>(data), size);
  CheckSize(text);
  CheckDuration(text);
  CheckRetention(text);

  // argv strings end at a NUL, as the kernel hands them over.
  const std::string option_string = text.substr(0, text.find('\0'));
  const char* argv[] = {"amberfs", "-o", option_string.c_str(), nullptr};
  fuse_args args = FUSE_ARGS_INIT(3, const_cast<char**>(argv));
  static const fuse_opt kNone[] = {FUSE_OPT_END};
  Parsed parsed;
  int rc = fuse_opt_parse(&args, &parsed, kNone, OnOption);
  fuse_opt_free_args(&args);
  if (rc == 0) {
    Status finish = FinishMountOptions(parsed.options);
    FUZZ_CHECK(finish.ok() || finish.code() == EINVAL, "FinishMountOptions: " + finish.ToString());
  }
  return 0;
}
