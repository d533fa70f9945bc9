// Volume: an opened volume directory, what one mount serves.
//
// Open() loads VOLDIR/config, takes the volume lock (EBUSY if another process
// has the volume), logs a warning when the previous mount did not shut down
// cleanly, opens the image (its size must equal the config's), the batch I/O
// backend and the Conductor, and then (unless read-only) sets the "mounted"
// marker. Any failure undoes what was done and returns a Status whose message
// is fit for the user.
//
// Close() closes the Conductor (everything dirty written back and fdatasynced)
// and, only if that succeeded, clears the marker. Its error is the mount's
// exit status. The destructor closes if Close() was not called.
//
// RegisterCtl() adds the volume's ctl commands (`flush`, `loglevel`);
// WriteMetrics() adds its families to `stats`. Later layers (change tracker,
// stores, snapshots) hang off the Volume and extend both.
//
// Thread-safety: after Open, conductor(), the ctl handlers and WriteMetrics
// may be used from many threads; Close() must not race with them (the mount
// calls it after the FUSE loop has stopped).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "amberfs/batch_io.h"
#include "amberfs/conductor.h"
#include "amberfs/ctl.h"
#include "amberfs/stats.h"
#include "amberfs/status.h"
#include "amberfs/volume_config.h"
#include "amberfs/volume_lock.h"

namespace amberfs {

struct VolumeOptions {
  uint64_t cache_bytes = 256ull << 20;
  uint64_t dirty_max_bytes = 0;  // 0 = half the cache
  IoBackend io = IoBackend::kUring;
  bool direct = false;  // O_DIRECT on the image
  std::chrono::microseconds sync_delay{0};
  bool read_only = false;
};

class Volume {
 public:
  static Result<std::unique_ptr<Volume>> Open(const std::string& voldir, const VolumeOptions& options);
  ~Volume();

  Volume(const Volume&) = delete;
  Volume& operator=(const Volume&) = delete;

  const std::string& dir() const { return dir_; }
  const VolumeConfig& config() const { return config_; }
  const VolumeOptions& options() const { return options_; }
  Conductor& conductor() { return *conductor_; }
  uint64_t size() const { return config_.size; }

  void RegisterCtl(CtlDispatcher* ctl);
  void WriteMetrics(MetricsWriter* out) const;

  Status Close();

 private:
  Volume(std::string dir, VolumeConfig config, VolumeOptions options, VolumeLock lock);

  std::string dir_;
  VolumeConfig config_;
  VolumeOptions options_;
  VolumeLock lock_;
  std::unique_ptr<Conductor> conductor_;
  bool closed_ = false;
};

}  // namespace amberfs
