// VolumeConfig: the volume's identity and geometry, kept in VOLDIR/config.
//
// The file is text, one "key value" per line, in this order:
//   amberfs-volume 3                      magic and format version (2 or 3)
//   uuid 8c1f...-...                      random (RFC 4122 version 4)
//   size 1073741824                       bytes, a multiple of chunk_size
//   block_size 4096                       cache block, power of two, 512..64K
//   chunk_size 65536                      snapshot chunk, power of two, max(4K, block_size)..64M
//   image image                           relative = inside VOLDIR
//   slow file:///srv/vol/archive          slow store URL (absolute)
//   compress zstd                         (format 3) zstd | none
//   encryption none                       (format 3) aes-256-gcm | none
//   checksum xxh3 0123456789abcdef        XXH3_64bits of every byte above
// man/amberfs.5 documents it. The checksum catches a torn or hand-edited file;
// Parse then fails with EINVAL and says so. Unknown keys, a missing key, a
// duplicate, a newer version, or values that break the rules above are EINVAL
// too: a config is either fully understood or refused.
//
// Store() writes atomically (WriteFileAtomic of durable_file.h): a temporary
// file, fsync, rename over the config, fsync of the directory. A crash leaves
// the old or the new file, never a mix. The slow URL is checked with the
// store_url parser; mkfs stores its canonical form.
//
// Thread-safety: VolumeConfig is a value; the functions keep no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "amberfs/status.h"

namespace amberfs {

// 2: the fast store keeps a snapshot's blobs in packs (docs/FORMATS.md,
// "Packs"); 1 kept one file per blob. Other versions are refused, with no
// migration.
// 3: blobs in the stores go through the volume's codec (compress, encryption
// lines; docs/FORMATS.md, "Encryption and compression"). 2 is read as
// compress none, encryption none, and stays 2 when rewritten.
inline constexpr int kVolumeFormatVersion = 3;
inline constexpr int kOldestVolumeFormat = 2;
inline constexpr uint32_t kDefaultBlockSize = 4096;
inline constexpr uint32_t kDefaultChunkSize = 65536;
// VOLDIR/image, the image unless mkfs was given another path (the other names
// in VOLDIR are internal; they and this one are listed in volume_layout.h).
inline constexpr const char* kDefaultImageName = "image";

struct VolumeConfig {
  std::string uuid;
  uint64_t size = 0;
  uint32_t block_size = kDefaultBlockSize;
  uint32_t chunk_size = kDefaultChunkSize;
  std::string image = kDefaultImageName;  // relative to VOLDIR, or absolute
  std::string slow_url;
  int format = kVolumeFormatVersion;  // 2 or 3; 2 has neither of the two below
  bool compress = true;    // "compress zstd|none"
  bool encrypted = false;  // "encryption aes-256-gcm|none": VOLDIR/key holds the wrapped master key

  // Checks every rule of the format (geometry, uuid shape, paths, URL syntax).
  Status Validate() const;
  // The file's bytes, checksum line included. Call on a validated config.
  std::string Serialize() const;
  static Result<VolumeConfig> Parse(std::string_view text);

  // The image path resolved against the volume directory.
  std::string ImagePath(const std::string& voldir) const;

  static Result<VolumeConfig> Load(const std::string& voldir);
  Status Store(const std::string& voldir) const;
};

// The geometry rules of the format (block, chunk and volume size), the same
// for mkfs and mount: every config Validate accepts is one the cache and the
// snapshot layer accept too. EINVAL saying which rule is broken.
Status ValidateVolumeGeometry(uint64_t size, uint32_t block_size, uint32_t chunk_size);

// The slow store URL every volume gets unless told otherwise.
std::string DefaultSlowUrl(const std::string& absolute_voldir);

}  // namespace amberfs
