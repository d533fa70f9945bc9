// VolumeCodec: how a volume's blobs and refs look in its stores (issue 15;
// docs/FORMATS.md, "Encryption and compression").
//
// Chunks, index nodes and snapshot records are blobs. A codec that is off
// (volumes of format 2, and format 3 with `compress none` and no key) stores
// a blob as its plaintext, named by SHA-256(plaintext), as always. Otherwise
// a blob is stored as a blob envelope (crypto/blob_envelope.h): zstd when that
// saves, sealed with AES-256-GCM when the volume is encrypted, with a
// synthetic nonce so that equal blobs give equal envelopes (dedup inside the
// volume keeps working). The store names the envelope by SHA-256(envelope),
// like any blob, so every layer below (packs, the blob index, uploads, gc,
// fsck's store checks) is unchanged and verifies what it reads; pointers in
// index nodes and records are pointers to envelopes. No plaintext and no
// SHA-256 of a plaintext reaches a store. The envelope's name is the blob's
// kind ("chunk", "node", "record"): a blob of one kind cannot stand in for
// another.
//
// Refs (config, snapshot refs, base) of an encrypted volume are sealed boxes,
// role "ref", named by the ref's name (so a ref swapped for another's body,
// or replayed under another name, fails to open), with random nonces; plain
// otherwise. The key object (volumes/<uuid>/key) is never sealed: it is what
// opens the rest.
//
// Errors: Encode: EIO if zstd or OpenSSL fail. Decode/OpenRef: EBADMSG with a
// message naming the blob or ref for damage or tampering; EACCES for a sealed
// object and a codec without a key.
//
// Thread-safety: immutable once made; copies share the key ring. Any number
// of threads may encode and decode at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/status.h"
#include "store/pack_table_codec.h"
#include "store/pointer.h"
#include "store/store.h"

namespace amberfs {

class KeyRing;
class SecretKey;

enum class BlobRole : uint8_t { kChunk, kNode, kRecord };

// A blob as it is stored: its bytes (a view of the plaintext when the codec
// is off, else an owned envelope) and their pointer.
class StoredBlob {
 public:
  const Pointer& pointer() const { return pointer_; }
  std::span<const uint8_t> bytes() const { return encoded_ ? std::span<const uint8_t>(owned_) : view_; }

 private:
  friend class VolumeCodec;
  Pointer pointer_;
  bool encoded_ = false;
  std::vector<uint8_t> owned_;
  std::span<const uint8_t> view_;
};

class VolumeCodec {
 public:
  VolumeCodec() = default;  // off: blobs and refs stored as they are
  // compress: zstd; master: null = not encrypted.
  static Result<VolumeCodec> Make(bool compress, const SecretKey* master);
  // An encrypted volume's codec: the master key unwrapped from its key
  // object (crypto/key_object.h) with the passphrase. EACCES "wrong
  // passphrase"; EBADMSG for a damaged key object; `where` names it.
  static Result<VolumeCodec> Unlock(bool compress, std::span<const uint8_t> key_object,
                                    std::span<const uint8_t> passphrase, const std::string& where);

  bool off() const { return !compress_ && !keys_; }
  bool compressed() const { return compress_; }
  bool encrypted() const { return keys_ != nullptr; }

  // The stored form of a blob. The plaintext must outlive the result when
  // the codec is off (the result views it).
  Result<StoredBlob> Encode(BlobRole role, std::span<const uint8_t> plain) const;
  // The plaintext of a stored blob (the bytes themselves when off, moved
  // through without a copy; the span form copies only then).
  Result<std::vector<uint8_t>> Decode(BlobRole role, std::vector<uint8_t> stored) const;
  Result<std::vector<uint8_t>> Decode(BlobRole role, std::span<const uint8_t> stored) const;
  // The span form into *out, reusing its memory (crypto/blob_envelope.h,
  // DecodeBlobInto): for a thread that decodes blob after blob. On any error
  // *out is left empty.
  Status DecodeInto(BlobRole role, std::span<const uint8_t> stored, std::vector<uint8_t>* out) const;

  // The same keys with another compress setting (no second unwrap).
  VolumeCodec WithCompression(bool compress) const;
  // What seals and opens the entry tables of this volume's packs (pack
  // version 2, store/pack_table_codec.h): sealed boxes under the data key,
  // role "pack-table", bound to the pack's clear trailer fields, random
  // nonces. Null when the volume is not encrypted (its packs are version 1).
  std::shared_ptr<const PackTableCodec> PackTables() const;

  // A ref's stored value and back. name is the ref's name in the store.
  Result<std::vector<uint8_t>> SealRef(std::string_view name, std::span<const uint8_t> value) const;
  Result<std::vector<uint8_t>> OpenRef(std::string_view name, std::vector<uint8_t> stored) const;

 private:
  // Whether these stored bytes are the plaintext itself.
  bool StoredAsIs(BlobRole role, std::span<const uint8_t> stored) const;

  bool compress_ = false;
  std::shared_ptr<const KeyRing> keys_;
};

// Gets a blob from store and decodes it: the store checks the stored bytes
// against the pointer, the codec opens them.
Result<std::vector<uint8_t>> GetBlob(Store& store, const VolumeCodec& codec, BlobRole role, const Pointer& pointer);

}  // namespace amberfs
