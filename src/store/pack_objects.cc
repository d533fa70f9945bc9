// Packs as slow-store objects: see pack_objects.h. Also the Store object
// primitives' defaults (store.h), for stores that keep no pack objects.
#include "store/pack_objects.h"

#include <cerrno>
#include <cstring>

#include "base/byte_order.h"
#include "store/store.h"

namespace amberfs {
namespace {

constexpr size_t kHexLength = 64;
// "packs/" + "ab/" + 64 hex; "index/" has the same length.
constexpr size_t kObjectNameLength = 6 + 3 + kHexLength;

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::string ObjectName(std::string_view prefix, const Pointer& pack) {
  std::string hex = pack.Hex();
  return std::string(prefix) + hex.substr(0, 2) + "/" + hex;
}

Status NoObjects(const Store& store) {
  return Status::Error(ENOTSUP, store.Describe() + " does not store pack objects");
}

}  // namespace

Status Store::PutObject(std::string_view, std::span<const uint8_t>) { return NoObjects(*this); }
Result<std::vector<uint8_t>> Store::GetObjectRange(std::string_view, uint64_t, uint64_t) { return NoObjects(*this); }
Status Store::GetObjectRangeInto(std::string_view name, uint64_t offset, uint64_t length,
                                 std::vector<uint8_t>* into) {
  AMBER_ASSIGN_OR_RETURN(*into, GetObjectRange(name, offset, length));
  return Status::OK();
}
Result<size_t> Store::ReadObjectInto(std::string_view name, AlignedBuffer* into) {
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, GetObjectRange(name, 0, 0));
  if (into->size() < bytes.size()) *into = AlignedBuffer::Uninitialized(bytes.size());
  if (!bytes.empty()) std::memcpy(into->data(), bytes.data(), bytes.size());
  return bytes.size();
}
Status Store::ListObjects(std::string_view, const std::function<Status(std::string_view)>&) {
  return NoObjects(*this);
}
Status Store::DeleteObject(std::string_view) { return NoObjects(*this); }

std::string PackObjectName(const Pointer& pack) { return ObjectName(kPackObjectPrefix, pack); }
std::string PackIndexObjectName(const Pointer& pack) { return ObjectName(kPackIndexObjectPrefix, pack); }

Status ValidateObjectName(std::string_view name) {
  auto bad = [&] { return Status::Error(EINVAL, "\"" + std::string(name.substr(0, 200)) + "\" is not a pack object name"); };
  if (name.size() != kObjectNameLength) return bad();
  if (!name.starts_with(kPackObjectPrefix) && !name.starts_with(kPackIndexObjectPrefix)) return bad();
  std::string_view rest = name.substr(kPackObjectPrefix.size());  // "ab/<64 hex>"
  if (rest[2] != '/' || rest.substr(0, 2) != rest.substr(3, 2)) return bad();
  for (char c : rest.substr(3))
    if (!IsLowerHex(c)) return bad();
  return Status::OK();
}

Status ValidateObjectPrefix(std::string_view prefix) {
  if (prefix == kPackObjectPrefix || prefix == kPackIndexObjectPrefix) return Status::OK();
  return Status::Error(EINVAL, "\"" + std::string(prefix.substr(0, 200)) +
                                   "\" is not a pack object prefix (packs/ or index/)");
}

Pointer ObjectNamePack(std::string_view name) {
  auto pack = Pointer::FromHex(name.substr(name.size() - kHexLength));
  return pack.ok() ? *pack : Pointer();
}

namespace {

// CheckPackBytes, giving the pack's tail (table and trailer).
Result<std::span<const uint8_t>> CheckedTail(const Pointer& name, std::span<const uint8_t> bytes,
                                             const std::string& store) {
  const std::string what = "pack " + name.Hex() + " for " + store;
  Result<PackTrailer> trailer = DecodeTrailerOfPack(bytes, what);
  if (!trailer.ok()) return Status::Error(EINVAL, trailer.status().message());
  std::span<const uint8_t> tail = bytes.subspan(trailer->table_offset);
  // A sealed table is its volume's to open (EACCES here): the trailer, the
  // table's checksum and the name below still hold every byte of the tail.
  Result<std::vector<PackEntry>> entries =
      DecodePackTable(*trailer, tail.first(tail.size() - kPackTrailerSize), what);
  if (!entries.ok() && !(trailer->version == kSealedPackVersion && entries.status().code() == EACCES))
    return Status::Error(EINVAL, entries.status().message());
  if (PackName(tail) != name)
    return Status::Error(EINVAL, what + ": the bytes are not that pack (the name is not the SHA-256 of its tail)");
  return tail;
}

}  // namespace

