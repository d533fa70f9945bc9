// Fuzz target: catalog entries (DecodeCatalogEntry, EncodeCatalogEntry) and
// the catalog reader (Catalog::List and Get over VOLDIR/catalog/, where any
// file may appear), also read by fsck straight from the directory.
//
// Input: one flags byte, then the entry's bytes. Bit 0 sets the name length
// to fit the size, bit 1 recomputes the checksum, bit 2 takes the file name
// from the entry's own name field (else "s1"), bit 3 also writes the entry
// under that file name into a catalog directory and lists it; bit 4 instead
// builds an entry from the bytes and round-trips it through Encode, Decode
// and Catalog::Add / Get.
//
// Invariants: decode errors are EBADMSG; a decoded entry names its file, has
// a valid snapshot name and a record pointer, and encodes to exactly its
// bytes; List returns only such entries (one problem per bad file, never a
// crash); Decode(Encode(e)) == e for every entry Catalog::Add accepts.
#include <fuzzer/FuzzedDataProvider.h>
#include <xxhash.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/catalog.h"
#include "snapshot/snapshot_record.h"

using namespace amberfs;

namespace {

constexpr size_t kFixed = 56, kChecksum = 8;

const fuzz::ScratchDir& Scratch() {
  static fuzz::ScratchDir dir;
  return dir;
}

void CheckEntry(const CatalogEntry& e, std::string_view file_name) {
  FUZZ_CHECK(e.name == file_name, "an entry that does not name its file");
  FUZZ_CHECK(ValidateSnapshotName(e.name).ok(), "an entry with an invalid snapshot name: " + e.name);
  FUZZ_CHECK(!e.record.IsNull(), "an entry with a null record pointer");
}

bool IsPlainFileName(std::string_view name) {
  return !name.empty() && name.size() < 256 && name != "." && name != ".." &&
         name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

std::unique_ptr<Catalog> FreshCatalog() {
  Scratch().Reset();
  Result<std::unique_ptr<Catalog>> catalog = Catalog::Open(Scratch().path());
  FUZZ_CHECK(catalog.ok(), "Catalog::Open: " + catalog.status().ToString());
  return std::move(catalog).value();
}

void ListCatalog(std::string_view file_name, std::span<const uint8_t> bytes) {
  if (!IsPlainFileName(file_name)) return;
  std::unique_ptr<Catalog> catalog = FreshCatalog();
  Scratch().Write("catalog/" + std::string(file_name), bytes);
  std::vector<Status> problems;
  Result<std::vector<CatalogEntry>> listed = catalog->List(&problems);
  FUZZ_CHECK(listed.ok(), "List with problems failed: " + listed.status().ToString());
  FUZZ_CHECK(listed->size() + problems.size() <= 1, "one file gave more than one entry or problem");
  for (const CatalogEntry& e : *listed) CheckEntry(e, file_name);
  for (const Status& p : problems) FUZZ_CHECK(p.code() == EBADMSG, "a catalog problem is not EBADMSG: " + p.ToString());
  Result<std::vector<CatalogEntry>> strict = catalog->List();
  FUZZ_CHECK(strict.ok() == problems.empty(), "List without problems disagrees with List with them");
}

void RoundTrip(FuzzedDataProvider& in) {
  CatalogEntry e;
  e.created_ns = in.ConsumeIntegral<uint64_t>();
  std::array<uint8_t, Pointer::kSize> raw{};
  in.ConsumeData(raw.data(), raw.size());
  e.record = Pointer(raw);
  e.name = in.ConsumeRandomLengthString(80);
  const std::vector<uint8_t> bytes = EncodeCatalogEntry(e);
  Result<CatalogEntry> back = DecodeCatalogEntry(bytes, e.name);
  std::unique_ptr<Catalog> catalog = FreshCatalog();
  Status added = catalog->Add(e);
  if (!added.ok()) {
    FUZZ_CHECK(added.code() == EINVAL, "Catalog::Add: " + added.ToString());
    return;
  }
  FUZZ_CHECK(back.ok() && *back == e, "Decode(Encode(e)) != e for an entry Add accepts");
  Result<CatalogEntry> got = catalog->Get(e.name);
  FUZZ_CHECK(got.ok() && *got == e, "Get after Add does not give the entry back");
}

void Decode(uint8_t flags, std::span<const uint8_t> input) {
  std::vector<uint8_t> bytes(input.begin(), input.end());
  if ((flags & 1) && bytes.size() >= kFixed + kChecksum)
    PutLE32(bytes.data() + 12, static_cast<uint32_t>(bytes.size() - kFixed - kChecksum));
  if ((flags & 2) && bytes.size() >= kChecksum)
    PutLE64(bytes.data() + bytes.size() - kChecksum, XXH3_64bits(bytes.data(), bytes.size() - kChecksum));
  std::string file_name = "s1";
  if ((flags & 4) && bytes.size() >= kFixed + kChecksum)
    file_name.assign(reinterpret_cast<const char*>(bytes.data() + kFixed), bytes.size() - kFixed - kChecksum);

  Result<CatalogEntry> e = DecodeCatalogEntry(bytes, file_name);
  if (e.ok()) {
    CheckEntry(*e, file_name);
    FUZZ_CHECK(EncodeCatalogEntry(*e) == bytes, "a decoded entry does not encode back to its bytes");
  } else {
    FUZZ_CHECK(e.status().code() == EBADMSG, "a decode error is not EBADMSG: " + e.status().ToString());
  }
  if (flags & 8) ListCatalog(file_name, bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 16, RoundTrip, Decode);
}
