// Changing an encrypted volume's passphrase (mkfs.amberfs --change-key).
//
// ChangeVolumeKey rewraps the volume's master key under the passphrase of
// new_key_file (crypto/key_object.h), under the volume lock (a mounted
// volume is EBUSY): VOLDIR/key is replaced atomically, then the slow store's
// volumes/<uuid>/key. If that second write fails, the volume's next snapshot
// publishes the new object and *note says so. Data, blobs and every other
// object are untouched: the master key stays the same.
//
// Errors: EINVAL for a volume that is not encrypted or a missing file
// argument; EACCES "wrong passphrase" when key_file does not open the key
// object; the key files' own errors (crypto/key_file.h); EBUSY while mounted.
//
// Thread-safety: no shared state.
#pragma once

#include <string>

#include "amberfs/status.h"

namespace amberfs {

Status ChangeVolumeKey(const std::string& voldir, const std::string& key_file, const std::string& new_key_file,
                       const std::string& s3_credentials, std::string* note);

}  // namespace amberfs
