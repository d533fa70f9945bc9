// RemoteChunks: which chunks of a clone are still only in the slow store.
//
// A clone (mkfs.amberfs --clone) starts with a sparse image and the snapshot
// it was made from as its base. Every chunk that is not null in that
// snapshot is *remote*: the image does not hold it yet, and its bytes are
// the base snapshot's blob for that chunk. A remote chunk becomes *local*
// once it has been fetched and written into the image; it never becomes
// remote again. A volume without these files has no remote chunks.
//
// Files (docs/FORMATS.md, "Remote chunks"):
//   VOLDIR/remote      header (the origin snapshot's name and record), then
//                      one bit per chunk (1 = remote), then an xxh3-64 of
//                      the whole; written whole and renamed into place
//                      (Create, and Compact when the log has grown)
//   VOLDIR/remote.log  24-byte records "chunks [first, first+count) are
//                      local", appended with one write and one fdatasync per
//                      MarkLocal; a record that fails its checks, and
//                      everything after it, is a torn tail: cut off at Open
//
// Crash safety: the caller writes and fdatasyncs a chunk's bytes into the
// image *before* MarkLocal, and lets no write reach a chunk before MarkLocal
// has returned. So a crash before the record is durable leaves the chunk
// remote, and fetching it again writes the same bytes over the same hole;
// a crash after leaves it local with its bytes in place.
//
// When the last chunk becomes local, MarkLocal removes both files (remote
// first, durably), so the volume is an ordinary one from then on.
//
// Errors: EBADMSG for a damaged `remote` (wrong magic, version, size or
// checksum; a count of set bits that disagrees with the header), naming the
// file; I/O errors annotated with the path.
//
// Thread-safety: none; the Hydrator serializes calls under its mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "amberfs/status.h"
#include "base/unique_fd.h"
#include "store/pointer.h"

namespace amberfs {

struct RemoteOrigin {
  std::string snapshot;  // the clone's own catalog name of the snapshot it was made from
  Pointer record;        // that snapshot's record in the clone's catalog
};

class RemoteChunks {
 public:
  // Writes VOLDIR/remote (durably, VOLDIR synced) with `remote` set (in any
  // order; a chunk listed twice counts once), and an empty remote.log.
  // Fails with EEXIST if VOLDIR has one already.
  static Status Create(const std::string& voldir, const RemoteOrigin& origin, uint64_t chunk_count,
                       const std::vector<uint64_t>& remote);
  // The volume's remote chunks, or nullptr when VOLDIR has no `remote` (a
  // leftover remote.log without it is removed). read_only: the torn tail of
  // the log is ignored, not cut off, and the files are never written.
  static Result<std::unique_ptr<RemoteChunks>> Open(const std::string& voldir, bool read_only = false);

  const RemoteOrigin& origin() const { return origin_; }
  uint64_t chunk_count() const { return chunk_count_; }
  uint64_t remaining() const { return remaining_; }
  bool IsRemote(uint64_t chunk) const {
    return chunk < chunk_count_ && (bits_[chunk / 8] >> (chunk % 8) & 1) != 0;
  }
  // The next remote chunk at or after `from`, if any.
  std::optional<uint64_t> NextRemote(uint64_t from) const;

  // Records `chunks` (each remote, ascending) as local: one append and one
  // fdatasync of the log, then the bits. On an error nothing changes in
  // memory. Compacts the log into `remote` when it has grown past
  // kCompactLogBytes; removes both files once nothing is remote.
  Status MarkLocal(const std::vector<uint64_t>& chunks);

  static constexpr uint64_t kCompactLogBytes = 1 << 20;

 private:
  RemoteChunks() = default;
  Status Compact();
  Status RemoveFiles();

  std::string voldir_;
  RemoteOrigin origin_;
  uint64_t chunk_count_ = 0;
  uint64_t remaining_ = 0;
  std::vector<uint8_t> bits_;
  UniqueFd log_;
  uint64_t log_bytes_ = 0;
  bool read_only_ = false;
};

}  // namespace amberfs
