// A volume's key: the key object in VOLDIR/key, what opens it, and changing
// its passphrase (issue 15; docs/FORMATS.md, "Key object").
//
// NewKeyObject: a fresh random master key wrapped under the passphrase read
// from key_file (crypto/key_file.h): what mkfs --key-file writes.
//
// OpenVolumeCodec: the codec a mount, fsck or tool uses for the volume in
// voldir, from its config and, when encrypted, VOLDIR/key opened with the
// passphrase of key_file. Errors, each naming the volume and what to do:
// EACCES when the volume is encrypted and no key file is given, or the
// passphrase is wrong; EINVAL when a key file is given for a volume that is
// not encrypted; EBADMSG for a damaged key object; the key file's own errors.
// *key_object (may be null) gets the key object's bytes (empty if none).
//
// ChangeVolumeKey (mkfs.amberfs --change-key) is in amberfs/volume_key.h.
//
// Thread-safety: functions without shared state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "amberfs/status.h"
#include "amberfs/volume_key.h"
#include "amberfs/volume_config.h"
#include "snapshot/volume_codec.h"

namespace amberfs {

Result<std::vector<uint8_t>> NewKeyObject(const std::string& key_file);

Result<VolumeCodec> OpenVolumeCodec(const std::string& voldir, const VolumeConfig& config, const std::string& key_file,
                                    std::vector<uint8_t>* key_object);

}  // namespace amberfs
