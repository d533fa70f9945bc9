// Fuzz target: the small text and binary values that name things, read from
// the slow store, the volume directory and the command line:
//   Pointer::FromHex        blob names in listings, fsck arguments
//   DecodeSnapshotRefValue  volumes/<uuid>/snapshots/<name> and .../base refs
//   ValidateRefName/Prefix  every ref name before a path or URL is built
//   ParseVolumeUuid         the config's uuid, volumes/<uuid>/ in a bucket
//   ValidateSnapshotName    ctl arguments, catalog file names
//   ReadSnapshotBase        VOLDIR/snapshot-base (56 bytes, checksummed)
//   lock markers            locks/gc/<uuid> values another volume wrote
//
// Input: one selector byte, then the value.
//
// Invariants: each parser's errors carry its documented errno; what parses
// prints back to the same text (hex, uuid, ref value); a valid ref name is a
// valid prefix and has no empty, dot-led or odd-character component; a base
// file decodes only when well-formed; a marker of any content leaves the
// uploader with OK or EBUSY.
#include <xxhash.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/snapshot_pointers.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_layout.h"
#include "store/pointer.h"
#include "store/slow_store_locks.h"
#include "store/store.h"

using namespace amberfs;

namespace {

const fuzz::ScratchDir& Scratch() {
  static fuzz::ScratchDir dir;
  return dir;
}

void Hex(std::string_view text) {
  Result<Pointer> p = Pointer::FromHex(text);
  if (!p.ok()) {
    FUZZ_CHECK(p.status().code() == EINVAL, "FromHex: " + p.status().ToString());
    return;
  }
  FUZZ_CHECK(p->Hex() == text, "Hex(FromHex(x)) != x");
}

void RefValue(std::span<const uint8_t> bytes) {
  Result<Pointer> p = DecodeSnapshotRefValue(bytes);
  if (!p.ok()) {
    FUZZ_CHECK(p.status().code() == EBADMSG, "DecodeSnapshotRefValue: " + p.status().ToString());
    return;
  }
  FUZZ_CHECK(!p->IsNull(), "a ref value holding the null pointer");
  FUZZ_CHECK(EncodeSnapshotRefValue(*p) == fuzz::AsText(bytes), "a ref value does not encode back to its bytes");
}

void RefName(std::string_view name) {
  Status st = ValidateRefName(name);
  Status prefix = ValidateRefPrefix(name);
  FUZZ_CHECK(st.ok() || st.code() == EINVAL, "ValidateRefName: " + st.ToString());
  FUZZ_CHECK(prefix.ok() || prefix.code() == EINVAL, "ValidateRefPrefix: " + prefix.ToString());
  if (!st.ok()) return;
  FUZZ_CHECK(prefix.ok(), "a valid ref name is not a valid prefix");
  for (std::string_view reserved : {"blobs", "packs", "index"})
    FUZZ_CHECK(name.substr(0, name.find('/')) != reserved, "a ref name in the blobs', packs' or index's namespace");
  size_t start = 0;
  while (true) {
    const size_t slash = name.find('/', start);
    std::string_view part = name.substr(start, slash == std::string_view::npos ? slash : slash - start);
    FUZZ_CHECK(!part.empty() && part[0] != '.', "an empty or dot-led component in a valid ref name");
    for (char c : part)
      FUZZ_CHECK(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-', "an odd character");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
}

void Uuid(std::string_view text) {
  Result<VolumeUuid> u = ParseVolumeUuid(text);
  if (!u.ok()) {
    FUZZ_CHECK(u.status().code() == EINVAL, "ParseVolumeUuid: " + u.status().ToString());
    return;
  }
  FUZZ_CHECK(FormatVolumeUuid(*u) == text, "FormatVolumeUuid(ParseVolumeUuid(x)) != x");
}

void SnapshotName(std::string_view name) {
  Status st = ValidateSnapshotName(name);
  if (!st.ok()) {
    FUZZ_CHECK(st.code() == EINVAL, "ValidateSnapshotName: " + st.ToString());
    return;
  }
  FUZZ_CHECK(ValidateRefName("volumes/x/snapshots/" + std::string(name)).ok(), "a snapshot name that is no ref name");
}

void BaseFile(std::vector<uint8_t> bytes, bool fix) {
  if (fix && bytes.size() >= 56) PutLE64(&bytes[48], XXH3_64bits(bytes.data(), 48));
  Scratch().Write(kSnapshotBaseFile, bytes);
  Result<Pointer> p = ReadSnapshotBase(Scratch().path());
  if (!p.ok()) {
    FUZZ_CHECK(p.status().code() == EBADMSG, "ReadSnapshotBase: " + p.status().ToString());
    return;
  }
  FUZZ_CHECK(bytes.size() == 56 && std::memcmp(bytes.data(), "AMBRBASE", 8) == 0, "a malformed base file was read");
  FUZZ_CHECK(Pointer::FromBytes(bytes.data() + 16) == *p, "the base file's pointer was not read from bytes 16..47");
}

void Marker(std::span<const uint8_t> value) {
  fuzz::MemStore store;
  FUZZ_CHECK(store.PutRef(GcMarkerRef("other-volume"), value).ok(), "PutRef");
  Status st = AcquireUploadMarker(store, "this-volume");
  FUZZ_CHECK(st.ok() || st.code() == EBUSY, "AcquireUploadMarker: " + st.ToString());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  if (size == 0) return 0;
  const std::span<const uint8_t> bytes(data + 1, size - 1);
  const std::string_view text = fuzz::AsText(bytes);
  switch (data[0] % 8) {
    case 0: Hex(text); break;
    case 1: RefValue(bytes); break;
    case 2: RefName(text); break;
    case 3: Uuid(text); break;
    case 4: SnapshotName(text); break;
    case 5: BaseFile({bytes.begin(), bytes.end()}, false); break;
    case 6: BaseFile({bytes.begin(), bytes.end()}, true); break;
    default: Marker(bytes);
  }
  return 0;
}
