// RestoreVolume: a volume directory rebuilt from a slow store (see
// amberfs/restore.h). It lives in the volume layer because it builds and
// installs the volume as mkfs does (volume_plan.h, volume_build.h); the
// snapshot layer's steps are in restore_steps.h.
#include "amberfs/restore.h"

#include <unistd.h>

#include <algorithm>
#include <memory>

#include "amberfs/volume_config.h"
#include "crypto/key_file.h"
#include "snapshot/remote_chunks.h"
#include "snapshot/restore_steps.h"
#include "snapshot/volume_layout.h"
#include "store/packed_disk_store.h"
#include "store/paired_store.h"
#include "store/store_url.h"
#include "volume/volume_build.h"
#include "volume/volume_plan.h"

namespace amberfs {
namespace {

constexpr std::string_view kNewUuid = " (new uuid ";

// The uuid an interrupted run of the same restore chose, so that a rerun
// publishes the same refs instead of leaving a second identity behind.
std::string ResumedUuid(const std::string& previous, const std::string& source) {
  if (!previous.starts_with(source) || previous.compare(source.size(), kNewUuid.size(), kNewUuid) != 0) return "";
  std::string uuid = previous.substr(source.size() + kNewUuid.size());
  if (!uuid.empty() && uuid.back() == ')') uuid.pop_back();
  return ParseVolumeUuid(uuid).ok() ? uuid : "";
}

// The new volume's blob store as its mount will open it (fast = DIR/fast,
// the log DIR/upload.log, the volume's marker), over `slow`: the store the
// restore read from, which PlanRestore gave the volume's pack tables. Not
// opened again: that was a second bucket check and new connections (on
// s3rver 20-40 ms of a 2 s restore; on S3 a round trip or more).
Result<std::unique_ptr<PairedStore>> OpenOwnStore(const std::string& dir, std::unique_ptr<Store> slow,
                                                  const std::string& uuid, const VolumeCodec& codec) {
  PackedDiskStoreOptions fast_options;
  fast_options.disk.exclusive = true;  // the build's lock makes us its only user
  fast_options.pack.tables = codec.PackTables();
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<PackedDiskStore> fast,
                         PackedDiskStore::Open(VolumePath(dir, kFastStoreDir), fast_options));
  PairedOptions paired;
  paired.lock_owner = uuid;
  return PairedStore::Open(std::move(fast), std::move(slow), VolumePath(dir, kUploadLogFile), paired);
}

// Gives the restored volume its identity in the store (AdoptRestoredSnapshot)
// and waits a while for the uploads; what is left, the mount uploads.
Result<Pointer> PublishIdentity(const std::string& dir, std::unique_ptr<Store> slow,
                                const RestoreVolumeOptions& options, const RestorePlan& plan,
                                const VolumeConfig& config, std::string* note) {
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<PairedStore> own,
                         OpenOwnStore(dir, std::move(slow), config.uuid, plan.codec));
  AMBER_ASSIGN_OR_RETURN(Pointer record, AdoptRestoredSnapshot(own.get(), plan, config.uuid, config.Serialize()));
  if (Status drained = own->Drain(options.publish_wait); !drained.ok()) *note = drained.message();
  return record;
}

CreateVolumeOptions CreateOptionsFor(const RestoreVolumeOptions& options, const RestorePlan& plan,
                                     const StoreUrl& url) {
  CreateVolumeOptions create;
  create.voldir = options.voldir;
  create.size = plan.record.volume_size;
  create.chunk_size = plan.record.chunk_size;
  create.slow_url = CanonicalStoreUrl(url);
  create.force = options.force;
  // The geometry that matters is in the record; the block size is only the cache's.
  create.block_size = std::min<uint32_t>(kDefaultBlockSize, plan.record.chunk_size);
  create.compress = false;  // a volume that published no config wrote no envelopes
  if (!plan.config_text.empty()) {
    Result<VolumeConfig> published = VolumeConfig::Parse(plan.config_text);
    if (published.ok()) {
      create.block_size = published->block_size;
      create.compress = published->compress;
    }
  }
  // Encrypted: the same master key, under the same passphrase, so the copy
  // reads (and dedups against) every blob of its source.
  create.key_object = plan.key_object;
  return create;
}

}  // namespace

