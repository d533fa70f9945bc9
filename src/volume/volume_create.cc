#include "amberfs/volume_create.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "amberfs/size_parse.h"
#include "base/durable_file.h"
#include "base/unique_fd.h"
#include "snapshot/volume_layout.h"
#include "store/store_url.h"
#include "volume/volume_lock.h"

namespace amberfs {
namespace {

namespace fs = std::filesystem;

Status Invalid(std::string message) { return Status::Error(EINVAL, std::move(message)); }

std::string ParentDir(const std::string& path) {
  std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

struct ExistingImage {
  bool exists = false;
  uint64_t size = 0;
};

Result<ExistingImage> InspectImage(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return ExistingImage{};
    return Status::FromErrno(errno, "stat image " + path);
  }
  ExistingImage img{true, 0};
  if (S_ISREG(st.st_mode)) {
    img.size = static_cast<uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return Status::FromErrno(errno, "open image " + path);
    if (::ioctl(fd.get(), BLKGETSIZE64, &img.size) != 0) return Status::FromErrno(errno, "BLKGETSIZE64 " + path);
  } else {
    return Invalid("image " + path + " is neither a regular file nor a block device");
  }
  return img;
}

// Removes what a failed creation made, newest first, so a failure changes nothing.
class Undo {
 public:
  void File(std::string p) { steps_.push_back({std::move(p), false}); }
  void Dir(std::string p) { steps_.push_back({std::move(p), true}); }
  void Commit() { steps_.clear(); }
  ~Undo() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
      std::error_code ec;
      if (it->dir) {
        fs::remove_all(it->path, ec);
      } else {
        fs::remove(it->path, ec);
      }
    }
  }

 private:
  struct Step { std::string path; bool dir; };
  std::vector<Step> steps_;
};

Status CreateSparseImage(const std::string& path, uint64_t size) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "create image " + path);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return Status::FromErrno(errno, "size image " + path);
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync image " + path);
  AMBER_RETURN_IF_ERROR(fd.Close());
  return FsyncDir(ParentDir(path));
}

Status MakeDir(const std::string& path, Undo* undo) {
  if (::mkdir(path.c_str(), 0700) != 0) {
    if (errno == EEXIST) return Status::OK();
    return Status::FromErrno(errno, "mkdir " + path);
  }
  undo->Dir(path);
  return Status::OK();
}

// Entries a volume directory may hold; with --force exactly these are replaced.
const char* const kReplacedByForce[] = {kConfigFile, kDefaultImageName, kFastStoreDir, kCatalogDir, kMountedMarker,
                                        kSpareMarker};

}  // namespace

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Result<VolumeConfig> CreateVolume(const CreateVolumeOptions& options) {
  if (options.voldir.empty()) return Invalid("no volume directory given");
  const std::string voldir = AbsolutePath(options.voldir);

  // Everything is checked before anything is touched.
  VolumeConfig config;
  AMBER_ASSIGN_OR_RETURN(config.uuid, NewVolumeUuid());
  config.block_size = options.block_size;
  config.chunk_size = options.chunk_size;
  config.slow_url = DefaultSlowUrl(voldir);
  if (!options.slow_url.empty()) {
    Result<StoreUrl> url = ParseStoreUrl(options.slow_url);
    if (!url.ok()) return url.status().Annotate("--slow");
    config.slow_url = CanonicalStoreUrl(*url);
  }
  config.image = options.image.empty() ? kDefaultImageName : AbsolutePath(options.image);
  const std::string image_path = config.ImagePath(voldir);

  ExistingImage existing;
  if (!options.image.empty()) {
    AMBER_ASSIGN_OR_RETURN(existing, InspectImage(image_path));
    if (!existing.exists && ::access(ParentDir(image_path).c_str(), W_OK) != 0) {
      return Status::FromErrno(errno, "image directory " + ParentDir(image_path));
    }
  }
  config.size = options.size;
  if (existing.exists) {
    if (options.size == 0) {
      config.size = existing.size;
    } else if (options.size != existing.size) {
      return Invalid("image " + image_path + " holds " + std::to_string(existing.size) +
                     " bytes but --size asks for " + std::to_string(options.size) +
                     " (an existing image is used as it is; give its size or none)");
    }
  } else if (options.size == 0) {
    return Invalid("--size is required (there is no existing image to take it from)");
  }
  AMBER_RETURN_IF_ERROR(config.Validate());

  bool voldir_exists = false;
  struct stat st;
  if (::stat(voldir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Invalid(voldir + " exists and is not a directory");
    voldir_exists = true;
  } else if (errno != ENOENT) {
    return Status::FromErrno(errno, "stat " + voldir);
  }
  if (voldir_exists && !options.force) {
    if (::access(VolumePath(voldir, kConfigFile).c_str(), F_OK) == 0) {
      Result<VolumeConfig> old = VolumeConfig::Load(voldir);
      std::string what = old.ok() ? "volume " + old->uuid : "volume (config unreadable)";
      return Status::Error(EEXIST, voldir + " already holds an amberfs " + what +
                                       "; use --force to replace it");
    }
    for (const auto& entry : fs::directory_iterator(voldir)) {
      (void)entry;
      return Status::Error(EEXIST, voldir + " is not empty; use --force to create a volume there anyway");
    }
  }

  Undo undo;
  if (!voldir_exists) {
    std::error_code ec;
    fs::path missing = voldir;
    while (!fs::exists(missing.parent_path(), ec)) missing = missing.parent_path();
    if (!fs::create_directories(voldir, ec) && ec) {
      return Status::Error(ec.value(), "create " + voldir + ": " + ec.message());
    }
    undo.Dir(missing.string());
    ::chmod(voldir.c_str(), 0700);
  }

  const std::string lock_path = VolumePath(voldir, kLockFile);
  if (::access(lock_path.c_str(), F_OK) != 0) undo.File(lock_path);
  AMBER_ASSIGN_OR_RETURN(VolumeLock lock, VolumeLock::Acquire(voldir, "mkfs"));
  if (options.force) {
    // Config first, so a crash midway leaves "no volume", never a mix.
    for (const char* name : kReplacedByForce) {
      std::error_code ec;
      const std::string path = VolumePath(voldir, name);
      fs::remove_all(path, ec);
      if (ec) return Status::Error(ec.value(), "remove " + path + ": " + ec.message());
    }
    AMBER_RETURN_IF_ERROR(FsyncDir(voldir));
  }

  if (!existing.exists) {
    AMBER_RETURN_IF_ERROR(CreateSparseImage(image_path, config.size));
    undo.File(image_path);
  }
  AMBER_RETURN_IF_ERROR(MakeDir(VolumePath(voldir, kFastStoreDir), &undo));
  AMBER_RETURN_IF_ERROR(MakeDir(VolumePath(voldir, kCatalogDir), &undo));
  if (options.slow_url.empty()) AMBER_RETURN_IF_ERROR(MakeDir(VolumePath(voldir, kDefaultSlowStoreDir), &undo));
  undo.File(VolumePath(voldir, kSpareMarker));
  AMBER_RETURN_IF_ERROR(VolumeLock::CreateSpareMarker(voldir));
  AMBER_RETURN_IF_ERROR(config.Store(voldir));
  undo.Commit();
  return config;
}

}  // namespace amberfs
