#include "base/durable_file.h"

#include <doctest/doctest.h>
#include <dirent.h>

#include <set>
#include <string>

#include "support/fault_file_ops.h"
#include "support/temp_dir.h"

using amberfs::ScopedFileOps;
using amberfs::testing::FaultFileOps;
using amberfs::testing::TempDir;
using Call = FaultFileOps::Call;

namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

size_t EntriesIn(const std::string& dir) {
  size_t n = 0;
  DIR* d = opendir(dir.c_str());
  while (struct dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

// Every entry, temporaries included.
size_t AllEntriesIn(const std::string& dir) {
  size_t n = 0;
  DIR* d = opendir(dir.c_str());
  while (struct dirent* e = readdir(d)) n += std::string(e->d_name) != "." && std::string(e->d_name) != "..";
  closedir(d);
  return n;
}

}  // namespace

TEST_CASE("durable file: atomic replace, no-replace, bounded reads, removal") {
  TempDir dir("snap");
  REQUIRE(amberfs::WriteFileAtomic(dir.path(), "f", Bytes("one"), false).ok());
  CHECK(amberfs::ReadSmallFile(dir / "f", 100).value() == Bytes("one"));
  REQUIRE(amberfs::WriteFileAtomic(dir.path(), "f", Bytes("two!"), false).ok());
  CHECK(amberfs::ReadSmallFile(dir / "f", 100).value() == Bytes("two!"));
  CHECK(amberfs::WriteFileAtomic(dir.path(), "f", Bytes("three"), true).code() == EEXIST);
  CHECK(amberfs::ReadSmallFile(dir / "f", 100).value() == Bytes("two!"));
  CHECK(EntriesIn(dir.path()) == 1);  // no temporary left behind
  CHECK(amberfs::ReadSmallFile(dir / "f", 3).status().code() == EFBIG);
  CHECK(amberfs::ReadSmallFile(dir / "g", 3).status().code() == ENOENT);
  CHECK(amberfs::WriteFileAtomic(dir / "nodir", "f", Bytes("x"), false).code() == ENOENT);
  REQUIRE(amberfs::RemoveDurably(dir.path(), "f").ok());
  CHECK(amberfs::RemoveDurably(dir.path(), "f").code() == ENOENT);
  CHECK(amberfs::ReadSmallFile(dir / "f", 100).status().code() == ENOENT);
}

// A file of 1 MiB or more goes O_DIRECT where allowed; a refusal (EINVAL)
// at the first piece or at a later one, after part of a piece went through,
// sends the rest through the page cache and the file is exact.
TEST_CASE("durable file: a large file whose O_DIRECT writes are refused midway is written whole") {
  TempDir dir("durable-direct", "/tmp");
  std::vector<uint8_t> data((size_t{3} << 20) + 1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 131 + i / 4096);
  for (int skip : {0, 1, 2}) {
    CAPTURE(skip);
    FaultFileOps ops;
    ops.ShortWrites(8192, skip == 2 ? 1 : 0);  // the third case: the refusal cuts a piece short
    ops.Fail(Call::kPwrite, EINVAL, 1, skip == 2 ? 1 : skip);
    const std::string name = "f" + std::to_string(skip);
    {
      ScopedFileOps installed(&ops);
      REQUIRE(amberfs::WriteFileAtomic(dir.path(), name, data, false).ok());
    }
    CHECK(amberfs::ReadSmallFile(dir / name, data.size()).value() == data);
  }
}

TEST_CASE("durable file: a failed write, sync or rename keeps the old file and leaves no temporary") {
  TempDir dir("durable-faults");
  REQUIRE(amberfs::WriteFileAtomic(dir.path(), "f", Bytes("old"), false).ok());
  for (auto [call, err] : {std::pair{Call::kPwrite, ENOSPC}, std::pair{Call::kFdatasync, EIO},
                           std::pair{Call::kRename, EIO}}) {
    FaultFileOps ops;
    ops.Fail(call, err);
    {
      ScopedFileOps installed(&ops);
      CHECK(amberfs::WriteFileAtomic(dir.path(), "f", Bytes("new bytes"), false).code() == err);
    }
    CHECK(ops.Calls(call) == 1);
    CHECK(amberfs::ReadSmallFile(dir / "f", 100).value() == Bytes("old"));
    CHECK(AllEntriesIn(dir.path()) == 1);
  }
}

TEST_CASE("durable file: a failed directory fsync is reported after the rename") {
  TempDir dir("durable-faults");
  FaultFileOps ops;
  ops.Fail(Call::kFsync, EIO, /*times=*/1);
  {
    ScopedFileOps installed(&ops);
    CHECK(amberfs::WriteFileAtomic(dir.path(), "f", Bytes("new"), false).code() == EIO);
    CHECK(amberfs::FsyncDir(dir.path()).ok());  // the fault was for one call only
  }
  // The caller cannot know whether the rename is durable; the file is in place.
  CHECK(amberfs::ReadSmallFile(dir / "f", 100).value() == Bytes("new"));
  CHECK(AllEntriesIn(dir.path()) == 1);
}

TEST_CASE("durable file: temporary names are fresh, and both old and new styles are recognised") {
  std::set<std::string> names;
  for (int i = 0; i < 100; ++i) names.insert(amberfs::MakeTempName());
  CHECK(names.size() == 100);
  for (const std::string& name : names) CHECK(amberfs::IsTempName(name));
  CHECK(amberfs::IsTempName(".tmp-123-0"));  // WriteFileAtomic's names before MakeTempName
  CHECK(amberfs::IsTempName(".tmp.123.4.5"));
  for (const char* name : {"tmp", ".tmp", ".tmpx", "a.tmp.1", "20240101T000000Z", ".hidden"})
    CHECK_FALSE(amberfs::IsTempName(name));
}

// Large files take the O_DIRECT path where the file system allows it (the
// host's /tmp here) and the page cache where it does not (tmpfs); sizes that
// end mid-block put the tail through the buffered descriptor either way.
TEST_CASE("durable file: a large file reads back exact, with O_DIRECT or without") {
  for (const char* base : {"/tmp", "/dev/shm"}) {
    TempDir dir("durable-large", base);
    REQUIRE(!dir.path().empty());
    for (size_t size : {size_t{1} << 20, (size_t{3} << 20) + 4096, (size_t{5} << 20) + 123, (size_t{1} << 20) - 1}) {
      std::vector<uint8_t> data(size);
      for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
      const std::string name = "f" + std::to_string(size);
      REQUIRE(amberfs::WriteFileAtomic(dir.path(), name, data, /*no_replace=*/false).ok());
      auto back = amberfs::ReadSmallFile(dir.path() + "/" + name, size + 1);
      REQUIRE(back.ok());
      CHECK_MESSAGE(*back == data, base << ": " << size << " bytes");
    }
    CHECK(AllEntriesIn(dir.path()) == 4);
  }
}

// ReadFileInto: exact bytes for sizes that end mid-block and on a block, into
// a buffer reused when large enough, where O_DIRECT works (/tmp) and where
// it does not (tmpfs); absent and oversized files are errors, not reads.
TEST_CASE("durable file: ReadFileInto reads whole files exact into a reused buffer, with O_DIRECT or without") {
  for (const char* base : {"/tmp", "/dev/shm"}) {
    TempDir dir("durable-into", base);
    REQUIRE(!dir.path().empty());
    amberfs::AlignedBuffer buffer;
    const uint8_t* first_data = nullptr;
    // Largest first: the later, smaller files must reuse its buffer.
    for (size_t size : {(size_t{2} << 20) + 123, size_t{1} << 20, size_t{4097}, size_t{4096}, size_t{1}, size_t{0}}) {
      std::vector<uint8_t> data(size);
      for (size_t i = 0; i < size; ++i) data[i] = static_cast<uint8_t>((i * 2654435761u + size) >> 11);
      const std::string path = dir.path() + "/f" + std::to_string(size);
      REQUIRE(amberfs::WriteFileAtomic(dir.path(), "f" + std::to_string(size), data, /*no_replace=*/false).ok());
      auto got = amberfs::ReadFileInto(path, size_t{4} << 20, &buffer, "file " + path);
      REQUIRE_MESSAGE(got.ok(), got.status().ToString());
      REQUIRE(*got == size);
      CHECK_MESSAGE(std::equal(data.begin(), data.end(), buffer.data()), base << ": " << size << " bytes");
      CHECK(reinterpret_cast<uintptr_t>(buffer.data()) % 4096 == 0);
      if (first_data == nullptr) first_data = buffer.data();
      CHECK_MESSAGE(buffer.data() == first_data, "the buffer was replaced for " << size << " bytes");
    }
    auto absent = amberfs::ReadFileInto(dir.path() + "/none", 1 << 20, &buffer, "file none");
    CHECK(absent.status().code() == ENOENT);
    CHECK(absent.status().message().find("file none not found") != std::string::npos);
    auto large = amberfs::ReadFileInto(dir.path() + "/f4097", 4096, &buffer, "file f4097");
    CHECK(large.status().code() == EBADMSG);
  }
}
