// ResizeVolume and the settling of an interrupted one (see amberfs/volume_resize.h).
#include "amberfs/volume_resize.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "amberfs/log.h"
#include "amberfs/size_parse.h"
#include "amberfs/volume_create.h"
#include "base/durable_file.h"
#include "base/unique_fd.h"
#include "snapshot/catalog.h"
#include "snapshot/change_tracker.h"
#include "snapshot/rollback_intent.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/volume_layout.h"
#include "volume/volume_build.h"
#include "volume/volume_lock.h"

namespace amberfs {
namespace {

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Whether the resize's tracker file has the config's geometry (the resize committed).
bool ResizeCommitted(const std::string& dir, const VolumeConfig& config) {
  return ChangeTracker::OpenReadOnly(VolumePath(dir, kResizeChangesFile), config.size, config.chunk_size).ok();
}

// An image file grown past the config by a resize that did not commit.
Result<uint64_t> GrownImageBytes(const std::string& image, const VolumeConfig& config) {
  struct stat st;
  if (::stat(image.c_str(), &st) != 0) return Status::FromErrno(errno, "stat image " + image);
  if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) <= config.size) return uint64_t{0};
  return static_cast<uint64_t>(st.st_size);
}

// Snapshots' records still carry the volume's size and geometry: a volume
// that has one (or a base) cannot change size yet.
Status RefuseSnapshots(const std::string& dir) {
  AMBER_ASSIGN_OR_RETURN(Pointer base, ReadSnapshotBase(dir));
  size_t count = 0;
  if (Result<std::unique_ptr<Catalog>> catalog = Catalog::OpenForReading(dir); catalog.ok()) {
    AMBER_ASSIGN_OR_RETURN(std::vector<CatalogEntry> entries, (*catalog)->List());
    count = entries.size();
  } else if (catalog.status().code() != ENOENT) {
    return catalog.status();
  }
  if (count == 0 && base.IsNull()) return Status::OK();
  return Status::Error(ENOTSUP, "the volume has snapshots (" + std::to_string(count) +
                                    ", or a base snapshot), and a resize does not support them yet: delete "
                                    "them and run gc, or restore into a new volume of the new size");
}

Status RefuseBadNewSize(const VolumeConfig& config, uint64_t new_size) {
  if (new_size < config.size) {
    return Status::Error(EINVAL, "shrinking is not supported: the volume is " + FormatSize(config.size) +
                                     " and " + FormatSize(new_size) + " is smaller");
  }
  if (new_size == config.size) {
    return Status::Error(EINVAL, "the volume is " + FormatSize(config.size) + " already");
  }
  return ValidateVolumeGeometry(new_size, config.block_size, config.chunk_size);
}

// Step 1: the tracker at the new size with the old marks, durable.
Status WriteResizedTracker(const std::string& dir, const VolumeConfig& config, uint64_t new_size) {
  const std::string old_path = VolumePath(dir, kChangesFile);
  if (!Exists(old_path)) return Status::OK();  // the first read-write mount makes one
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<ChangeTracker> old,
                         ChangeTracker::Open(old_path, config.size, config.chunk_size));
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<ChangeTracker> grown,
                         ChangeTracker::Create(VolumePath(dir, kResizeChangesFile), new_size, config.chunk_size));
  AMBER_RETURN_IF_ERROR(old->ForEachMarked(ChangeTracker::Set::kActive, [&](uint64_t chunk) {
    return grown->WillChange(chunk * config.chunk_size, config.chunk_size);
  }));
  return grown->Sync().Annotate("write " + VolumePath(dir, kResizeChangesFile));
}

