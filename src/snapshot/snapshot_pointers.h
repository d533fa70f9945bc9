// Snapshot pointers outside the catalog: the two places besides a catalog
// entry that hold a snapshot's record pointer.
//
// The base, VOLDIR/snapshot-base: the record of the last committed snapshot
// (snapshotter.h says what it is for). Absent means "no snapshot yet": the
// base root is null (the empty volume). File format (for man/amberfs.5), 56
// bytes, little-endian, written atomically (temp + fsync + rename):
//   0  8  magic "AMBRBASE"   8  4  version (1)   12  4  zero
//   16 32 record pointer     48 8  xxh3-64 of bytes 0..47
//
// A snapshot ref's value (volumes/<uuid>/snapshots/<name> and
// volumes/<uuid>/base in the slow store, volume_layout.h): the record pointer
// as 64 lowercase hex digits and "\n".
//
// Errors: EBADMSG for a corrupt base file or a malformed ref value; file
// errors as they come.
//
// Thread-safety: stateless functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "amberfs/status.h"
#include "store/pointer.h"

namespace amberfs {

Status WriteSnapshotBase(const std::string& voldir, const Pointer& record);
// Null pointer when the file is absent.
Result<Pointer> ReadSnapshotBase(const std::string& voldir);

std::string EncodeSnapshotRefValue(const Pointer& record);
Result<Pointer> DecodeSnapshotRefValue(std::span<const uint8_t> bytes);

}  // namespace amberfs
