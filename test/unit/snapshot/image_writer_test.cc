#include "snapshot/image_writer.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "base/durable_file.h"
#include "support/fault_file_ops.h"
#include "support/temp_dir.h"

using amberfs::ImageWriter;
using amberfs::ScopedFileOps;
using amberfs::testing::FaultFileOps;
using amberfs::testing::TempDir;
using Call = FaultFileOps::Call;

namespace {

constexpr size_t kChunk = 64 * 1024;

std::vector<uint8_t> Pattern(size_t size, uint32_t seed) {
  std::vector<uint8_t> v(size);
  for (size_t i = 0; i < size; ++i) v[i] = static_cast<uint8_t>(((i + seed) * 2654435761u) >> 13);
  return v;
}

// An image file of `size` zero bytes (sparse, as mkfs leaves it).
std::string MakeImage(const TempDir& dir, uint64_t size) {
  const std::string path = dir.path() + "/image";
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
  ::close(fd);
  return path;
}

// Whether the file system of `path` takes an O_DIRECT open (ext4 does;
// tmpfs before Linux 6.6 does not).
bool TakesDirect(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_DIRECT);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::vector<uint8_t> ReadImage(const std::string& path, uint64_t size) {
  auto back = amberfs::ReadSmallFile(path, size + 1);
  REQUIRE(back.ok());
  return *back;
}

// Writes `want` into the image at `path` chunk by chunk from one thread and
// finishes; returns whether any run went O_DIRECT.
bool WriteInOrder(const std::string& path, const std::vector<uint8_t>& want) {
  auto opened = ImageWriter::Open(path);
  REQUIRE(opened.ok());
  for (uint64_t off = 0; off < want.size(); off += kChunk)
    REQUIRE((*opened)->Add(off, {want.data() + off, kChunk}).ok());
  REQUIRE((*opened)->Finish().ok());
  return (*opened)->wrote_direct();
}

}  // namespace

// Four threads each write their quarter of a 32 MiB image chunk by chunk,
// in runs longer than a run buffer, with jumps back and forth inside it (a
// run ends early), as a restore's download threads do; one thread also
// writes a chunk larger than a run buffer from an unaligned address, and one
// a last chunk that ends mid-block. Where O_DIRECT works (/tmp here) the
// aligned runs go with it; on tmpfs as the file system allows.
TEST_CASE("image writer: runs from several threads, out of order, land exact, with O_DIRECT where allowed") {
  for (const char* base : {"/tmp", "/dev/shm"}) {
    TempDir dir("image-writer", base);
    REQUIRE(!dir.path().empty());
    const uint64_t quarter = uint64_t{8} << 20, tail = 4096 + 100;
    const uint64_t size = 4 * quarter + (amberfs::kImageRunBytes + kChunk) + tail;
    const std::string path = MakeImage(dir, size);
    const std::vector<uint8_t> want = Pattern(size, 7);
    auto opened = ImageWriter::Open(path);
    REQUIRE(opened.ok());
    ImageWriter& image = **opened;

    std::vector<amberfs::Status> results(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        const uint64_t first = t * quarter, chunks = quarter / kChunk;
        // In order, except that chunks 10..19 come after 20..29.
        std::vector<uint64_t> order;
        for (uint64_t c = 0; c < chunks; ++c) order.push_back(c >= 10 && c < 30 ? (c < 20 ? c + 10 : c - 10) : c);
        for (uint64_t c : order) {
          const uint64_t off = first + c * kChunk;
          amberfs::Status st = image.Add(off, {want.data() + off, kChunk});
          if (!st.ok()) {
            results[t] = st;
            return;
          }
        }
        if (t == 1) {  // larger than a run buffer, and not aligned in memory
          const uint64_t off = 4 * quarter, len = amberfs::kImageRunBytes + kChunk;
          std::vector<uint8_t> copy(want.begin() + off, want.begin() + off + len);
          copy.insert(copy.begin(), 0);
          results[t] = image.Add(off, {copy.data() + 1, len});
        }
        if (t == 2) results[t] = image.Add(size - tail, {want.data() + size - tail, tail});
      });
    }
    for (std::thread& th : threads) th.join();
    for (const amberfs::Status& st : results) REQUIRE_MESSAGE(st.ok(), st.ToString());
    REQUIRE(image.Finish().ok());
    if (TakesDirect(path)) {
      CHECK(image.wrote_direct());
    } else {
      MESSAGE("SKIP the O_DIRECT check on " << base << ": it refuses O_DIRECT opens");
    }
    CHECK_MESSAGE(ReadImage(path, size) == want, base);
  }
}

// A file system that takes the O_DIRECT open but refuses the writes
// (EINVAL): the run is written again through the page cache, and so is every
// later one; the image is exact. A full disk is an error naming the image.
TEST_CASE("image writer: refused O_DIRECT writes go through the page cache; a full disk is an error") {
  TempDir dir("image-writer-faults", "/tmp");
  REQUIRE(!dir.path().empty());
  const uint64_t size = uint64_t{16} << 20;
  const std::vector<uint8_t> want = Pattern(size, 3);
  if (!TakesDirect(MakeImage(dir, size))) {
    MESSAGE("SKIP refused O_DIRECT writes: /tmp refuses O_DIRECT opens, so there are none to refuse");
  } else {
    const std::string path = MakeImage(dir, size);
    FaultFileOps ops;
    ops.Fail(Call::kPwrite, EINVAL, 1);
    ScopedFileOps installed(&ops);
    CHECK_FALSE(WriteInOrder(path, want));
    CHECK(ops.Calls(Call::kPwrite) >= 5);  // the refused one, then 4 runs of 4 MiB
    CHECK(ReadImage(path, size) == want);
  }
  if (TakesDirect(MakeImage(dir, size))) {
    // The refusal can come after part of a run went O_DIRECT: the first
    // direct write stops short at 8 KiB, the rest of it is refused. The
    // whole run is written again through the page cache, from its start.
    const std::string path = MakeImage(dir, size);
    FaultFileOps ops;
    ops.ShortWrites(8192, 1);
    ops.Fail(Call::kPwrite, EINVAL, 1, /*skip=*/1);
    ScopedFileOps installed(&ops);
    CHECK_FALSE(WriteInOrder(path, want));
    CHECK(ops.Calls(Call::kPwrite) == 6);  // 8 KiB direct, the refused rest, then 4 runs of 4 MiB
    CHECK(ReadImage(path, size) == want);
  }
  {
    const std::string path = MakeImage(dir, size);
    FaultFileOps ops;
    ops.Fail(Call::kPwrite, ENOSPC);
    ScopedFileOps installed(&ops);
    auto opened = ImageWriter::Open(path);
    REQUIRE(opened.ok());
    amberfs::Status st;
    for (uint64_t off = 0; off < size && st.ok(); off += kChunk) st = (*opened)->Add(off, {want.data() + off, kChunk});
    if (st.ok()) st = (*opened)->Finish();
    CHECK(st.code() == ENOSPC);
    CHECK(st.message().find(path) != std::string::npos);
  }
  auto absent = ImageWriter::Open(dir.path() + "/none");
  CHECK(absent.status().code() == ENOENT);
}
