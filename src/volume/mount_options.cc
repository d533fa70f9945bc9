#include "amberfs/mount_options.h"

#include "amberfs/retention.h"
#include "amberfs/size_parse.h"
#include "volume/memory_limit.h"

namespace amberfs {

Result<OptionOwner> ApplyMountOption(std::string_view option, MountOptions* options) {
  size_t eq = option.find('=');
  std::string_view key = option.substr(0, eq);
  std::string_view value = eq == std::string_view::npos ? std::string_view() : option.substr(eq + 1);
  bool has_value = eq != std::string_view::npos;
  auto bad = [&](const std::string& why) {
    return Status::Error(EINVAL, "option '" + std::string(option) + "': " + why);
  };
  VolumeOptions& v = options->volume;

  if (key == "cache_size" || key == "dirty_max") {
    if (!has_value) return bad("needs a size, e.g. " + std::string(key) + "=256M");
    Result<uint64_t> size = ParseSize(value);
    if (!size.ok()) return bad(size.status().message());
    (key == "cache_size" ? v.cache_bytes : v.dirty_max_bytes) = *size;
    return OptionOwner::kAmberfs;
  }
  if (key == "upload_rate") {
    if (!has_value) return bad("needs bytes per second, e.g. upload_rate=10M (0 = no limit)");
    if (value == "0") {
      v.upload_rate = 0;
      return OptionOwner::kAmberfs;
    }
    Result<uint64_t> rate = ParseSize(value);
    if (!rate.ok()) return bad(rate.status().message() + " (bytes per second, e.g. 10M; 0 = no limit)");
    v.upload_rate = *rate;
    return OptionOwner::kAmberfs;
  }
  if (key == "pack_size") {
    const std::string range = FormatSize(kMinPackSize) + " to " + FormatSize(kMaxPackSize);
    if (!has_value) return bad("needs a size from " + range + ", e.g. pack_size=32M");
    Result<uint64_t> size = ParseSize(value);
    if (!size.ok()) return bad(size.status().message());
    if (*size < kMinPackSize || *size > kMaxPackSize) return bad("a pack size must be " + range);
    v.pack_bytes = *size;
    return OptionOwner::kAmberfs;
  }
  if (key == "snapshot_interval") {
    Result<std::chrono::seconds> interval = ParseSnapshotInterval(value);
    if (!interval.ok()) return bad(interval.status().message());
    v.snapshot_interval = *interval;
    return OptionOwner::kAmberfs;
  }
  if (key == "keep") {
    if (options->keep_given) return bad("keep= given twice");
    Result<RetentionPolicy> keep = ParseRetentionPolicy(value);
    if (!keep.ok()) return bad(keep.status().message());
    v.keep = *keep;
    options->keep_given = true;
    return OptionOwner::kAmberfs;
  }
  if (!has_value && LooksLikeRetentionRule(option)) {
    // "-o keep=last:3,hourly:24" reaches us as "keep=last:3" and "hourly:24".
    if (!options->keep_given) return bad("a retention rule belongs after keep=, e.g. keep=last:3,hourly:24");
    Status added = AddRetentionRule(option, &v.keep);
    if (!added.ok()) return bad(added.message());
    return OptionOwner::kAmberfs;
  }
  if (key == "io") {
    if (value == "uring" || value == "io_uring") {
      v.io = IoBackend::kUring;
    } else if (value == "plain") {
      v.io = IoBackend::kPlain;
    } else {
      return bad("use io=uring or io=plain");
    }
    return OptionOwner::kAmberfs;
  }
  if (key == "sync_delay") {
    if (!has_value) return bad("needs a duration, e.g. sync_delay=200us");
    Result<std::chrono::microseconds> d = ParseDuration(value);
    if (!d.ok()) return bad(d.status().message());
    v.sync_delay = *d;
    return OptionOwner::kAmberfs;
  }
  if (key == "s3_credentials") {
    if (value.empty()) return bad("needs a file, e.g. s3_credentials=/root/.aws/credentials");
    v.s3_credentials = std::string(value);
    return OptionOwner::kAmberfs;
  }
  if (key == "key_file") {
    if (value.empty()) return bad("needs a file, e.g. key_file=/etc/amberfs/vol.key");
    v.key_file = std::string(value);
    return OptionOwner::kAmberfs;
  }
  if (key == "loglevel") {
    if (!ParseLogLevel(value, &options->log_level)) return bad("use error, warn, info or debug");
    return OptionOwner::kAmberfs;
  }
  if (key == "direct" || key == "page_cache" || key == "direct_writeback" || key == "ro" || key == "rw") {
    if (has_value) return bad("takes no value");
    if (key == "direct" || key == "direct_writeback") {
      (key == "direct" ? v.direct : v.direct_writeback) = true;
      return OptionOwner::kAmberfs;
    }
    if (key == "page_cache") {
      options->page_cache = true;
      return OptionOwner::kAmberfs;
    }
    v.read_only = key == "ro";
    return OptionOwner::kBoth;
  }
  return OptionOwner::kFuse;
}

Status FinishMountOptions(const MountOptions& options) {
  const VolumeOptions& v = options.volume;
  if (v.dirty_max_bytes > v.cache_bytes) {
    return Status::Error(EINVAL, "dirty_max (" + FormatSize(v.dirty_max_bytes) +
                                     ") must not exceed cache_size (" + FormatSize(v.cache_bytes) + ")");
  }
  if (options.keep_given && v.snapshot_interval.count() == 0) {
    return Status::Error(EINVAL, "keep=" + FormatRetentionPolicy(v.keep) +
                                     " applies to automatic snapshots: give snapshot_interval= too (e.g. 1h)");
  }
  if (v.snapshot_interval.count() != 0 && v.read_only) {
    return Status::Error(EINVAL, "snapshot_interval= needs a read-write mount (drop ro)");
  }
  return CheckVolumeMemory(v);
}

Status CheckVolumeMemory(const VolumeOptions& options) {
  AMBER_ASSIGN_OR_RETURN(MemoryLimit limit, ReadMemoryLimit());
  return CheckCacheFits("cache_size", options.cache_bytes, limit);
}

Status CheckMountOptionsForVolume(const MountOptions& options, const VolumeConfig& config) {
  const uint64_t blocks = options.volume.cache_bytes / config.block_size;
  if (blocks < kMinCacheBlocks) {
    return Status::Error(EINVAL, "cache_size=" + FormatSize(options.volume.cache_bytes) + " holds fewer than " +
                                     std::to_string(kMinCacheBlocks) + " of this volume's " +
                                     FormatSize(config.block_size) + " blocks: use at least " +
                                     FormatSize(kMinCacheBlocks * config.block_size));
  }
  return Status::OK();
}

}  // namespace amberfs
