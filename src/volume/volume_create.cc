// CreateVolume: plan, build beside VOLDIR, install (see amberfs/volume_create.h).
#include "amberfs/volume_create.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "amberfs/size_parse.h"

#include "base/durable_file.h"
#include "base/unique_fd.h"
#include "snapshot/volume_layout.h"
#include "store/store.h"
#include "store/store_url.h"
#include "volume/volume_key.h"
#include "volume/volume_lock.h"
#include "volume/volume_plan.h"

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

Status CreateSparseImage(const std::string& path, uint64_t size) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Status::FromErrno(errno, "create image " + path);
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) return Status::FromErrno(errno, "size image " + path);
  if (::fsync(fd.get()) != 0) return Status::FromErrno(errno, "fsync image " + path);
  AMBER_RETURN_IF_ERROR(fd.Close());
  return FsyncDir(ParentDir(path));
}

Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0) return Status::FromErrno(errno, "mkdir " + path);
  return Status::OK();
}

}  // namespace

std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

Result<VolumePlan> PlanVolume(const CreateVolumeOptions& options) {
  if (options.voldir.empty()) return Invalid("no volume directory given");
  VolumePlan plan;
  plan.voldir = AbsolutePath(options.voldir);
  VolumeConfig& config = plan.config;
  AMBER_ASSIGN_OR_RETURN(config.uuid, NewVolumeUuid());
  config.block_size = options.block_size;
  config.chunk_size = options.chunk_size;
  config.slow_url = DefaultSlowUrl(plan.voldir);
  plan.default_archive = options.slow_url.empty();
  if (!options.slow_url.empty()) {
    Result<StoreUrl> url = ParseStoreUrl(options.slow_url);
    if (!url.ok()) return url.status().Annotate("--slow");
    config.slow_url = CanonicalStoreUrl(*url);
  }
  config.image = kDefaultImageName;
  ExistingImage existing;
  if (!options.image.empty()) {
    config.image = AbsolutePath(options.image);
    if (config.image == plan.voldir || config.image.starts_with(plan.voldir + "/")) {
      return Invalid("--image " + config.image + " lies inside the volume directory; keep it outside (mkfs "
                     "replaces the whole directory), or leave --image out to get " + plan.voldir + "/image");
    }
    AMBER_ASSIGN_OR_RETURN(existing, InspectImage(config.image));
    if (!existing.exists && ::access(ParentDir(config.image).c_str(), W_OK) != 0) {
      return Status::FromErrno(errno, "image directory " + ParentDir(config.image));
    }
  }
  plan.image_exists = existing.exists;
  config.size = options.size;
  if (existing.exists) {
    if (options.size == 0) {
      config.size = existing.size;
    } else if (options.size != existing.size) {
      return Invalid("image " + config.image + " holds " + std::to_string(existing.size) +
                     " bytes but --size asks for " + std::to_string(options.size) +
                     " (an existing image is used as it is; give its size or none)");
    }
  } else if (options.size == 0) {
    return Invalid("--size is required (there is no existing image to take it from)");
  }
  config.compress = options.compress;
  if (!options.key_object.empty()) {
    plan.key_object = options.key_object;
  } else if (!options.key_file.empty()) {
    AMBER_ASSIGN_OR_RETURN(plan.key_object, NewKeyObject(options.key_file));
  }
  config.encrypted = !plan.key_object.empty();
  AMBER_RETURN_IF_ERROR(config.Validate());
  return plan;
}

Status LayOutVolume(const VolumePlan& plan, VolumeBuild* build, std::string* created_image) {
  const std::string& dir = build->dir();
  if (!plan.image_exists) {
    const std::string image = plan.config.ImagePath(dir);
    AMBER_RETURN_IF_ERROR(CreateSparseImage(image, plan.config.size));
    if (image != VolumePath(dir, kDefaultImageName)) *created_image = image;
  }
  AMBER_RETURN_IF_ERROR(MakeDir(VolumePath(dir, kFastStoreDir)));
  AMBER_RETURN_IF_ERROR(MakeDir(VolumePath(dir, kCatalogDir)));
  if (plan.default_archive && !build->keeps_archive()) {
    AMBER_RETURN_IF_ERROR(MakeDir(VolumePath(dir, kDefaultSlowStoreDir)));
  }
  AMBER_RETURN_IF_ERROR(VolumeLock::CreateSpareMarker(dir));
  if (!plan.key_object.empty()) AMBER_RETURN_IF_ERROR(WriteFileAtomic(dir, kKeyFile, plan.key_object, false));
  return plan.config.Store(dir);
}

Result<VolumeConfig> CreateVolume(const CreateVolumeOptions& options) {
  AMBER_ASSIGN_OR_RETURN(VolumePlan plan, PlanVolume(options));
  // The last check, the first change: a missing bucket is created here.
  if (options.check_slow_store && !options.slow_url.empty()) {
    Result<std::string> found = PrepareSlowStore(plan.config.slow_url, options.s3_credentials);
    if (!found.ok()) return found.status().Annotate("slow store");
    if (options.on_slow_store) options.on_slow_store(*found);
  }
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<VolumeBuild> build,
                         VolumeBuild::Begin(plan.voldir, options.force,
                                            "mkfs.amberfs of volume " + plan.config.uuid + ", " +
                                                FormatSize(plan.config.size)));
  std::string created_image;
  Status st = LayOutVolume(plan, build.get(), &created_image);
  if (st.ok()) st = build->Install();
  if (!st.ok() && !build->installed() && !created_image.empty()) ::unlink(created_image.c_str());
  AMBER_RETURN_IF_ERROR(st);
  return plan.config;
}

}  // namespace amberfs
