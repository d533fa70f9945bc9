// Store: a content-addressed blob store plus a few small named refs.
//
// Blobs are immutable and keyed by the SHA-256 of their bytes (Pointer).
// Every implementation verifies what it returns: Get hashes the bytes it read
// and reports a mismatch as EBADMSG ("blob <hex> is corrupt"), never returns
// bad bytes. A missing blob is ENOENT. Put of a key that is not the SHA-256
// of the data is EINVAL; Put of a blob that exists already is OK (idempotent);
// the null pointer is never stored (EINVAL). Delete of a missing blob is OK.
//
// Refs are small named objects (a volume config, a snapshot's record
// pointer), named by a relative path of components [A-Za-z0-9._-]+ joined by
// '/', no component starting with '.', at most 512 characters, the first
// component not "blobs", "packs" or "index" (where blobs live). Any other name
// is EINVAL before any path or URL is built from it. Refs are replaced whole
// (a reader sees the old or the new bytes, never a mix).
//
// Sizes: no blob is larger than kMaxBlobBytes (the largest chunk a volume can
// have) and no ref than kMaxRefBytes. A store reading an object larger than
// that reports it (a blob as corrupt, EBADMSG) instead of reading it whole
// into memory.
//
// Layout (the same in a directory and in an S3 bucket under its prefix):
//   blobs/<first two hex digits>/<64 hex digits>
//   <ref name>                    e.g. volumes/<uuid>/snapshots/<name>
//
// Thread-safety: every implementation is safe for concurrent calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/pointer.h"
#include "amberfs/status.h"
#include "base/aligned_buffer.h"

namespace amberfs {

class PackedDiskStore;

// No blob is larger: a snapshot chunk is at most 64 MiB (VolumeConfig's
// chunk-size limit), an index node at most 128 KiB, a record a few hundred
// bytes. A store refuses to read more for one blob (DiskStore and S3Store do).
// 64 MiB (the largest chunk) and room for a blob envelope's header and
// sealed-box overhead around it (crypto/blob_envelope.h: 72 bytes).
inline constexpr size_t kMaxBlobBytes = (size_t{64} << 20) + 4096;
// The most a ref's value may hold (a volume config, a snapshot ref, a lock
// marker are far smaller).
inline constexpr size_t kMaxRefBytes = size_t{1} << 20;

// A pack a batch sealed (a packed store's batch): its name and its blobs.
struct SealedPackBlobs {
  Pointer name;
  std::vector<Pointer> blobs;
};

// A group of blob Puts made durable together: one sync for the whole group
// instead of one (or three) per blob, for callers that store many blobs and
// need them durable only at a commit point (a snapshot).
//
// Put stages a blob: it may be written but is neither durable nor visible
// (Get/Contains/List may not see it) until Commit returns OK. The caller
// vouches that key is the SHA-256 of data (it has just hashed it); a store
// may skip checking, and every Get still verifies. Commit makes every staged
// blob durable and visible; after an error some may be and some not (each is
// whole or absent), and the batch must not be used again. A batch destroyed
// without a successful Commit discards what it staged.
// Thread-safety: Put may be called from several threads at once; Commit only
// once no Put is running. A batch must not outlive its store.
class PutBatch {
 public:
  virtual ~PutBatch() = default;
  virtual Status Put(const Pointer& key, std::span<const uint8_t> data) = 0;
  virtual Status Commit() = 0;
  // After a successful Commit: the packs it sealed, whose uploads carry
  // every blob this batch wrote; nullopt from a store without packs.
  virtual std::optional<std::vector<SealedPackBlobs>> SealedPacks() const { return std::nullopt; }
};

// A batch whose every Put and Commit fails with why (for a store that cannot
// put: read-only, or its directory unreachable).
std::unique_ptr<PutBatch> NewFailedPutBatch(Status why);


class Store {
 public:
  virtual ~Store() = default;

  // A short description for logs and errors, without credentials
  // ("file:///srv/archive", "s3://bucket/prefix").
  virtual std::string Describe() const = 0;

  virtual Status Put(const Pointer& key, std::span<const uint8_t> data) = 0;
  // A batch of Puts committed together (see PutBatch). The default batch is
  // plain Puts, each durable at once; stores where a sync is costly do better.
  virtual std::unique_ptr<PutBatch> NewPutBatch();
  virtual Result<std::vector<uint8_t>> Get(const Pointer& key) = 0;
  virtual Result<bool> Contains(const Pointer& key) = 0;
  virtual Status Delete(const Pointer& key) = 0;
  // The packed store this one is (PackedDiskStore) or wraps (a test's fault
  // injector), or null: what a PairedStore asks to upload packs, read blobs
  // by their pack's range and repack.
  virtual PackedDiskStore* packed_store() { return nullptr; }
  // Drops the local copy of a blob that is safe elsewhere (a fast store's
  // budget evicting what the slow store holds). A store that keeps where
  // the blob was (a packed store: its index entry, for a ranged read of the
  // slow copy) frees the space once a whole pack is evicted; by default
  // this is Delete.
  virtual Status Evict(const Pointer& key) { return Delete(key); }
  // Gives back the disk space that Deletes so far left in use (a packed
  // store: the packs none of whose blobs is live any more), and returns the
  // bytes freed. A store whose Delete frees at once does nothing (0). Meant
  // for the end of a sweep (gc, fsck -y), not for every Delete: it may cost
  // a pass over the store's index.
  virtual Result<uint64_t> ReclaimDeleted() { return uint64_t{0}; }
  // Calls fn for every blob key; stops at and returns fn's first error.
  virtual Status List(const std::function<Status(const Pointer&)>& fn) = 0;

