// RestoreVolume: a volume directory rebuilt from a slow store (see
// amberfs/restore.h). It lives in the volume layer because it creates the
// volume as mkfs does; the snapshot layer's steps are in restore_steps.h.
#include "amberfs/restore.h"

#include <unistd.h>

#include <algorithm>
#include <memory>

#include "amberfs/volume_config.h"
#include "amberfs/volume_create.h"
#include "base/durable_file.h"
#include "snapshot/restore_steps.h"
#include "snapshot/volume_layout.h"
#include "store/store_url.h"

namespace amberfs {

Result<RestoreVolumeResult> RestoreVolume(const RestoreVolumeOptions& options) {
  if (options.voldir.empty()) return Status::Error(EINVAL, "no volume directory given");
  AMBER_ASSIGN_OR_RETURN(StoreUrl url, ParseStoreUrl(options.url));
  // Opening a DiskStore creates its directory; a restore must not.
  if (url.kind == StoreUrl::Kind::kFile && ::access(url.path.c_str(), F_OK) != 0) {
    return Status::FromErrno(errno, "no slow store at " + url.path);
  }
  Result<std::unique_ptr<Store>> store = OpenStoreUrl(options.url, options.credentials_file);
  if (!store.ok()) return store.status().Annotate("open slow store");  // the message names it
  AMBER_ASSIGN_OR_RETURN(RestorePlan plan, PlanRestore(store->get(), options.volume, options.snapshot));
  RestoreVolumeResult result;
  result.choice = plan.Choice();
  if (options.planned) options.planned(result.choice);

  CreateVolumeOptions create;
  create.voldir = options.voldir;
  create.size = plan.record.volume_size;
  create.chunk_size = plan.record.chunk_size;
  create.slow_url = CanonicalStoreUrl(url);
  create.force = options.force;
  create.check_slow_store = false;  // it has just been read from
  if (!plan.config_text.empty()) {
    Result<VolumeConfig> published = VolumeConfig::Parse(plan.config_text);
    if (published.ok()) {
      create.block_size = published->block_size;
    } else {
      // The geometry that matters is in the record; the block size is only the cache's.
      create.block_size = std::min<uint32_t>(kDefaultBlockSize, plan.record.chunk_size);
    }
  }
  AMBER_ASSIGN_OR_RETURN(VolumeConfig config, CreateVolume(create));
  const std::string voldir = AbsolutePath(options.voldir);
  auto fail = [&](const Status& st) -> Status {
    Status removed = RemoveDurably(voldir, kConfigFile);
    return st.Annotate(removed.ok() ? "restore (the incomplete volume in " + voldir + " has no config; rerun with --force)"
                                    : "restore (and removing the incomplete config failed: " + removed.message() + ")");
  };
  Result<RestoreStats> stats = RestoreImage(store->get(), plan.record, config.ImagePath(voldir), options.threads,
                                            options.progress);
  if (!stats.ok()) return fail(stats.status());
  result.stats = *stats;
  if (Status st = InstallRestoredSnapshot(voldir, plan); !st.ok()) return fail(st);
  // The same volume continued: its uuid, so later snapshots build on this one.
  config.uuid = plan.uuid;
  if (Status st = config.Store(voldir); !st.ok()) return fail(st);
  return result;
}

}  // namespace amberfs
