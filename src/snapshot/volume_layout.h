// Volume layout: the one place that names what a volume keeps where, in its
// directory (VOLDIR) and in its slow store, and the volume uuid's forms.
//
// Why in src/snapshot and not src/volume: the snapshot layer is the lowest
// that needs these names (the catalog, the snapshot base, the change tracker's
// file for a restore, the slow-store refs) and the uuid's byte form (a
// snapshot record carries it). Dependencies point downward only, so volume
// and fsck include this from above and the snapshot layer never includes
// anything of src/volume. The tools need none of it: they go through the
// public headers.
//
// VOLDIR (docs/FORMATS.md and man/amberfs.5 document each entry):
//   config         the volume config (amberfs/volume_config.h)
//   image          the image, unless the config names another path
//                  (kDefaultImageName, in amberfs/volume_config.h because
//                  VolumeConfig's default needs it in a public header)
//   lock           flock(2)ed by the one process that has the volume
//   mounted        the marker of a mount that has not shut down cleanly
//   mounted.spare  the marker's file while the volume is clean, kept so that
//                  marking a mount needs no new disk space (volume_lock.h)
//   changes        the change tracker's state
//   changes.resize the tracker at a new size while mkfs.amberfs --resize
//                  runs (amberfs/volume_resize.h)
//   snapshot-base  the base snapshot's record pointer (snapshot_pointers.h)
//   rollback-intent  present while a rollback is unfinished (rollback_intent.h)
//   catalog/       one file per committed snapshot (catalog.h)
//   fast/          the fast store (a PackedDiskStore: packs/, index/, blobs/, refs)
//   upload.log     the PairedStore's upload log (and upload.log.compact
//                  while UploadLog compacts it; store/upload_log.h names that)
//   archive/       the default slow store (file://VOLDIR/archive)
//   remote         a clone's chunks still only in the slow store, and
//   remote.log     the chunks fetched since (remote_chunks.h); absent
//                  on any volume that is not an unhydrated clone
//
// Slow store refs of a volume (store.h for the ref namespace):
//   volumes/<uuid>/config           a copy of VOLDIR/config
//   volumes/<uuid>/snapshots/<name> a snapshot's record pointer
//   volumes/<uuid>/base             the base's record pointer, published when
//                                   the snapshot that is the base is deleted
//
// Volume uuid: text "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lowercase hex) in
// the config and in ref names; 16 raw bytes in snapshot records.
//
// Thread-safety: constants and pure functions (NewVolumeUuid reads getrandom).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "amberfs/status.h"

namespace amberfs {

// Entries of VOLDIR.
inline constexpr const char* kConfigFile = "config";
inline constexpr const char* kLockFile = "lock";
inline constexpr const char* kMountedMarker = "mounted";
inline constexpr const char* kSpareMarker = "mounted.spare";
inline constexpr const char* kChangesFile = "changes";
inline constexpr const char* kResizeChangesFile = "changes.resize";
inline constexpr const char* kSnapshotBaseFile = "snapshot-base";
inline constexpr const char* kRollbackIntentFile = "rollback-intent";
inline constexpr const char* kCatalogDir = "catalog";
inline constexpr const char* kFastStoreDir = "fast";
inline constexpr const char* kUploadLogFile = "upload.log";
inline constexpr const char* kDefaultSlowStoreDir = "archive";
inline constexpr const char* kRemoteChunksFile = "remote";
inline constexpr const char* kRemoteLogFile = "remote.log";
// The key object of an encrypted volume (crypto/key_object.h), mode 0600.
inline constexpr const char* kKeyFile = "key";
// Room kept for delete and gc on a full file system (base/space_reserve.h).
inline constexpr const char* kSpaceReserveFile = "reserve";
inline constexpr uint64_t kSpaceReserveBytes = 4ull << 20;

// VOLDIR/name.
std::string VolumePath(const std::string& voldir, std::string_view name);

// Slow-store refs of the volume with this (text) uuid.
std::string VolumeConfigRef(std::string_view uuid);
// volumes/<uuid>/key: the key object (crypto/key_object.h) of an encrypted volume.
std::string VolumeKeyRef(std::string_view uuid);
std::string SnapshotRefPrefix(std::string_view uuid);  // "volumes/<uuid>/snapshots/"
std::string SnapshotRef(std::string_view uuid, std::string_view name);
std::string BaseRef(std::string_view uuid);

using VolumeUuid = std::array<uint8_t, 16>;

// A fresh random uuid (getrandom), "xxxxxxxx-xxxx-4xxx-Nxxx-xxxxxxxxxxxx"
// (RFC 4122 version 4).
Result<std::string> NewVolumeUuid();
// Text <-> 16 bytes; EINVAL for text of any other form.
Result<VolumeUuid> ParseVolumeUuid(std::string_view text);
std::string FormatVolumeUuid(const VolumeUuid& uuid);

}  // namespace amberfs
