// The upload log's records (upload_log.h): their encoding and decoding, with
// the checksums that let replay tell a record from a torn or damaged one.
//
// FILE FORMAT (for man/amberfs.5). The file is a sequence of 64-byte records,
// all integers little-endian. A ref-queued record is followed by its payload,
// padded with zeros to a multiple of 64 bytes, so every record starts at an
// offset that is a multiple of 64. So is a blob-data record.
//
//   offset size field
//        0    4 magic        "AMUL" (0x41 0x4d 0x55 0x4c)
//        4    1 version      1
//        5    1 type         1 blob-queued  2 blob-done  3 ref-queued
//                            4 ref-done     5 blob-lost    6 blob-data
//                            7 blob-deleting  8 pack-queued
//        6    2 reserved     0
//        8    8 seq          blob-queued/ref-queued/blob-data/blob-deleting/
//                            pack-queued:
//                            this entry's
//                            sequence number (strictly increasing, never
//                            reused);
//                            *-done, blob-lost: the seq of the queued entry
//                            they settle; never 2^64-1 (a record holding it
//                            is invalid: no seq could follow it)
//       16    4 payload_len  ref-queued, blob-data: length of the payload;
//                            otherwise 0
//       20    4 header_check blob-data: see below; otherwise 0
//       24   32 key          blob records: the blob's SHA-256; ref-queued:
//                            the SHA-256 of the ref's data; pack-queued:
//                            the pack's name (pack_format.h); blob-lost:
//                            the blob or pack of the entry; otherwise zero
//       56    8 checksum     XXH3_64bits (seed 0) of bytes 0..55 followed by
//                            the padded payload
//
//   ref-queued payload: u16 name_len, the ref name (name_len bytes, a valid
//   ref name, see store.h), then the ref's data (payload_len - 2 - name_len
//   bytes, at most kUploadMaxRefData).
//   blob-data payload: the blob's bytes (at most kUploadMaxBlobData).
//
// blob-deleting is a delete in progress (written before the slow copy is
// deleted, settled by a blob-done record once the fast copy is gone too): a
// crash in between leaves it pending, and the next open finishes the delete
// in the fast store instead of taking the fast copy for a blob the slow
// store lost.
//
// A blob-data header carries its own check (bytes 20..23: the low 32 bits of
// XXH3_64 of bytes 0..55 with 20..23 zeroed), so replay may trust its length
// when the payload is damaged (TrustedDataRecord) and step over the payload
// whole: blob bytes are user data and may look like records.
//
// pack-queued is the upload of a sealed pack of the fast store (one slow
// object for all its blobs; pack_objects.h); it is settled by a blob-done
// record, or a blob-lost one if the pack can no longer be read anywhere.
//
// A record is valid when its magic, version, type, lengths, checksum (and for
// blob-data the header check) hold, it lies wholly in the bytes given, and a
// ref-queued payload holds a valid ref name whose data hashes to the key. A
// blob-data payload is checked by the checksum only: hashing every blob at
// replay would cost more than it guards (the fast store verifies the SHA-256
// when the bytes are written back).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "store/pointer.h"

namespace amberfs {

inline constexpr size_t kUploadRecordSize = 64;
inline constexpr size_t kUploadMaxRefData = 1 << 20;
inline constexpr size_t kUploadMaxBlobData = 4 << 20;

enum class UploadRecordType : uint8_t {
  kBlobQueued = 1,
  kBlobDone = 2,
  kRefQueued = 3,
  kRefDone = 4,
  kBlobLost = 5,
  kBlobData = 6,
  kBlobDeleting = 7,
  kPackQueued = 8,
};

// An upload the log owes: a blob, a pack of the fast store (kPack: key is
// the pack's name), or a ref with its data; or a delete of a blob in
// progress (kDelete).
struct UploadEntry {
  enum class Kind { kBlob, kRef, kDelete, kPack };
  uint64_t seq = 0;
  Kind kind = Kind::kBlob;
  Pointer key;                    // the blob, or the SHA-256 of ref_data
  std::string ref_name;           // kRef only
  std::vector<uint8_t> ref_data;  // kRef only
  bool logged_data = false;       // kBlob: the blob's bytes are in the log (blob-data)
  // kPack: the pack's blobs, filled in by the owner at open from the pack
  // itself (the log holds only the pack's name).
  std::vector<Pointer> pack_blobs;
};

// The bytes a payload of `size` bytes takes in the file (whole records).
size_t PaddedPayloadSize(size_t size);

// One record, header and padded payload. The caller keeps the limits above.
std::vector<uint8_t> EncodeUploadRecord(UploadRecordType type, uint64_t seq, const Pointer& key,
                                        std::span<const uint8_t> payload = {});
// The record that queues e: blob-queued, blob-deleting, pack-queued, or
// ref-queued with its name and data.
std::vector<uint8_t> EncodeQueuedRecord(const UploadEntry& e);

struct DecodedUploadRecord {
  UploadRecordType type = UploadRecordType::kBlobQueued;
  // seq and key of any record; kind tells blob records from ref ones; a
  // ref-queued record fills in the ref, a blob-data record logged_data.
  UploadEntry entry;
  uint32_t payload_size = 0;
  size_t length = 0;  // header and padded payload
};

// The valid record at the start of `bytes`, if there is one.
std::optional<DecodedUploadRecord> DecodeUploadRecord(std::span<const uint8_t> bytes);

// A blob-data record whose header passes its own check; its payload may be
// bad, and may run past the bytes given (length says how far it should go).
struct TrustedDataRecord {
  uint64_t seq = 0;
  Pointer key;
  size_t length = 0;  // header and padded payload
};
std::optional<TrustedDataRecord> TrustedDataRecordAt(std::span<const uint8_t> bytes);

// Whether a file starting with `bytes` may be an upload log: it starts with
// the magic, or with zeros (a torn first write), or is too short to tell.
// Anything else is some other file, which must not be truncated as if it
// held a torn tail.
bool LooksLikeUploadLog(std::span<const uint8_t> bytes);

}  // namespace amberfs