Status CheckPackBytes(const Pointer& name, std::span<const uint8_t> bytes, const std::string& store) {
  return CheckedTail(name, bytes, store).status();
}

Status PutPack(Store& store, const Pointer& name, std::span<const uint8_t> pack) {
  AMBER_ASSIGN_OR_RETURN(std::span<const uint8_t> tail, CheckedTail(name, pack, store.Describe()));
  // The pack first: an index object promises its pack is there.
  AMBER_RETURN_IF_ERROR(store.PutObject(PackObjectName(name), pack));
  return store.PutObject(PackIndexObjectName(name), tail);
}

Result<std::vector<PackEntry>> DecodePackIndexObject(const Pointer& name, std::span<const uint8_t> tail,
                                                     const std::string& what, const PackTableCodec* tables,
                                                     uint64_t* pack_size) {
  if (tail.size() < kPackTrailerSize)
    return Status::Error(EBADMSG, what + ": " + std::to_string(tail.size()) + " bytes, not a pack's tail");
  // The trailer wants the pack's size; the table offset it holds gives it
  // (the blobs end where the table starts), and DecodePackTrailer then
  // checks that it agrees with the table's size, i.e. with tail.size().
  std::span<const uint8_t> trailer_bytes = tail.last(kPackTrailerSize);
  const uint64_t table_offset = GetLE64(trailer_bytes.data() + 24);
  if (table_offset > kMaxPackBytes)
    return Status::Error(EBADMSG, what + ": table offset " + std::to_string(table_offset) + " is past any pack");
  AMBER_ASSIGN_OR_RETURN(PackTrailer trailer, DecodePackTrailer(trailer_bytes, table_offset + tail.size(), what));
  // The name first: a swapped object is damage whoever reads it, while a
  // sealed table this reader cannot open (EACCES) is only not its own.
  if (PackName(tail) != name)
    return Status::Error(EBADMSG, what + ": it is not that pack's tail (a swapped or damaged object)");
  AMBER_ASSIGN_OR_RETURN(std::vector<PackEntry> entries,
                         DecodePackTable(trailer, tail.first(tail.size() - kPackTrailerSize), what, tables));
  if (pack_size != nullptr) *pack_size = table_offset + tail.size();
  return entries;
}

Result<std::vector<PackEntry>> GetPackIndex(Store& store, const Pointer& name, const PackTableCodec* tables,
                                            uint64_t* pack_size) {
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> tail, store.GetObjectRange(PackIndexObjectName(name), 0, 0));
  return DecodePackIndexObject(name, tail, "index object of pack " + name.Hex() + " in " + store.Describe(),
                               tables, pack_size);
}

Result<std::vector<uint8_t>> GetPackedBlob(Store& store, const Pointer& blob, const BlobLocation& where) {
  if (where.length == 0) {
    // A zero length would ask for the whole pack (GetObjectRange's rule).
    if (blob == Pointer::Of(std::span<const uint8_t>())) return std::vector<uint8_t>();
    return Status::Error(EBADMSG, "blob " + blob.Hex() + " in pack " + where.pack.Hex() + " of " +
                                      store.Describe() + " is corrupt (empty, not the blob)");
  }
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> data,
                         store.GetObjectRange(PackObjectName(where.pack), where.offset, where.length));
  if (Pointer::Of(data) != blob)
    return Status::Error(EBADMSG, "blob " + blob.Hex() + " in pack " + where.pack.Hex() + " of " +
                                      store.Describe() + " is corrupt (SHA-256 mismatch)");
  return data;
}

Status ListPacks(Store& store, const std::function<Status(const Pointer& pack)>& fn) {
  return store.ListObjects(kPackIndexObjectPrefix,
                           [&](std::string_view name) { return fn(ObjectNamePack(name)); });
}

Status DeletePack(Store& store, const Pointer& name) {
  // The index object first: an index object promises its pack is there.
  AMBER_RETURN_IF_ERROR(store.DeleteObject(PackIndexObjectName(name)));
  return store.DeleteObject(PackObjectName(name));
}

}  // namespace amberfs
