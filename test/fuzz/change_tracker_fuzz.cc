// Fuzz target: the change tracker's file (VOLDIR/changes: header page and
// bitmap pages) as ChangeTracker::Open and OpenReadOnly read it back after a
// crash, a torn write or damage.
//
// Input: an 8-byte header (flags; the volume's geometry: chunk size 4..64
// KiB, up to 100,000 chunks, a partial last chunk), then either a raw file
// (flags bit 0) or a program: a real file written by the tracker with chunks
// marked from the input, then damaged (bytes flipped or set, the file cut or
// extended). Bit 1 recomputes the
// header's checksum and bit 2 every page's, so the fuzzer reaches the fields
// behind them.
//
// Invariants: errors are EBADMSG (header), EINVAL (geometry) only; a tracker
// that opens marks only chunks inside the volume and reports at most one bad
// page per bitmap page. With the checksums left alone, damage only ever adds
// marks: every chunk marked before is still marked. Open (read-write) repairs
// what it found: a read-only Open afterwards finds no bad page and the same
// marks.
#include <fuzzer/FuzzedDataProvider.h>
#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "base/byte_order.h"
#include "base/durable_file.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/change_tracker.h"

using namespace amberfs;

namespace {

constexpr size_t kPage = ChangeTracker::kPageSize;
// flags, chunk size exponent (4 KiB << n), chunk count (LE32), bytes short of whole chunks (LE16)
constexpr size_t kHeader = 8;

const fuzz::ScratchDir& Scratch() {
  static fuzz::ScratchDir dir;
  return dir;
}

std::vector<uint64_t> WriteTracked(FuzzedDataProvider& in, const std::string& path, uint64_t volume_size,
                                   uint32_t chunk_size) {
  Result<std::unique_ptr<ChangeTracker>> t = ChangeTracker::Create(path, volume_size, chunk_size);
  FUZZ_CHECK(t.ok(), "Create: " + t.status().ToString());
  const int ranges = in.ConsumeIntegralInRange(0, 8);
  for (int i = 0; i < ranges; ++i) {
    const uint64_t offset = in.ConsumeIntegralInRange<uint64_t>(0, volume_size - 1);
    const uint64_t length = in.ConsumeIntegralInRange<uint64_t>(1, std::min<uint64_t>(volume_size - offset, 1 << 24));
    FUZZ_CHECK((*t)->WillChange(offset, length).ok(), "WillChange inside the volume failed");
    if (in.ConsumeBool()) FUZZ_CHECK((*t)->BeforeImageWrite().ok(), "BeforeImageWrite failed");
  }
  if (in.ConsumeBool()) {
    FUZZ_CHECK((*t)->BeginCapture().ok(), "BeginCapture failed");
    if (in.ConsumeBool()) FUZZ_CHECK((*t)->CommitCapture().ok(), "CommitCapture failed");
    else FUZZ_CHECK((*t)->AbortCapture().ok(), "AbortCapture failed");
  }
  FUZZ_CHECK((*t)->Sync().ok(), "Sync failed");
  return (*t)->Marked(ChangeTracker::Set::kEither);
}

void Damage(FuzzedDataProvider& in, std::vector<uint8_t>& file) {
  const int hits = in.ConsumeIntegralInRange(0, 6);
  for (int i = 0; i < hits && !file.empty(); ++i) {
    // Aim at the fields: the first 48 bytes of a page, else anywhere.
    size_t at = in.ConsumeIntegralInRange<size_t>(0, file.size() - 1);
    if (in.ConsumeBool()) at = at / kPage * kPage + at % 48;
    at = std::min(at, file.size() - 1);
    switch (in.ConsumeIntegralInRange(0, 3)) {
      case 0: file[at] ^= 1u << in.ConsumeIntegralInRange(0, 7); break;
      case 1: file[at] = in.ConsumeIntegral<uint8_t>(); break;
      case 2: file.resize(at); break;
      default: file.resize(file.size() + in.ConsumeIntegralInRange<size_t>(1, kPage), 0);
    }
  }
}

void FixChecksums(uint8_t flags, std::vector<uint8_t>& file) {
  if ((flags & 2) && file.size() >= 48) PutLE64(&file[40], XXH3_64bits(file.data(), 40));
  if (flags & 4) {
    for (size_t p = kPage; p + kPage <= file.size(); p += kPage) {
      PutLE64(&file[p + 24], 0);
      PutLE64(&file[p + 24], XXH3_64bits(&file[p], kPage));
    }
  }
}

bool Expected(const Status& st) { return st.code() == EBADMSG || st.code() == EINVAL; }

void CheckOpened(const ChangeTracker& t, const ChangeTrackerOpenReport& report) {
  const uint64_t pages = (t.chunk_count() + ChangeTracker::kChunksPerPage - 1) / ChangeTracker::kChunksPerPage;
  FUZZ_CHECK(report.bad_pages <= pages, "more bad pages than pages");
  const std::vector<uint64_t> marked = t.Marked(ChangeTracker::Set::kEither);
  FUZZ_CHECK(marked.empty() || marked.back() < t.chunk_count(), "a mark past the volume");
  FUZZ_CHECK(marked.size() == t.CountMarked(ChangeTracker::Set::kEither), "CountMarked disagrees with Marked");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  if (size < kHeader) return 0;
  const uint8_t flags = data[0];
  const uint32_t chunk_size = 4096u << (data[1] % 5);
  const uint64_t chunks = 1 + GetLE32(data + 2) % 100000;
  const uint64_t volume_size = chunks * chunk_size - GetLE16(data + 6) % chunk_size;
  FuzzedDataProvider in(data + kHeader, size - kHeader);
  Scratch().Reset();
  const std::string path = Scratch() / "changes";

  std::vector<uint64_t> before;
  std::vector<uint8_t> file;
  if (flags & 1) {
    file = in.ConsumeRemainingBytes<uint8_t>();
  } else {
    before = WriteTracked(in, path, volume_size, chunk_size);
    Result<std::vector<uint8_t>> bytes = ReadSmallFile(path, kNoSizeLimit);
    FUZZ_CHECK(bytes.ok(), "read back: " + bytes.status().ToString());
    file = std::move(bytes).value();
    Damage(in, file);
  }
  FixChecksums(flags, file);
  Scratch().Write("changes", file);

  ChangeTrackerOpenReport ro_report;
  Result<std::unique_ptr<ChangeTracker>> ro = ChangeTracker::OpenReadOnly(path, volume_size, chunk_size, &ro_report);
  if (!ro.ok()) {
    FUZZ_CHECK(Expected(ro.status()), "OpenReadOnly: " + ro.status().ToString());
    return 0;
  }
  CheckOpened(**ro, ro_report);
  const std::vector<uint64_t> seen = (*ro)->Marked(ChangeTracker::Set::kEither);
  if (!(flags & 7)) {
    FUZZ_CHECK(std::includes(seen.begin(), seen.end(), before.begin(), before.end()), "damage lost a mark");
  }
  ro->reset();

  ChangeTrackerOpenReport rw_report;
  Result<std::unique_ptr<ChangeTracker>> rw = ChangeTracker::Open(path, volume_size, chunk_size, &rw_report);
  FUZZ_CHECK(rw.ok(), "Open refused what OpenReadOnly took: " + rw.status().ToString());
  CheckOpened(**rw, rw_report);
  FUZZ_CHECK(rw_report.bad_pages == ro_report.bad_pages, "Open and OpenReadOnly found different damage");
  FUZZ_CHECK((*rw)->Marked(ChangeTracker::Set::kEither) == seen, "Open and OpenReadOnly read different marks");
  rw->reset();

  ChangeTrackerOpenReport after;
  Result<std::unique_ptr<ChangeTracker>> again = ChangeTracker::OpenReadOnly(path, volume_size, chunk_size, &after);
  FUZZ_CHECK(again.ok(), "the repaired file does not open: " + again.status().ToString());
  FUZZ_CHECK(after.bad_pages == 0, "Open did not repair every bad page");
  FUZZ_CHECK((*again)->Marked(ChangeTracker::Set::kEither) == seen, "the repair changed the marks");
  return 0;
}
