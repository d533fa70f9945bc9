// Fuzz target: a clone's remote chunks, VOLDIR/remote and VOLDIR/remote.log
// (RemoteChunks::Open), read by every mount and fsck of a clone whose chunks
// are partly still in the slow store; both files may be damaged by a crash
// or by hand.
//
// Input: a flags byte, a 16-bit length L, then L bytes of `remote` and the
// rest as `remote.log`. flags & 1 fixes the remote count (bytes 24..31) to
// the bits set, and flags & 2 fixes the checksum up (in that order), so the
// fuzzer reaches the fields behind them; flags & 4 appends a record to the
// log that marks the first remote chunk local (checksum right) after a
// read-write open, then opens again.
//
// Invariants: a bad `remote` is EBADMSG (EFBIG past the size bound); what
// opens has a chunk count > 0, an origin name that is a valid snapshot name,
// remaining() equal to the chunks IsRemote says (counted with NextRemote),
// and nothing remote past the end; a read-only open never changes either
// file; a read-write open of the same files gives the same set, and so does
// the next open after it (the torn tail it cut off stays off); a MarkLocal
// of a remote chunk is durable.
#include <xxhash.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "base/durable_file.h"
#include "fuzz/fuzz_support.h"
#include "snapshot/remote_chunks.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_layout.h"

using namespace amberfs;

namespace {

constexpr size_t kHeader = 64;

const fuzz::ScratchDir& Scratch() {
  static fuzz::ScratchDir dir;
  return dir;
}

std::vector<uint8_t> Read(const char* name) {
  Result<std::vector<uint8_t>> b = ReadSmallFile(Scratch() / name, 64 << 20);
  return b.ok() ? std::move(b).value() : std::vector<uint8_t>{0xff};  // absent reads as a marker
}

// The remote set, by NextRemote, checked against IsRemote and remaining().
std::vector<uint64_t> RemoteSet(const RemoteChunks& rc) {
  std::vector<uint64_t> set;
  for (std::optional<uint64_t> c = rc.NextRemote(0); c; c = rc.NextRemote(*c + 1)) {
    FUZZ_CHECK(*c < rc.chunk_count(), "a remote chunk past the end");
    FUZZ_CHECK(rc.IsRemote(*c), "NextRemote names a chunk IsRemote denies");
    set.push_back(*c);
    FUZZ_CHECK(set.size() <= rc.chunk_count(), "more remote chunks than chunks");
  }
  FUZZ_CHECK(set.size() == rc.remaining(), "remaining() disagrees with the set");
  FUZZ_CHECK(!rc.IsRemote(rc.chunk_count()), "IsRemote past the end");
  return set;
}

void CheckOpened(const RemoteChunks& rc) {
  FUZZ_CHECK(rc.chunk_count() > 0, "a chunk count of 0 was accepted");
  FUZZ_CHECK(ValidateSnapshotName(rc.origin().snapshot).ok(), "an invalid origin name was accepted");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  if (size < 3) return 0;
  const uint8_t flags = data[0];
  const size_t remote_len = std::min<size_t>(GetLE16(data + 1), size - 3);
  std::vector<uint8_t> remote(data + 3, data + 3 + remote_len);
  std::vector<uint8_t> log(data + 3 + remote_len, data + size);
  if ((flags & 1) && remote.size() >= kHeader + 8) {
    const uint32_t n = GetLE32(&remote[12]);
    if (n <= remote.size() - kHeader - 8) {
      uint64_t bits = 0;
      for (size_t i = kHeader + n; i < remote.size() - 8; ++i) bits += std::popcount(remote[i]);
      PutLE64(&remote[24], bits);
    }
  }
  if ((flags & 2) && remote.size() >= 8) PutLE64(&remote[remote.size() - 8], XXH3_64bits(remote.data(), remote.size() - 8));
  Scratch().Reset();
  Scratch().Write(kRemoteChunksFile, remote);
  Scratch().Write(kRemoteLogFile, log);

  // Read-only first: it must change nothing.
  Result<std::unique_ptr<RemoteChunks>> ro = RemoteChunks::Open(Scratch().path(), /*read_only=*/true);
  FUZZ_CHECK(Read(kRemoteChunksFile) == remote && Read(kRemoteLogFile) == log, "a read-only open changed a file");
  if (!ro.ok()) {
    const int code = ro.status().code();
    FUZZ_CHECK(code == EBADMSG || code == EFBIG, "RemoteChunks::Open: " + ro.status().ToString());
    return 0;
  }
  FUZZ_CHECK(*ro != nullptr, "a remote file that is there read as none");
  CheckOpened(**ro);
  const std::vector<uint64_t> set = RemoteSet(**ro);

  // Read-write: the same set (the torn tail is cut, the records kept).
  Result<std::unique_ptr<RemoteChunks>> rw = RemoteChunks::Open(Scratch().path());
  FUZZ_CHECK(rw.ok(), "a read-write open failed where a read-only one worked: " + rw.status().ToString());
  if (set.empty()) {
    FUZZ_CHECK(*rw == nullptr, "a clone with nothing remote was not ended");
    return 0;
  }
  FUZZ_CHECK(*rw != nullptr && RemoteSet(**rw) == set, "read-write open gives another set");
  if (flags & 4) {
    FUZZ_CHECK((*rw)->MarkLocal({set.front()}).ok(), "MarkLocal of a remote chunk failed");
  }
  rw->reset();
  Result<std::unique_ptr<RemoteChunks>> again = RemoteChunks::Open(Scratch().path());
  FUZZ_CHECK(again.ok(), "the files a read-write open left do not open: " + again.status().ToString());
  std::vector<uint64_t> expect = set;
  if (flags & 4) expect.erase(expect.begin());
  if (expect.empty()) {
    FUZZ_CHECK(*again == nullptr, "the last MarkLocal did not end the clone");
  } else {
    FUZZ_CHECK(*again != nullptr && RemoteSet(**again) == expect, "the set changed across opens");
  }
  return 0;
}