// Step 2: an image file gets the new size (a device was checked to have it).
Status GrowImage(const std::string& image, uint64_t new_size) {
  UniqueFd fd(::open(image.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open image " + image);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return Status::FromErrno(errno, "stat image " + image);
  if (!S_ISREG(st.st_mode)) return Status::OK();
  if (::ftruncate(fd.get(), static_cast<off_t>(new_size)) != 0) {
    return Status::FromErrno(errno, "grow image " + image + " to " + FormatSize(new_size));
  }
  return SyncFileData(fd.get(), "image " + image);
}

// Step 4: the committed tracker replaces the old one.
Status InstallResizedTracker(const std::string& dir) {
  AMBER_RETURN_IF_ERROR(RenameFile(VolumePath(dir, kResizeChangesFile), VolumePath(dir, kChangesFile)));
  return FsyncDir(dir);
}

// A device image must have the new size before anything is written.
Status CheckDeviceImage(const std::string& image, uint64_t new_size) {
  struct stat st;
  if (::stat(image.c_str(), &st) != 0) return Status::FromErrno(errno, "stat image " + image);
  if (S_ISREG(st.st_mode)) return Status::OK();
  UniqueFd fd(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open image " + image);
  const off_t end = ::lseek(fd.get(), 0, SEEK_END);
  if (end < 0) return Status::FromErrno(errno, "size of " + image);
  if (static_cast<uint64_t>(end) == new_size) return Status::OK();
  return Status::Error(EINVAL, "the image " + image + " is a device of " + FormatSize(end) +
                                   "; grow it to exactly " + FormatSize(new_size) + " first");
}

}  // namespace

std::string DescribeInterruptedResize(const std::string& dir, const VolumeConfig& config) {
  if (!Exists(VolumePath(dir, kResizeChangesFile))) return "";
  return ResizeCommitted(dir, config)
             ? "a resize to " + FormatSize(config.size) + " committed but did not put its change tracker in place"
             : "a resize did not commit (the volume keeps its size " + FormatSize(config.size) + ")";
}

Status FinishInterruptedResize(const std::string& dir, const VolumeConfig& config, std::string* what) {
  if (what) what->clear();
  if (!Exists(VolumePath(dir, kResizeChangesFile))) return Status::OK();
  std::string done;
  if (ResizeCommitted(dir, config)) {
    AMBER_RETURN_IF_ERROR(InstallResizedTracker(dir));
    done = "finished the resize to " + FormatSize(config.size) + " (put its change tracker in place)";
  } else {
    const std::string image = config.ImagePath(dir);
    AMBER_ASSIGN_OR_RETURN(uint64_t grown, GrownImageBytes(image, config));
    if (grown > 0) {
      UniqueFd fd(::open(image.c_str(), O_RDWR | O_CLOEXEC));
      if (!fd.valid()) return Status::FromErrno(errno, "open image " + image);
      if (::ftruncate(fd.get(), static_cast<off_t>(config.size)) != 0) {
        return Status::FromErrno(errno, "cut image " + image + " back to " + FormatSize(config.size));
      }
      AMBER_RETURN_IF_ERROR(SyncFileData(fd.get(), "image " + image));
    }
    AMBER_RETURN_IF_ERROR(RemoveDurably(dir, kResizeChangesFile));
    done = "undid a resize that did not commit (the volume keeps its size " + FormatSize(config.size) + ")";
  }
  LOG_WARN("volume %s: %s", dir.c_str(), done.c_str());
  if (what) *what = std::move(done);
  return Status::OK();
}

Result<ResizeVolumeResult> ResizeVolume(const std::string& voldir, uint64_t new_size) {
  const std::string dir = AbsolutePath(voldir);
  if (!Exists(VolumePath(dir, kConfigFile))) {
    if (std::string left = DescribeInterruptedBuild(dir); !left.empty()) return Status::Error(ENOENT, left);
    return VolumeConfig::Load(dir).status();
  }
  AMBER_ASSIGN_OR_RETURN(VolumeLock lock, VolumeLock::Acquire(dir, "mkfs --resize"));
  AMBER_RETURN_IF_ERROR(RefuseInterruptedInstall(dir));
  AMBER_ASSIGN_OR_RETURN(VolumeConfig config, VolumeConfig::Load(dir));
  AMBER_RETURN_IF_ERROR(FinishInterruptedResize(dir, config));
  AMBER_RETURN_IF_ERROR(RefuseBadNewSize(config, new_size));
  AMBER_ASSIGN_OR_RETURN(std::optional<RollbackIntent> intent, ReadRollbackIntent(dir));
  if (intent) {
    return Status::Error(EBUSY, "a rollback to " + intent->name + " did not finish: mount the volume once to "
                                "finish it, then resize");
  }
  AMBER_RETURN_IF_ERROR(RefuseSnapshots(dir));
  const std::string image = config.ImagePath(dir);
  AMBER_RETURN_IF_ERROR(CheckDeviceImage(image, new_size));

  ResizeVolumeResult result{config.size, config};
  result.config.size = new_size;
  AMBER_RETURN_IF_ERROR(WriteResizedTracker(dir, config, new_size));
  AMBER_RETURN_IF_ERROR(GrowImage(image, new_size));
  AMBER_RETURN_IF_ERROR(result.config.Store(dir).Annotate("write the config"));  // the commit point
  if (Exists(VolumePath(dir, kResizeChangesFile))) AMBER_RETURN_IF_ERROR(InstallResizedTracker(dir));
  return result;
}

}  // namespace amberfs
