#include "amberfs/mount_options.h"

#include <doctest/doctest.h>

#include "store/pack_file.h"
#include "volume/memory_limit.h"

using namespace amberfs;

TEST_CASE("mount_options: amberfs options are parsed, the rest goes to FUSE") {
  MountOptions o;
  CHECK(ApplyMountOption("cache_size=1G", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.cache_bytes == 1ull << 30);
  CHECK(ApplyMountOption("dirty_max=128M", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.dirty_max_bytes == 128ull << 20);
  CHECK(ApplyMountOption("io=plain", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.io == IoBackend::kPlain);
  CHECK(ApplyMountOption("io=uring", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.io == IoBackend::kUring);
  CHECK(ApplyMountOption("direct", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.direct);
  CHECK_FALSE(o.page_cache);
  CHECK(ApplyMountOption("page_cache", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.page_cache);
  CHECK_FALSE(o.volume.direct_writeback);
  CHECK(ApplyMountOption("direct_writeback", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.direct_writeback);
  CHECK(ApplyMountOption("sync_delay=2ms", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.sync_delay.count() == 2000);
  CHECK(o.volume.pack_bytes == 16ull << 20);
  // The mount's default is the pack writer's own (the tools that write packs
  // without a mount use that one).
  CHECK(o.volume.pack_bytes == PackWriterOptions{}.target_bytes);
  CHECK(ApplyMountOption("pack_size=32M", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.pack_bytes == 32ull << 20);
  CHECK(ApplyMountOption("pack_size=1M", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.pack_bytes == 1ull << 20);
  CHECK(ApplyMountOption("loglevel=debug", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.log_level == LogLevel::kDebug);
  CHECK(ApplyMountOption("ro", &o).value() == OptionOwner::kBoth);
  CHECK(o.volume.read_only);
  CHECK(ApplyMountOption("rw", &o).value() == OptionOwner::kBoth);
  CHECK_FALSE(o.volume.read_only);
  for (const char* fuse : {"allow_other", "default_permissions", "max_read=131072", "fsname=x", "nonsense"}) {
    CHECK(ApplyMountOption(fuse, &o).value() == OptionOwner::kFuse);
  }
  CHECK(FinishMountOptions(o).ok());
}

TEST_CASE("mount_options: bad values are refused with the option named") {
  for (const char* bad : {"cache_size", "cache_size=", "cache_size=0", "cache_size=1Q", "dirty_max=-1",
                          "io=aio", "io", "sync_delay=fast", "sync_delay", "loglevel=loud", "direct=1", "page_cache=yes",
                          "direct_writeback=1", "pack_size", "pack_size=", "pack_size=512K", "pack_size=65M",
                          "pack_size=1G", "pack_size=big",
                          "ro=yes"}) {
    CAPTURE(bad);
    MountOptions o;
    Result<OptionOwner> r = ApplyMountOption(bad, &o);
    CHECK(r.status().code() == EINVAL);
    CHECK(r.status().message().find(bad) != std::string::npos);
  }
  MountOptions o;
  REQUIRE(ApplyMountOption("cache_size=64M", &o).ok());
  REQUIRE(ApplyMountOption("dirty_max=128M", &o).ok());
  CHECK(FinishMountOptions(o).code() == EINVAL);
}

TEST_CASE("mount_options: a cache larger than half the memory limit is refused, naming the limit") {
  MemoryLimit limit{8ull << 30, "MemTotal"};
  CHECK(CheckCacheFits("cache_size", 4ull << 30, limit).ok());
  Status st = CheckCacheFits("cache_size", (4ull << 30) + 4096, limit);
  CHECK(st.code() == EINVAL);
  CHECK(st.message().find("cache_size=") != std::string::npos);
  CHECK(st.message().find("at most 4G") != std::string::npos);
  CHECK(st.message().find("8G memory limit, MemTotal") != std::string::npos);

  // This machine's limit is real and at most its memory.
  Result<MemoryLimit> here = ReadMemoryLimit();
  REQUIRE(here.ok());
  CHECK(here->bytes > (64ull << 20));
  CHECK_FALSE(here->source.empty());
  for (const char* huge : {"cache_size=15T", "cache_size=1T"}) {
    CAPTURE(huge);
    MountOptions o;
    REQUIRE(ApplyMountOption(huge, &o).ok());
    if (o.volume.cache_bytes > here->bytes / 2) CHECK(FinishMountOptions(o).code() == EINVAL);
  }
}

TEST_CASE("mount_options: the cache must hold sixteen of the volume's blocks") {
  VolumeConfig c;
  c.block_size = 64 << 10;
  MountOptions o;
  REQUIRE(ApplyMountOption("cache_size=512K", &o).ok());
  Status st = CheckMountOptionsForVolume(o, c);
  CHECK(st.code() == EINVAL);
  CHECK(st.message().find("at least 1M") != std::string::npos);
  c.block_size = 4096;
  CHECK(CheckMountOptionsForVolume(o, c).ok());
}

TEST_CASE("mount_options: snapshot_interval= and keep=, whose rules -o splits at commas") {
  MountOptions o;
  CHECK(ApplyMountOption("snapshot_interval=15m", &o).value() == OptionOwner::kAmberfs);
  CHECK(o.volume.snapshot_interval.count() == 900);
  CHECK(ApplyMountOption("keep=last:3", &o).value() == OptionOwner::kAmberfs);
  CHECK(ApplyMountOption("hourly:24", &o).value() == OptionOwner::kAmberfs);
  CHECK(ApplyMountOption("daily:7", &o).value() == OptionOwner::kAmberfs);
  CHECK(FormatRetentionPolicy(o.volume.keep) == "last:3,hourly:24,daily:7");
  CHECK(FinishMountOptions(o).ok());
  CHECK(ApplyMountOption("daily:8", &o).status().code() == EINVAL);  // given twice
  CHECK(ApplyMountOption("keep=last:1", &o).status().code() == EINVAL);

  MountOptions rule_first;
  CHECK(ApplyMountOption("hourly:24", &rule_first).status().code() == EINVAL);
  MountOptions keep_alone;
  REQUIRE(ApplyMountOption("keep=last:3", &keep_alone).ok());
  CHECK(FinishMountOptions(keep_alone).code() == EINVAL);
  MountOptions read_only;
  REQUIRE(ApplyMountOption("snapshot_interval=1h", &read_only).ok());
  REQUIRE(ApplyMountOption("ro", &read_only).ok());
  CHECK(FinishMountOptions(read_only).code() == EINVAL);
  MountOptions bad;
  CHECK(ApplyMountOption("snapshot_interval=0s", &bad).status().code() == EINVAL);
  CHECK(ApplyMountOption("snapshot_interval", &bad).status().code() == EINVAL);
}
