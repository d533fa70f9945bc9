// ListVolumeSnapshots: a volume's snapshots as `amberctl list` shows them,
// read from outside the process that has the volume, mounted or not.
//
// Strictly a reader: it takes no lock (a running mount keeps its volume) and
// changes nothing in VOLDIR or the stores: the catalog is opened without the
// cleanup a mount does, the fast store and a file:// slow store without
// removing anyone's temp files. What it reads:
//   - VOLDIR/config (the volume's uuid and slow store) and VOLDIR/catalog/;
//   - with `sizes`: each snapshot's record and index nodes (from the fast
//     store, else the slow store) to add up the blobs it reaches; chunk blobs
//     are counted by the record's chunk size, never read;
//   - with `uploads`: the slow store's ref volumes/<uuid>/snapshots/<name>.
// A snapshot whose record or tree cannot be read, or a slow store that cannot
// be opened, does not fail the listing: the figures it could not get are
// marked unknown and `problem` says why.
//
// Figures:
//   logical_bytes  the volume size the snapshot captured (from its record)
//   stored_bytes   the distinct blobs it reaches: record, index nodes and
//                  chunks (all-zero chunks cost nothing; a chunk stored once
//                  and used twice counts once)
//   unique_bytes   of those, the bytes no other snapshot in the catalog
//                  reaches: at most what deleting it and a gc free (the base
//                  of the next snapshot and other volumes sharing the slow
//                  store may keep some)
//
// Errors (Status): EINVAL/ENOENT when VOLDIR is not a volume (its config
// message says so), the catalog's errors when it cannot be read at all, and
// EBADMSG for a corrupt catalog entry (named in the message).
//
// Thread-safety: re-entrant; the cost is one walk of each snapshot's index,
// shared subtrees read once per snapshot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "amberfs/status.h"

namespace amberfs {

struct SnapshotListing {
  std::string name;
  uint64_t created_ns = 0;  // UTC nanoseconds since 1970-01-01
  std::string record;       // the record pointer, 64 hex digits
  std::optional<uint64_t> logical_bytes;
  std::optional<uint64_t> stored_bytes;
  std::optional<uint64_t> unique_bytes;
  // True: the slow store names this snapshot (every blob is there). False:
  // not yet (uploads pending, or lost). Absent: not asked, or unknown.
  std::optional<bool> uploaded;
  std::string problem;  // why a figure is unknown ("" if none is)
};

struct ListSnapshotsOptions {
  bool sizes = true;    // walk the trees for stored_bytes and unique_bytes
  bool uploads = true;  // ask the slow store which snapshots it names
  std::string s3_credentials;  // AWS credentials file ("" = environment)
  std::string key_file;        // an encrypted volume's passphrase file; without it its sizes are unknown
};

// Sorted by creation time, then name.
Result<std::vector<SnapshotListing>> ListVolumeSnapshots(const std::string& voldir,
                                                         const ListSnapshotsOptions& options);

}  // namespace amberfs
