#include "amberfs/volume.h"

#include "amberfs/log.h"
#include "amberfs/size_parse.h"
#include "amberfs/volume_create.h"

namespace amberfs {

Volume::Volume(std::string dir, VolumeConfig config, VolumeOptions options, VolumeLock lock)
    : dir_(std::move(dir)), config_(std::move(config)), options_(options), lock_(std::move(lock)) {}

Volume::~Volume() {
  if (!closed_) {
    Status st = Close();
    if (!st.ok()) LOG_ERROR("closing volume %s: %s", dir_.c_str(), st.ToString().c_str());
  }
}

Result<std::unique_ptr<Volume>> Volume::Open(const std::string& voldir, const VolumeOptions& options) {
  const std::string dir = AbsolutePath(voldir);
  AMBER_ASSIGN_OR_RETURN(VolumeConfig config, VolumeConfig::Load(dir));
  AMBER_ASSIGN_OR_RETURN(VolumeLock lock, VolumeLock::Acquire(dir, "mount"));
  if (lock.previous_unclean()) {
    LOG_WARN("volume %s was not shut down cleanly (%s); data not fsynced before then may be lost",
             dir.c_str(), lock.previous_marker().c_str());
  }

  const std::string image = config.ImagePath(dir);
  DeviceOptions dev_opts;
  dev_opts.direct = options.direct;
  dev_opts.read_only = options.read_only;
  Result<std::unique_ptr<Device>> device = Device::Open(image, dev_opts);
  if (!device.ok()) return device.status().Annotate("open image");
  if ((*device)->size() != config.size) {
    return Status::Error(EINVAL, "image " + image + " has " + std::to_string((*device)->size()) +
                                     " bytes but the volume is " + std::to_string(config.size) +
                                     " bytes (was the image replaced or resized?)");
  }

  ConductorOptions copts;
  copts.cache_bytes = options.cache_bytes;
  copts.block_size = config.block_size;
  copts.dirty_max_bytes = options.dirty_max_bytes;
  copts.sync_delay = options.sync_delay;
  Result<std::unique_ptr<Conductor>> conductor =
      Conductor::Open(std::move(device).value(), OpenBatchIO(options.io), copts);
  if (!conductor.ok()) return conductor.status().Annotate("open cache");

  std::unique_ptr<Volume> volume(new Volume(dir, std::move(config), options, std::move(lock)));
  volume->conductor_ = std::move(conductor).value();
  if (!options.read_only) {
    Status st = volume->lock_.MarkMounted();
    if (!st.ok()) {
      volume->closed_ = true;  // nothing was written yet; do not clear a marker we never set
      volume->conductor_->Close().IgnoreError();  // the marker error is the one to report
      return st.Annotate("mark volume mounted");
    }
  }
  ConductorStats cs = volume->conductor_->Stats();
  LOG_INFO("volume %s (%s, %s) open: cache %s, dirty cap %s, io %s%s%s", volume->dir_.c_str(),
           volume->config_.uuid.c_str(), FormatSize(volume->config_.size).c_str(),
           FormatSize(cs.cache_budget_bytes).c_str(), FormatSize(cs.dirty_max_bytes).c_str(),
           cs.backend.c_str(), cs.backend_fallback_reason.empty() ? "" : " — fallback: ",
           cs.backend_fallback_reason.c_str());
  return volume;
}

Status Volume::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  Status st = conductor_->Close();
  if (!st.ok()) {
    LOG_ERROR("final flush of %s failed, the volume stays marked unclean: %s", dir_.c_str(),
              st.ToString().c_str());
    return st;
  }
  if (!options_.read_only) AMBER_RETURN_IF_ERROR(lock_.MarkClean());
  LOG_INFO("volume %s closed cleanly", dir_.c_str());
  return Status::OK();
}

void Volume::RegisterCtl(CtlDispatcher* ctl) {
  ctl->Register("flush", "flush", 0, 0, [this](const std::vector<std::string>&) -> Result<std::string> {
    AMBER_RETURN_IF_ERROR(conductor_->Flush());
    return std::string("ok");
  });
  ctl->Register("loglevel", "loglevel [error|warn|info|debug]", 0, 1,
                [](const std::vector<std::string>& args) -> Result<std::string> {
                  if (!args.empty()) {
                    LogLevel level;
                    if (!ParseLogLevel(args[0], &level)) {
                      return Status::Error(EINVAL, "unknown level '" + args[0] + "' (error, warn, info or debug)");
                    }
                    SetLogLevel(level);
                  }
                  return std::string("loglevel ") + LogLevelName(GetLogLevel());
                });
}

void Volume::WriteMetrics(MetricsWriter* out) const {
  out->Gauge("amberfs_volume_size_bytes", "The volume's size.", config_.size);
  WriteConductorMetrics(conductor_->Stats(), out);
}

}  // namespace amberfs
