// The volume directory: config, image, lock state, unclean marker; and the
// stores the later checks read.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "amberfs/volume_resize.h"
#include "base/durable_file.h"
#include "amberfs/size_parse.h"
#include "store/slow_packs.h"
#include "store/store_url.h"
#include "base/unique_fd.h"
#include "fsck/internal.h"
#include "volume/volume_key.h"
#include "volume/volume_build.h"
#include "snapshot/rollback_intent.h"

namespace amberfs::fsck {
namespace {

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Whether another process holds VOLDIR/lock, without taking it for longer
// than the probe and without creating or writing the file.
Result<bool> ProbeMounted(const std::string& voldir) {
  const std::string path = VolumePath(voldir, kLockFile);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return false;
    return Status::FromErrno(errno, "open " + path);
  }
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return false;  // closing the fd releases it
  if (errno == EWOULDBLOCK) return true;
  return Status::FromErrno(errno, "flock " + path);
}

void CheckImage(Context& ctx) {
  const VolumeConfig& config = *ctx.config;
  const std::string path = config.ImagePath(ctx.voldir);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int err = errno;
    ctx.Problem(FsckClass::kImage, path,
                err == ENOENT ? "image is missing" : "image cannot be opened: " + std::string(strerror(err)),
                config.size);
    return;
  }
  off_t size = ::lseek(fd.get(), 0, SEEK_END);  // works for files and block devices alike
  if (size < 0) {
    ctx.Problem(FsckClass::kImage, path, "image size unknown: " + std::string(strerror(errno)));
    return;
  }
  if (static_cast<uint64_t>(size) != config.size) {
    ctx.Problem(FsckClass::kImage, path,
                "image is " + std::to_string(size) + " bytes but the volume is " + std::to_string(config.size) +
                    " bytes (" + FormatSize(config.size) + ")");
    return;
  }
  ctx.image_ok = true;
}

// What an interrupted mkfs.amberfs left (volume/volume_build.h): -y finishes
// it; -n refuses a volume whose install was cut short, naming the command.
Status CheckInterruptedMkfs(Context& ctx) {
  const std::string staging = StagingDir(ctx.voldir);
  const bool pending = ::access(ctx.Path(kPendingMarker).c_str(), F_OK) == 0;
  if (!pending && !IsDirectory(staging)) return Status::OK();
  if (ctx.opt.repair) {
    AMBER_ASSIGN_OR_RETURN(std::string done, FinishInterruptedMkfs(ctx.voldir));
    size_t p = ctx.Problem(pending ? FsckClass::kConfig : FsckClass::kNote, pending ? ctx.Path(kPendingMarker) : staging,
                           "interrupted mkfs.amberfs: " + done);
    ctx.report.problems[p].repaired = pending;
    return Status::OK();
  }
  AMBER_RETURN_IF_ERROR(RefuseInterruptedInstall(ctx.voldir));
  ctx.Problem(FsckClass::kNote, staging,
              "left beside the volume by an interrupted mkfs.amberfs (the volume is not affected); fsck.amberfs -y "
              "removes it");
  return Status::OK();
}

// What an interrupted mkfs.amberfs --resize left (amberfs/volume_resize.h):
// -y settles it as a read-write mount would; -n says so.
Status CheckInterruptedResize(Context& ctx) {
  const std::string resize = DescribeInterruptedResize(ctx.voldir, *ctx.config);
  if (resize.empty()) return Status::OK();
  size_t p = ctx.Problem(FsckClass::kConfig, ctx.Path(kResizeChangesFile),
                         "interrupted mkfs.amberfs --resize: " + resize +
                             (ctx.opt.repair ? "" : "; fsck.amberfs -y or the next read-write mount settles it"));
  if (!ctx.opt.repair) return Status::OK();
  AMBER_RETURN_IF_ERROR(FinishInterruptedResize(ctx.voldir, *ctx.config));
  ctx.report.problems[p].repaired = true;
  return Status::OK();
}

}  // namespace

