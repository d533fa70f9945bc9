// Catalog: the committed snapshots of a volume, kept in VOLDIR/catalog/.
//
// One small file per snapshot, named after the snapshot, holding its name,
// creation time and record pointer (see snapshot_record.h). A snapshot is
// committed exactly when its file exists: Add writes the file to a temporary
// name, fsyncs it, renames it into place with RENAME_NOREPLACE and fsyncs the
// directory, so a crash leaves the entry wholly present or wholly absent, and
// a taken name is EEXIST with nothing changed. Remove unlinks and fsyncs the
// directory.
//
// Entry format (for man/amberfs.5), little-endian, exactly 64 + n bytes:
//   0   8  magic "AMBRCATE"
//   8   4  version (1)
//   12  4  name length n (1 .. 64)
//   16  8  creation time, UTC nanoseconds since 1970-01-01
//   24 32  record pointer (never null)
//   56  n  name, equal to the file's name
//   56+n 8 xxh3-64 of bytes 0 .. 55+n
// Temporary files have IsTempName names (no snapshot name can); Open removes
// stale ones left by a crash.
//
// Errors: EINVAL for an invalid name or a null record pointer (nothing
// written); ENOENT for a missing entry; EEXIST from Add for a taken name;
// EBADMSG for a corrupt entry or a stray file in catalog/, naming the file.
// List never skips a corrupt entry silently: without `problems` it fails with
// EBADMSG; with it, it returns the good entries and one EBADMSG Status per
// bad one, so a mount can still serve the rest while reporting them.
//
// Thread-safety: every method may be called concurrently; each operation is
// atomic on disk. Serialising snapshot/delete/rollback is the caller's job.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/pointer.h"
#include "amberfs/status.h"

namespace amberfs {

struct CatalogEntry {
  std::string name;
  uint64_t created_ns = 0;
  Pointer record;

  friend bool operator==(const CatalogEntry&, const CatalogEntry&) = default;
};

std::vector<uint8_t> EncodeCatalogEntry(const CatalogEntry& entry);
// Strict: EBADMSG for anything malformed, including a name other than file_name
// or one that is not a valid snapshot name.
Result<CatalogEntry> DecodeCatalogEntry(std::span<const uint8_t> bytes, std::string_view file_name);

class Catalog {
 public:
  // Opens VOLDIR/catalog, creating it (durably) if absent.
  static Result<std::unique_ptr<Catalog>> Open(const std::string& voldir);
  // For readers outside the process that has the volume (amberctl list): opens
  // an existing VOLDIR/catalog without creating it or removing temp files, so
  // nothing changes (ENOENT if it is missing). Only List and Get are for it.
  static Result<std::unique_ptr<Catalog>> OpenForReading(const std::string& voldir);

  // Sorted by creation time, then name.
  Result<std::vector<CatalogEntry>> List(std::vector<Status>* problems = nullptr) const;
  Result<CatalogEntry> Get(std::string_view name) const;
  Status Add(const CatalogEntry& entry);
  Status Remove(std::string_view name);

  const std::string& dir() const { return dir_; }

 private:
  explicit Catalog(std::string dir) : dir_(std::move(dir)) {}
  const std::string dir_;
};

}  // namespace amberfs
