#include "snapshot/volume_codec.h"

#include <string>

#include "crypto/blob_envelope.h"
#include "crypto/key_object.h"
#include "crypto/key_ring.h"
#include "crypto/sealed_box.h"

namespace amberfs {
namespace {

constexpr std::string_view kRefRole = "ref";

std::string_view RoleName(BlobRole role) {
  switch (role) {
    case BlobRole::kChunk: return "chunk";
    case BlobRole::kNode: return "node";
    case BlobRole::kRecord: return "record";
  }
  return "blob";
}

}  // namespace

Result<VolumeCodec> VolumeCodec::Make(bool compress, const SecretKey* master) {
  VolumeCodec codec;
  codec.compress_ = compress;
  if (master != nullptr) {
    AMBER_ASSIGN_OR_RETURN(KeyRing ring, KeyRing::FromMaster(*master));
    codec.keys_ = std::make_shared<const KeyRing>(std::move(ring));
  }
  return codec;
}

Result<VolumeCodec> VolumeCodec::Unlock(bool compress, std::span<const uint8_t> key_object,
                                        std::span<const uint8_t> passphrase, const std::string& where) {
  Result<SecretKey> master = UnwrapMasterKey(key_object, passphrase);
  if (!master.ok()) {
    if (master.status().code() == EACCES)
      return Status::Error(EACCES, "wrong passphrase for " + where + " (the key file does not open it)");
    return master.status().Annotate(where);
  }
  return Make(compress, &*master);
}

VolumeCodec VolumeCodec::WithCompression(bool compress) const {
  VolumeCodec codec = *this;
  codec.compress_ = compress;
  return codec;
}

Result<StoredBlob> VolumeCodec::Encode(BlobRole role, std::span<const uint8_t> plain) const {
  StoredBlob out;
  if (off()) {
    out.view_ = plain;
    out.pointer_ = Pointer::Of(plain);
    return out;
  }
  EnvelopeOptions options;
  options.compress = compress_;
  options.key = keys_ ? &keys_->data() : nullptr;
  options.deterministic = true;
  AMBER_ASSIGN_OR_RETURN(out.owned_, EncodeBlob(plain, RoleName(role), options));
  out.encoded_ = true;
  out.pointer_ = Pointer::Of(out.owned_);
  return out;
}

Result<std::vector<uint8_t>> VolumeCodec::Decode(BlobRole role, std::vector<uint8_t> stored) const {
  if (StoredAsIs(role, stored)) return stored;
  return Decode(role, std::span<const uint8_t>(stored));
}

Result<std::vector<uint8_t>> VolumeCodec::Decode(BlobRole role, std::span<const uint8_t> stored) const {
  std::vector<uint8_t> out;
  AMBER_RETURN_IF_ERROR(DecodeInto(role, stored, &out));
  return out;
}

Status VolumeCodec::DecodeInto(BlobRole role, std::span<const uint8_t> stored, std::vector<uint8_t>* out) const {
  if (StoredAsIs(role, stored)) {
    out->assign(stored.begin(), stored.end());
    return Status::OK();
  }
  return DecodeBlobInto(stored, RoleName(role), keys_ ? &keys_->data() : nullptr, out);
}

// Without a key, index nodes and records of either form are read: gc and
// listings walk other volumes' trees in a shared slow store, whose codec may
// differ (compressed or not). A plaintext record starts with its own magic, a
// node with a pointer (a clash with an envelope's 5 leading bytes is 2^-40,
// and would fail to decode, not be misread). A chunk is always read in the
// volume's own form: its bytes are the user's.
bool VolumeCodec::StoredAsIs(BlobRole role, std::span<const uint8_t> stored) const {
  if (!keys_ && role != BlobRole::kChunk) return !LooksLikeEnvelope(stored);
  return off();
}

Result<std::vector<uint8_t>> VolumeCodec::SealRef(std::string_view name, std::span<const uint8_t> value) const {
  if (!keys_) return std::vector<uint8_t>(value.begin(), value.end());
  return Seal(keys_->data(), kRefRole, name, value);
}

Result<std::vector<uint8_t>> VolumeCodec::OpenRef(std::string_view name, std::vector<uint8_t> stored) const {
  if (!keys_) {
    if (LooksLikeSealedBox(stored))
      return Status::Error(EACCES, "ref " + std::string(name) + " is encrypted: the volume's key is needed");
    return stored;
  }
  if (!LooksLikeSealedBox(stored))
    return Status::Error(EBADMSG, "ref " + std::string(name) +
                                      " is not encrypted, but this volume encrypts every ref (tampering)");
  Result<std::vector<uint8_t>> opened = Open(keys_->data(), kRefRole, name, stored);
  if (!opened.ok()) return Status::Error(EBADMSG, "ref " + std::string(name) + ": " + opened.status().message());
  return opened;
}

namespace {

constexpr std::string_view kPackTableRole = "pack-table";

class SealedPackTables : public PackTableCodec {
 public:
  explicit SealedPackTables(std::shared_ptr<const KeyRing> keys) : keys_(std::move(keys)) {}

  Result<std::vector<uint8_t>> Seal(std::string_view binding, std::span<const uint8_t> table) const override {
    return amberfs::Seal(keys_->data(), kPackTableRole, binding, table);
  }

  Result<std::vector<uint8_t>> Open(std::string_view binding, std::span<const uint8_t> sealed,
                                    const std::string& what) const override {
    // Another key is another volume's pack in a shared store, not damage:
    // the key id tells it before the tag is tried.
    Result<SealKeyId> id = SealedKeyId(sealed);
    if (id.ok() && *id != keys_->data().key_id())
      return Status::Error(EACCES, "pack " + what + ": its table is sealed under another volume's key");
    Result<std::vector<uint8_t>> table = amberfs::Open(keys_->data(), kPackTableRole, binding, sealed);
    if (!table.ok()) return Status::Error(EBADMSG, "pack " + what + " is corrupt: sealed table: " + table.status().message());
    return table;
  }

 private:
  const std::shared_ptr<const KeyRing> keys_;
};

}  // namespace

std::shared_ptr<const PackTableCodec> VolumeCodec::PackTables() const {
  if (!keys_) return nullptr;
  return std::make_shared<const SealedPackTables>(keys_);
}

Result<std::vector<uint8_t>> GetBlob(Store& store, const VolumeCodec& codec, BlobRole role, const Pointer& pointer) {
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> stored, store.Get(pointer));
  return codec.Decode(role, std::move(stored));
}

}  // namespace amberfs
