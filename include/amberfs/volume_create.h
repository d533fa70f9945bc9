// CreateVolume: what mkfs.amberfs does, as a library call.
//
// Lays out a volume directory:
//   VOLDIR/config     the VolumeConfig (written last: a volume exists once it does)
//   VOLDIR/image      the sparse image, unless an image path is given
//   VOLDIR/fast/      the fast blob store (filled by later layers)
//   VOLDIR/catalog/   the local snapshot catalog (filled by later layers)
//   VOLDIR/archive/   the slow store, when the default file://VOLDIR/archive is used
//   VOLDIR/lock       the flock of VolumeLock (created by the first user)
//
// The image: without `image`, VOLDIR/image is created sparse with `size`
// bytes. With `image`, a path that does not exist is created the same way; an
// existing regular file or block device is used as it is, contents included,
// and its size must equal `size` (when `size` is 0 the image's size is taken).
//
// The slow store: an s3:// store is checked before anything is changed (its
// bucket must answer; a missing bucket is created, as `restic init` does); a
// store that cannot be used (denied, another region, endpoint down) fails the
// creation with its error and nothing changed. A file:// store must be a
// writable directory or not exist yet. on_slow_store hears what was found.
//
// Refusals (EINVAL unless noted), all before anything is changed: bad geometry
// (see VolumeConfig), a bad slow URL, a missing size, an image of another size
// or of another type, a VOLDIR that is not a directory. EEXIST: VOLDIR already
// holds a volume or other files and `force` is not set. EBUSY: the volume is
// mounted. With `force`, the old config, the image inside VOLDIR, fast/,
// catalog/ and the mounted marker are removed first; an image outside VOLDIR
// and the archive are left alone. If creation fails after that point, what was
// created is removed again (the old volume is then gone: that is what --force
// asks for).
//
// Thread-safety: one caller per VOLDIR (the lock makes a concurrent mount fail).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "amberfs/status.h"
#include "amberfs/volume_config.h"

namespace amberfs {

struct CreateVolumeOptions {
  std::string voldir;
  uint64_t size = 0;  // 0 = take the size of an existing image
  uint32_t block_size = kDefaultBlockSize;
  uint32_t chunk_size = kDefaultChunkSize;
  std::string image;     // "" = VOLDIR/image
  std::string slow_url;  // "" = file://VOLDIR/archive
  bool force = false;
  std::string s3_credentials;  // credentials file for an s3:// slow_url ("" = environment)
  bool compress = true;        // --compress zstd (true) | none
  // Encryption (--key-file): a new master key wrapped under this file's
  // passphrase, or a key object as it is (a restore keeps its source's).
  std::string key_file;
  std::vector<uint8_t> key_object;
  bool check_slow_store = true;  // check (and create) the slow store first
  // Called with what the slow-store check found ("bucket amb created").
  std::function<void(const std::string&)> on_slow_store;
};

Result<VolumeConfig> CreateVolume(const CreateVolumeOptions& options);

// An absolute, normalized form of `path` (which need not exist), without a
// trailing slash.
std::string AbsolutePath(const std::string& path);

}  // namespace amberfs