  virtual Status PutRef(std::string_view name, std::span<const uint8_t> data) = 0;
  virtual Result<std::vector<uint8_t>> GetRef(std::string_view name) = 0;  // ENOENT if absent
  virtual Status DeleteRef(std::string_view name) = 0;                     // OK if absent
  // Names of all refs under prefix (a name or a name ending in '/'), sorted.
  virtual Result<std::vector<std::string>> ListRefs(std::string_view prefix) = 0;

  // Raw objects: whole packs and their index objects in a slow store
  // (pack_objects.h gives the layout). A name is exactly
  // "packs/<ab>/<64 hex>" or "index/<ab>/<64 hex>", lowercase, <ab> the
  // first two of the 64 (ValidateObjectName); any other name is EINVAL before
  // a path or URL is built from it. A store that keeps no such objects (the
  // default; the fast store) answers ENOTSUP.
  //
  // PutObject: durable once it returns, atomic (a reader sees all the bytes
  // or none), replaces an object of that name.
  virtual Status PutObject(std::string_view name, std::span<const uint8_t> bytes);
  // Bytes [offset, offset + length) of an object; length 0: the whole object
  // (one larger than kMaxPackBytes is EBADMSG, not read). ENOENT if the
  // object is missing (the message names it and the store); EBADMSG if it is
  // shorter than offset + length.
  virtual Result<std::vector<uint8_t>> GetObjectRange(std::string_view name, uint64_t offset, uint64_t length);
  // GetObjectRange into *into (its bytes replaced; on an error unspecified),
  // reusing its memory where the store can: S3 receives the response body
  // into it, a directory store preads into it. For a reader of many large ranges (a restore's threads), whose
  // every fresh 16 MiB body was 4096 page faults. The default is
  // GetObjectRange, moved in.
  virtual Status GetObjectRangeInto(std::string_view name, uint64_t offset, uint64_t length,
                                    std::vector<uint8_t>* into);
  // The whole object into *into (reused when large enough, else replaced),
  // its bytes at into->data(); returns how many. Errors as GetObjectRange.
  // For an object read to be sent on (a pack's upload): the fast store reads
  // it with O_DIRECT into the caller's reused buffer (ReadFileInto). The
  // default is GetObjectRange and a copy.
  virtual Result<size_t> ReadObjectInto(std::string_view name, AlignedBuffer* into);
  // Calls fn for every object under prefix ("packs/" or "index/", else
  // EINVAL), in sorted order; stops at and returns fn's first error.
  virtual Status ListObjects(std::string_view prefix, const std::function<Status(std::string_view name)>& fn);
  // OK if the object is absent.
  virtual Status DeleteObject(std::string_view name);

  // Requests sent to a remote service so far (S3: HTTP requests, retries
  // included), for reports of what a check or a restore cost; 0 for a store
  // that sends none.
  virtual uint64_t RemoteRequests() const { return 0; }
};

// Validates a ref name as described above.
Status ValidateRefName(std::string_view name);
// Validates a ListRefs prefix: empty, a ref name, a ref name plus '/', or a
// ref name with a partial last component.
Status ValidateRefPrefix(std::string_view prefix);

// What OpenStoreUrl asks of a store before it returns it.
enum class StoreCheck {
  // The store must answer now (S3: the bucket exists and may be used);
  // otherwise its error (fsck, restore).
  kReachable,
  // As kReachable, creating a missing S3 bucket (mkfs).
  kCreate,
  // One quick probe (S3: HEAD bucket, one attempt, 3 s to connect). If it
  // fails, a warning says so and the store is returned anyway: its requests
  // fail until the store answers, and callers retry (a mount, whose uploads
  // wait for the store).
  kProbe,
};

// Opens a slow store from its URL:
//   file:///absolute/path
//   s3://bucket[/prefix][?endpoint=URL&region=R]
// Credentials for S3 come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or
// from credentials_file (AWS shared-credentials format) when not empty; never
// from the URL. A malformed URL is EINVAL with a message naming the problem.
// Every error message names the store's URL once, first. The store comes
// wrapped in a SlowPacks (slow_packs.h: blobs inside its packs are blobs);
// SlowPacks::raw() is the DiskStore or S3Store itself.
Result<std::unique_ptr<Store>> OpenStoreUrl(std::string_view url, const std::string& credentials_file = "",
                                            StoreCheck check = StoreCheck::kReachable);

// For mkfs: checks the slow store at url before a volume is made to use it:
// an S3 bucket must answer (it is created when missing); a directory must be
// a directory we may write to, or be creatable. Returns what it found, for
// the user ("bucket amb created", "bucket amb exists", "directory exists");
// an error says why the store cannot be used.
Result<std::string> PrepareSlowStore(std::string_view url, const std::string& credentials_file = "");

}  // namespace amberfs
