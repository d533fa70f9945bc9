// Restore downloads: how RestoreImage fetches a snapshot's chunks from a
// slow store whose blobs lie in packs (slow_packs.h): by ranges of whole
// packs, one request for many chunks, instead of one request a chunk.
//
// PlanDownloads groups the chunks by the pack the store's map names (blobs
// not in a pack, or a store that is not a SlowPacks, are single downloads:
// store->Get). Within a pack the wanted blobs, in offset order, are
// coalesced into ranges: a gap of more than kMaxDownloadGap bytes, or a
// range reaching kMaxDownloadBytes, starts a new one. A range's blobs are
// then listed, and handed on, in the order of the first chunk each fills (a
// pack's chunks are in the order the snapshot hashed them, not adjacent
// ones together). A blob wanted at several chunk positions is fetched once
// and written at each.
//
// FetchDownload reads one range with one request (GetObjectRange of the
// pack object) and returns each blob's bytes, every one checked against its
// SHA-256 (EBADMSG naming the blob and the pack); a single download is
// store->Get, which verifies too.
//
// FetchAll runs every download on `threads` threads and hands each blob's
// verified bytes to `got` (called from those threads, concurrently for
// different blobs), each blob once. A blob is checked just before it is
// handed on; a download whose range fails, from its first blob that fails
// its check on, is fetched blob by blob with store->Get (another copy, a
// loose one), logged. The first error, of a fetch or of `got`, stops the
// rest and is returned. Decoded's sink decodes into one buffer a thread.
//
// Thread-safety: pure functions, or the store's own.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "amberfs/status.h"
#include "snapshot/volume_codec.h"
#include "store/blob_index_format.h"
#include "store/pointer.h"
#include "store/store.h"

namespace amberfs {

inline constexpr uint64_t kMaxDownloadGap = uint64_t{1} << 20;
inline constexpr uint64_t kMaxDownloadBytes = uint64_t{32} << 20;

struct WantedBlob {
  Pointer id;
  BlobLocation where;           // pack null: a single download
  std::vector<uint64_t> chunks;  // where it goes in the volume
};

struct Download {
  Pointer pack;  // null: one blob, by store->Get
  uint64_t offset = 0, length = 0;  // the range of the pack object
  std::vector<WantedBlob> blobs;    // by their first chunk
};

// The downloads that fetch every (chunk, pointer) of chunks.
Result<std::vector<Download>> PlanDownloads(Store* store, const std::vector<std::pair<uint64_t, Pointer>>& chunks);

// The bytes of each blob of d, in d.blobs' order.
Result<std::vector<std::vector<uint8_t>>> FetchDownload(Store* store, const Download& d);

// bytes are the blob's as stored, checked against its id, and valid only
// during the call (a view into the range fetched).
using BlobSink = std::function<Status(const WantedBlob& blob, std::span<const uint8_t> bytes)>;
Status FetchAll(Store* store, const std::vector<Download>& downloads, int threads, const BlobSink& got);
// A sink that hands `got` each blob's plaintext (VolumeCodec::Decode as role).
BlobSink Decoded(const VolumeCodec& codec, BlobRole role, BlobSink got);

}  // namespace amberfs