Result<RestoreVolumeResult> RestoreVolume(const RestoreVolumeOptions& options) {
  if (options.voldir.empty()) return Status::Error(EINVAL, "no volume directory given");
  if (options.clone && options.take_over_identity) {
    return Status::Error(EINVAL, "a clone always gets its own identity; --take-over-identity goes with --restore");
  }
  AMBER_ASSIGN_OR_RETURN(StoreUrl url, ParseStoreUrl(options.url));
  // Opening a DiskStore creates its directory; a restore must not.
  if (url.kind == StoreUrl::Kind::kFile && ::access(url.path.c_str(), F_OK) != 0) {
    return Status::FromErrno(errno, "no slow store at " + url.path);
  }
  Result<std::unique_ptr<Store>> opened = OpenStoreUrl(options.url, options.credentials_file);
  if (!opened.ok()) return opened.status().Annotate("open slow store");  // the message names it
  Store* store = opened->get();
  SecretBytes passphrase;
  if (!options.key_file.empty()) {
    AMBER_ASSIGN_OR_RETURN(passphrase, ReadKeyFile(options.key_file));
  }
  AMBER_ASSIGN_OR_RETURN(RestorePlan plan, PlanRestore(store, options.volume, options.snapshot, passphrase.span()));
  if (options.take_over_identity) AMBER_RETURN_IF_ERROR(CheckIdentityUnused(store, plan.uuid));
  RestoreVolumeResult result;
  result.choice = plan.Choice();
  if (options.planned) options.planned(result.choice);

  AMBER_ASSIGN_OR_RETURN(VolumePlan volume, PlanVolume(CreateOptionsFor(options, plan, url)));
  const std::string source = std::string(options.clone ? "mkfs.amberfs --clone " : "mkfs.amberfs --restore ") + options.url + " --volume " + plan.uuid + " --snapshot " +
                             plan.record.name;
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<VolumeBuild> build, VolumeBuild::Begin(volume.voldir, options.force, source));
  if (options.take_over_identity) {
    volume.config.uuid = plan.uuid;
    AMBER_RETURN_IF_ERROR(build->Describe(source + " --take-over-identity"));
  } else {
    if (std::string resumed = ResumedUuid(build->previous_what(), source); !resumed.empty()) {
      volume.config.uuid = resumed;
    }
    AMBER_RETURN_IF_ERROR(build->Describe(source + std::string(kNewUuid) + volume.config.uuid + ")"));
  }
  result.uuid = volume.config.uuid;

  std::string created_image;  // none: a restore's image is always VOLDIR/image
  AMBER_RETURN_IF_ERROR(LayOutVolume(volume, build.get(), &created_image));
  std::vector<uint64_t> remote;
  if (options.clone) {
    AMBER_RETURN_IF_ERROR(ForEachChunk(
        store, plan.record, options.threads, [&](uint64_t chunk, const Pointer&) { remote.push_back(chunk); },
        plan.codec));
    result.stats.chunks = plan.record.chunk_count();
    result.stats.remote = remote.size();
  } else {
    AMBER_ASSIGN_OR_RETURN(result.stats, RestoreImage(store, plan.record, volume.config.ImagePath(build->dir()),
                                                      options.threads, options.progress, plan.codec));
  }
  Pointer record = plan.record_pointer;
  if (!options.take_over_identity) {
    store = nullptr;  // owned by the published volume's PairedStore from here, and closed with it
    AMBER_ASSIGN_OR_RETURN(record, PublishIdentity(build->dir(), std::move(opened).value(), options, plan,
                                                   volume.config, &result.publish_note));
  }
  if (options.clone) {
    // Against the clone's own copy of the record: its catalog keeps that
    // one, and the origin's may be deleted any time.
    AMBER_RETURN_IF_ERROR(RemoteChunks::Create(build->dir(), RemoteOrigin{plan.record.name, record},
                                               plan.record.chunk_count(), remote));
  }
  AMBER_RETURN_IF_ERROR(InstallRestoredSnapshot(build->dir(), plan, record));
  AMBER_RETURN_IF_ERROR(build->Install());
  return result;
}

}  // namespace amberfs
