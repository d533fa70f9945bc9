// Replay of an upload log's bytes: which entries are pending, which were
// lost, which carry blob data, and where the good records end. Pure: reading
// the file and repairing it (truncating a torn tail, rewriting around corrupt
// records) is the caller's (upload_log.cc), and fsck's read-only Scan.
//
// The rules (see upload_log.h for why):
//   - Records are read in order; a queued record (blob-queued, blob-data,
//     ref-queued, blob-deleting) makes its seq pending, replacing what earlier records of
//     the seq said (it is no longer lost, and only a blob-data record gives
//     it data); a done record settles it, a blob-lost record settles it and
//     lists the blob as lost.
//   - A 64-byte slot that is no valid record is bad. Bad slots before a good
//     record are corrupt records (skipped); after the last good record they
//     are the torn tail.
//   - A blob-data record whose header passes its own check but whose payload
//     is bad is stepped over whole. If a good record follows, its entry is
//     pending (without its data); if not, it is part of the torn tail. So is
//     such a header whose payload runs past the end.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "store/upload_log_record.h"

namespace amberfs {

struct UploadLogReplay {
  // Where a pending blob-data entry's record is.
  struct DataSpan {
    uint64_t offset = 0;  // of the record's header
    uint32_t length = 0;  // payload bytes
  };
  std::map<uint64_t, UploadEntry> pending;
  std::map<uint64_t, Pointer> lost;
  std::map<uint64_t, DataSpan> data;                 // pending blob-data entries
  std::map<uint64_t, std::vector<uint8_t>> carried;  // their bytes (with keep_data)
  uint64_t data_bytes = 0;                           // padded blob-data payloads, settled or not
  uint64_t next_seq = 1;
  size_t good_end = 0;  // end of the last good record
  size_t good_records = 0;
  size_t bad_before_good = 0;  // bad 64-byte slots with good records after them
};

UploadLogReplay ReplayUploadLog(std::span<const uint8_t> bytes, bool keep_data = false);

}  // namespace amberfs
