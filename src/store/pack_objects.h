// Packs as slow-store objects (docs/FORMATS.md, "Slow store layout"): where
// a sealed pack lives in a store, how one is checked before it is stored,
// and the ranged read of one blob out of it.
//
//   packs/<first two hex digits>/<64 hex digits of the pack's name>
//   index/<first two hex digits>/<64 hex digits of the pack's name>
//
// A pack object holds exactly the pack's bytes (pack_format.h); its name is
// PackName of its tail, so the object name commits to every byte. The index
// object holds a copy of the pack's tail (entry table and trailer), so a
// reader learns where every blob of a pack lies with one small GET instead
// of two ranged ones, and a listing of index/ lists the packs.
//
// Crash safety: PutPack stores the pack, then its index object; DeletePack
// removes the index object, then the pack. So an index object always has
// its pack (a crash between the two leaves at most a pack without index
// object: unlisted, its space lost until a later sweep; never an index
// naming blobs that are not there).
//
// GetPackedBlob asks the store for the blob's byte range only (S3: one GET
// with a Range header; a directory: one pread) and checks the bytes against
// the blob's SHA-256: a store is never trusted to have checked. Errors:
// ENOENT (no such pack: its message names the pack and the store), EBADMSG
// (the pack is shorter than the range, or the bytes are not the blob).
// GetPackIndex checks the index object as strictly as a pack's tail
// (pack_format.h) and against the pack's name: a damaged or swapped index
// object is EBADMSG.
//
// Thread-safety: pure functions, or the store's own.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/status.h"
#include "store/blob_index_format.h"
#include "store/pack_format.h"
#include "store/pointer.h"

namespace amberfs {

class Store;

inline constexpr std::string_view kPackObjectPrefix = "packs/";
inline constexpr std::string_view kPackIndexObjectPrefix = "index/";

// "packs/ab/<64 hex>".
std::string PackObjectName(const Pointer& pack);
// "index/ab/<64 hex>".
std::string PackIndexObjectName(const Pointer& pack);

// What the Store object primitives accept (store.h): exactly
// "packs/<ab>/<64 hex>" or "index/<ab>/<64 hex>", lowercase, <ab> the first
// two of the 64. EINVAL otherwise, the name in the message.
Status ValidateObjectName(std::string_view name);
// A ListObjects prefix: "packs/" or "index/" (EINVAL otherwise).
Status ValidateObjectPrefix(std::string_view prefix);
// The pack a valid object name is of (the 64 hex digits).
Pointer ObjectNamePack(std::string_view name);

// The checks a store makes before storing pack bytes under `name`: they
// decode as a pack (trailer and table; a sealed table only its size and
// checksum, since a store holds no key) and name is PackName of their tail.
// EINVAL naming `store` otherwise.
Status CheckPackBytes(const Pointer& name, std::span<const uint8_t> bytes, const std::string& store);

// Checks the pack (CheckPackBytes), stores it, then its index object.
Status PutPack(Store& store, const Pointer& name, std::span<const uint8_t> pack);
// The entries of pack `name`, from its index object (ENOENT if absent);
// with pack_size, also the pack's size in bytes. A sealed table (an
// encrypted volume's pack) is opened with `tables`: EACCES without them or
// under another key (another volume's pack, not damage).
Result<std::vector<PackEntry>> GetPackIndex(Store& store, const Pointer& name, const PackTableCodec* tables,
                                            uint64_t* pack_size = nullptr);
// Decodes the bytes of pack `name`'s index object (GetPackIndex without the
// read); `what` names it in errors (EBADMSG).
Result<std::vector<PackEntry>> DecodePackIndexObject(const Pointer& name, std::span<const uint8_t> tail,
                                                     const std::string& what, const PackTableCodec* tables,
                                                     uint64_t* pack_size = nullptr);
// The blob at `where` (its pack, offset and length), read by range from
// store and verified against blob's SHA-256.
Result<std::vector<uint8_t>> GetPackedBlob(Store& store, const Pointer& blob, const BlobLocation& where);
// Calls fn for every pack that has an index object, in name order; stops at
// and returns fn's first error.
Status ListPacks(Store& store, const std::function<Status(const Pointer& pack)>& fn);
// Removes the index object, then the pack. OK if absent.
Status DeletePack(Store& store, const Pointer& name);

}  // namespace amberfs