Status CheckVolume(Context& ctx) {
  if (!IsDirectory(ctx.voldir)) {
    if (std::string left = DescribeInterruptedBuild(ctx.voldir); !left.empty()) return Status::Error(ENOENT, left);
    if (::access(ctx.voldir.c_str(), F_OK) != 0) {
      return Status::Error(ENOENT, ctx.voldir + " does not exist (not an amberfs volume)");
    }
    return Status::Error(ENOTDIR, ctx.voldir + " is not a directory");
  }
  AMBER_RETURN_IF_ERROR(CheckInterruptedMkfs(ctx));
  Result<VolumeConfig> config = VolumeConfig::Load(ctx.voldir);
  if (!config.ok()) {
    // No config at all is not a volume: nothing to check, an operational error.
    if (config.status().code() == ENOENT) {
      if (std::string left = DescribeInterruptedBuild(ctx.voldir); !left.empty()) return Status::Error(ENOENT, left);
      return config.status();
    }
    ctx.Problem(FsckClass::kConfig, ctx.Path(kConfigFile), config.status().message());
    ctx.Skip("everything past the config (it cannot be read)");
    return Status::OK();
  }
  // An encrypted volume's trees and refs cannot be read without its key:
  // an operational error, like a volume that is not there.
  Result<VolumeCodec> codec = OpenVolumeCodec(ctx.voldir, *config, ctx.opt.key_file, nullptr);
  if (!codec.ok()) return codec.status();
  ctx.codec = std::move(codec).value();
  ctx.pack_tables = ctx.codec.PackTables();
  ctx.config = std::move(config).value();
  ctx.report.uuid = ctx.config->uuid;
  ctx.report.volume_size = ctx.config->size;
  ctx.report.chunk_size = ctx.config->chunk_size;

  if (ctx.opt.repair) {
    Result<VolumeLock> lock = VolumeLock::Acquire(ctx.voldir, "fsck");
    if (!lock.ok()) {
      if (lock.status().code() == EBUSY) {
        return Status::Error(EBUSY, ctx.voldir + " is mounted (or in use); unmount it to repair, or check it "
                                                 "read-only with -n");
      }
      return lock.status();
    }
    ctx.lock.emplace(std::move(lock).value());
  } else {
    AMBER_ASSIGN_OR_RETURN(ctx.report.mounted, ProbeMounted(ctx.voldir));
  }

  if (!ctx.report.mounted) {
    Result<std::vector<uint8_t>> marker = ReadSmallFile(ctx.Path(kMountedMarker), 4096);
    if (marker.ok()) {
      std::string who = VolumeLock::MarkerText(*marker);
      if (who.empty()) who = "the marker is unreadable";
      ctx.Problem(FsckClass::kNote, ctx.Path(kMountedMarker),
                  "the last mount did not end cleanly (" + who + "); the next mount recovers");
    }
  }
  // A rollback cut off by a crash or an error: the image is neither what it
  // was nor the snapshot until a read-write mount finishes it.
  Result<std::optional<RollbackIntent>> intent = ReadRollbackIntent(ctx.voldir);
  if (!intent.ok()) {
    ctx.Problem(FsckClass::kImage, ctx.Path(kRollbackIntentFile), intent.status().message());
  } else if (*intent) {
    ctx.Problem(FsckClass::kImage, ctx.Path(kRollbackIntentFile),
                "a rollback to " + (*intent)->name + " did not finish, so the image is half rolled back; "
                "the next read-write mount finishes it");
  }
  AMBER_RETURN_IF_ERROR(CheckInterruptedResize(ctx));
  CheckImage(ctx);
  return Status::OK();
}

Status OpenStores(Context& ctx) {
  const std::string fast_dir = ctx.Path(kFastStoreDir);
  if (IsDirectory(fast_dir)) {
    PackedDiskStoreOptions o;
    // Repairing holds the volume lock, so temp files left by a crash are
    // nobody's; a read-only check touches none, nor the blob index.
    o.disk.exclusive = ctx.opt.repair;
    o.disk.stale_temp_age = std::chrono::hours(24 * 365 * 100);
    o.read_only = !ctx.opt.repair;
    o.pack.tables = ctx.pack_tables;
    Result<std::unique_ptr<PackedDiskStore>> fast = PackedDiskStore::Open(fast_dir, o);
    if (!fast.ok()) return fast.status().Annotate("open the fast store");
    ctx.fast = std::move(fast).value();
  } else {
    ctx.Problem(FsckClass::kConfig, fast_dir, "the fast store directory is missing");
  }

  const std::string& url = ctx.config->slow_url;
  Result<StoreUrl> parsed = ParseStoreUrl(url);
  if (!parsed.ok()) {
    ctx.Problem(FsckClass::kConfig, ctx.Path(kConfigFile), "slow store URL: " + parsed.status().message());
    return Status::OK();
  }
  if (parsed->kind == StoreUrl::Kind::kFile && !IsDirectory(parsed->path)) {
    ctx.slow_error = "directory " + parsed->path + " is missing";
    return Status::OK();
  }
  Result<std::unique_ptr<Store>> slow = OpenStoreUrl(url, ctx.opt.s3_credentials);
  if (!slow.ok()) {
    if (ctx.opt.slow) return slow.status().Annotate("open the slow store");
    ctx.slow_error = slow.status().ToString();
    return Status::OK();
  }
  ctx.slow = std::move(slow).value();
  GivePackTables(ctx.slow.get(), ctx.pack_tables);
  return Status::OK();
}

}  // namespace amberfs::fsck
