// VolumeBuild: a volume built beside VOLDIR and renamed into place (see volume_build.h).
#include "volume/volume_build.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string_view>
#include <vector>

#include "amberfs/volume_config.h"
#include "base/durable_file.h"
#include "snapshot/volume_layout.h"

namespace amberfs {
namespace {

namespace fs = std::filesystem;

std::string ParentOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

bool IsDir(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// The text of a mkfs.pending file, "" if there is none.
std::string ReadPending(const std::string& dir) {
  Result<std::vector<uint8_t>> bytes = ReadSmallFile(VolumePath(dir, kPendingMarker), 4096);
  if (!bytes.ok()) return "";
  std::string text(bytes->begin(), bytes->end());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

Status WritePending(const std::string& dir, const std::string& what) {
  const std::string text = what + "\n";
  return WriteFileAtomic(dir, kPendingMarker, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                         /*no_replace=*/false);
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return Status::Error(ec.value(), "remove " + path + ": " + ec.message());
  return FsyncDir(ParentOf(path));
}

// Names a volume directory holds (what mkfs, the mount and the stores make).
bool IsVolumeEntry(const std::string& name) {
  static const std::string_view kNames[] = {kConfigFile,   kDefaultImageName, kLockFile,       kMountedMarker,
                                            kSpareMarker,  kChangesFile,      kResizeChangesFile, kSnapshotBaseFile, kCatalogDir,
                                            kFastStoreDir, kUploadLogFile,    kDefaultSlowStoreDir, kPendingMarker,
                                            kRemoteChunksFile, kRemoteLogFile};
  for (std::string_view n : kNames) {
    if (name == n) return true;
  }
  return name == std::string(kUploadLogFile) + ".compact" || IsTempName(name);
}

enum class Found { kAbsent, kEmpty, kVolume, kOther };

// What VOLDIR holds; `others` names entries that are not a volume's.
Result<Found> Inspect(const std::string& voldir, std::string* others) {
  struct stat st;
  if (::lstat(voldir.c_str(), &st) != 0) {
    if (errno == ENOENT) return Found::kAbsent;
    return Status::FromErrno(errno, "stat " + voldir);
  }
  if (!S_ISDIR(st.st_mode)) return Status::Error(EINVAL, voldir + " exists and is not a directory");
  struct stat parent;
  if (::stat(ParentOf(voldir).c_str(), &parent) == 0 && parent.st_dev != st.st_dev) {
    return Status::Error(EXDEV, voldir + " is a mount point: mkfs.amberfs builds a volume beside its directory and "
                                         "renames it into place, which a mount point does not allow; make the "
                                         "volume in a directory inside it (e.g. " + voldir + "/vol)");
  }
  bool any = false, config = false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(voldir, ec)) {
    const std::string name = entry.path().filename().string();
    any = true;
    if (name == kConfigFile) config = true;
    if (!IsVolumeEntry(name) && others->size() < 200) *others += (others->empty() ? "" : ", ") + name;
  }
  if (ec) return Status::Error(ec.value(), "list " + voldir + ": " + ec.message());
  if (config || (any && others->empty())) return Found::kVolume;
  return any ? Found::kOther : Found::kEmpty;
}

// The finishing steps of an install, with VOLDIR locked by the caller: the
// replaced volume (at the staging name) gives up its archive, the marker goes,
// then the replaced volume.
Status FinishInstall(const std::string& voldir) {
  const std::string staging = StagingDir(voldir);
  const std::string old_archive = VolumePath(staging, kDefaultSlowStoreDir);
  const std::string new_archive = VolumePath(voldir, kDefaultSlowStoreDir);
  if (IsDir(old_archive)) {
    std::error_code ec;
    if (IsDir(new_archive) && fs::is_empty(new_archive, ec)) fs::remove(new_archive, ec);
    if (Exists(new_archive)) {
      return Status::Error(EEXIST, "both " + new_archive + " and " + old_archive + " exist: keep what you need of " +
                                       old_archive + ", remove " + staging + " and then " +
                                       VolumePath(voldir, kPendingMarker));
    }
    AMBER_RETURN_IF_ERROR(RenameFile(old_archive, new_archive, /*no_replace=*/true));
    AMBER_RETURN_IF_ERROR(FsyncDir(voldir));
    AMBER_RETURN_IF_ERROR(FsyncDir(staging));
  }
  AMBER_RETURN_IF_ERROR(RemoveDurably(voldir, kPendingMarker));
  return Exists(staging) ? RemoveTree(staging) : Status::OK();
}

// FinishInterruptedMkfs, and the description of what was left.
Result<std::string> Finish(const std::string& voldir, std::string* previous_what) {
  std::string done;
  if (Exists(VolumePath(voldir, kPendingMarker))) {
    AMBER_ASSIGN_OR_RETURN(VolumeLock lock, VolumeLock::Acquire(voldir, "mkfs"));
    *previous_what = ReadPending(voldir);
    AMBER_RETURN_IF_ERROR(FinishInstall(voldir).Annotate("finish the interrupted mkfs of " + voldir));
    done = "finished putting the volume in place (" + *previous_what + ")";
  }
  const std::string staging = StagingDir(voldir);
  if (IsDir(staging)) {
    Result<VolumeLock> lock = VolumeLock::Acquire(staging, "mkfs");
    if (!lock.ok() && lock.status().code() == EBUSY) {
      return Status::Error(EBUSY, "another mkfs.amberfs is building " + voldir + " in " + staging + " (" +
                                      ReadPending(staging) + ")");
    }
    AMBER_RETURN_IF_ERROR(lock.status());
    if (std::string what = ReadPending(staging); !what.empty()) *previous_what = what;
    AMBER_RETURN_IF_ERROR(RemoveTree(staging).Annotate("remove what an interrupted mkfs left"));
    if (done.empty()) done = "removed " + staging + ", left by an interrupted mkfs.amberfs";
  }
  return done;
}

std::string PhysicalPath(const std::string& voldir) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(voldir, ec);
  return ec ? voldir : p.string();
}

}  // namespace

std::string StagingDir(const std::string& voldir) {
  const size_t slash = voldir.rfind('/');
  return voldir.substr(0, slash + 1) + "." + voldir.substr(slash + 1) + ".amberfs-new";
}

Status RefuseInterruptedInstall(const std::string& voldir) {
  if (!Exists(VolumePath(voldir, kPendingMarker))) return Status::OK();
  return Status::Error(EBUSY, voldir + ": mkfs.amberfs was interrupted while putting this volume in place (" +
                                  ReadPending(voldir) + "); finish it with: fsck.amberfs -y " + voldir);
}

std::string DescribeInterruptedBuild(const std::string& voldir) {
  const std::string staging = StagingDir(voldir);
  if (!IsDir(staging)) return "";
  std::string what = ReadPending(staging);
  return voldir + " is not an amberfs volume: mkfs.amberfs was interrupted while building it in " + staging +
         (what.empty() ? "" : " (" + what + ")") + "; run the same mkfs.amberfs command again";
}

Result<std::string> FinishInterruptedMkfs(const std::string& voldir) {
  std::string previous;
  return Finish(PhysicalPath(voldir), &previous);
}

Result<std::unique_ptr<VolumeBuild>> VolumeBuild::Begin(const std::string& voldir, bool force,
                                                        const std::string& what) {
  std::unique_ptr<VolumeBuild> b(new VolumeBuild());
  b->voldir_ = PhysicalPath(voldir);
  b->staging_ = StagingDir(b->voldir_);
  std::string others;
  // Checked before the leftovers are touched, so that a refusal changes nothing.
  AMBER_ASSIGN_OR_RETURN(Found found, Inspect(b->voldir_, &others));
  if (found == Found::kOther) {
    return Status::Error(EEXIST, b->voldir_ + " holds files that are not an amberfs volume's (" + others +
                                     "); mkfs.amberfs makes a volume only in a new or empty directory, and "
                                     "--force replaces only a volume");
  }
  // A volume whose install was cut short was never mounted (mount refuses
  // it): it is the product of an mkfs run again, and needs no --force.
  const bool interrupted_install = Exists(VolumePath(b->voldir_, kPendingMarker));
  if (found == Found::kVolume && !force && !interrupted_install) {
    Result<VolumeConfig> old = VolumeConfig::Load(b->voldir_);
    const std::string which = old.ok() ? "volume " + old->uuid : Exists(VolumePath(b->voldir_, kConfigFile))
                                                                     ? "volume (config unreadable)"
                                                                     : "half-made volume (no config)";
    return Status::Error(EEXIST, b->voldir_ + " already holds an amberfs " + which + "; use --force to replace it");
  }
  if (found == Found::kVolume) {
    AMBER_ASSIGN_OR_RETURN(VolumeLock lock, VolumeLock::Acquire(b->voldir_, "mkfs"));
    b->old_lock_.emplace(std::move(lock));
  }
  // What an interrupted mkfs left is finished first (its locks are its own:
  // release ours on VOLDIR meanwhile, then take it again).
  if (interrupted_install || IsDir(b->staging_)) {
    b->old_lock_.reset();
    AMBER_RETURN_IF_ERROR(Finish(b->voldir_, &b->previous_what_).status());
    if (found == Found::kVolume) {
      AMBER_ASSIGN_OR_RETURN(VolumeLock lock, VolumeLock::Acquire(b->voldir_, "mkfs"));
      b->old_lock_.emplace(std::move(lock));
    }
  }
  b->voldir_exists_ = found != Found::kAbsent;
  b->keeps_archive_ = IsDir(VolumePath(b->voldir_, kDefaultSlowStoreDir));
  AMBER_RETURN_IF_ERROR(b->MakeParents());
  if (::mkdir(b->staging_.c_str(), 0700) != 0) {
    if (errno == EEXIST) return Status::Error(EBUSY, "another mkfs.amberfs is building " + b->voldir_);
    return Status::FromErrno(errno, "create " + b->staging_);
  }
  Result<VolumeLock> lock = VolumeLock::Acquire(b->staging_, "mkfs");
  if (!lock.ok()) {
    RemoveTree(b->staging_).IgnoreError();
    return lock.status();
  }
  b->new_lock_.emplace(std::move(lock).value());
  if (Status st = b->Describe(what); !st.ok()) return st;  // the destructor removes the staging directory
  return b;
}

Status VolumeBuild::Describe(const std::string& what) { return WritePending(staging_, what); }

Status VolumeBuild::MakeParents() {
  std::string missing;
  for (std::string p = ParentOf(voldir_); p != "/" && !Exists(p); p = ParentOf(p)) missing = p;
  if (missing.empty()) return Status::OK();
  std::error_code ec;
  fs::create_directories(ParentOf(voldir_), ec);
  if (ec) return Status::Error(ec.value(), "create " + ParentOf(voldir_) + ": " + ec.message());
  created_parents_ = missing;
  return Status::OK();
}

VolumeBuild::~VolumeBuild() {
  if (installed_) return;
  if (new_lock_) RemoveTree(staging_).IgnoreError();
  if (!created_parents_.empty()) RemoveTree(created_parents_).IgnoreError();
}

Status VolumeBuild::Install() {
  AMBER_RETURN_IF_ERROR(FsyncDir(staging_));
  const unsigned flags = voldir_exists_ ? RENAME_EXCHANGE : RENAME_NOREPLACE;
  if (CurrentFileOps().Rename(staging_.c_str(), voldir_.c_str(), flags) != 0) {
    if (errno == EINVAL && voldir_exists_) {  // EINVAL is how Linux says the flag is not supported
      return Status::Error(EOPNOTSUPP, "the file system of " + voldir_ + " cannot swap two directories "
                                   "(renameat2 RENAME_EXCHANGE), so the volume cannot be replaced at once; "
                                   "remove " + voldir_ + " and run mkfs.amberfs without --force");
    }
    return Status::FromErrno(errno, "rename " + staging_ + " to " + voldir_);
  }
  installed_ = true;
  AMBER_RETURN_IF_ERROR(FsyncDir(ParentOf(voldir_)));
  // From here on a failure leaves an installed volume that mount refuses
  // until the finishing steps are done (fsck -y, or mkfs again).
  return FinishInstall(voldir_).Annotate("finish putting the volume in place");
}

}  // namespace amberfs
