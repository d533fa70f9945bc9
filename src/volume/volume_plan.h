// Volume plan: the steps of CreateVolume that mkfs --restore shares.
//
// PlanVolume checks every argument of a CreateVolume and settles the config
// (a fresh uuid, the canonical slow URL, the image and its size), touching
// nothing; its errors are CreateVolume's (amberfs/volume_create.h).
// LayOutVolume lays the planned volume out in a VolumeBuild's staging
// directory: the image (created sparse, unless an existing --image is used as
// it is), fast/, catalog/, archive/ (for the default slow store, unless
// VOLDIR has one that the install keeps), mounted.spare, and the config
// last. An image outside VOLDIR that it created is recorded in
// `created_image` so that a caller whose later step fails removes it again.
//
// Thread-safety: functions without shared state.
#pragma once

#include <string>
#include <vector>

#include "amberfs/status.h"
#include "amberfs/volume_config.h"
#include "amberfs/volume_create.h"
#include "volume/volume_build.h"

namespace amberfs {

struct VolumePlan {
  std::string voldir;  // absolute, as given: the default slow URL names it
  VolumeConfig config;
  bool image_exists = false;    // an existing --image, used as it is
  bool default_archive = false;  // the slow store is file://VOLDIR/archive
  std::vector<uint8_t> key_object;  // VOLDIR/key of an encrypted volume
};

Result<VolumePlan> PlanVolume(const CreateVolumeOptions& options);
Status LayOutVolume(const VolumePlan& plan, VolumeBuild* build, std::string* created_image);

}  // namespace amberfs
