// Tests for Device against real files in /tmp and a real loop block device.
#include "io/device.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/aligned_buffer.h"
#include "support/io_test_util.h"

namespace amberfs::testing {
namespace {

bool AllZero(const std::vector<uint8_t>& v) {
  return std::all_of(v.begin(), v.end(), [](uint8_t b) { return b == 0; });
}

std::vector<uint8_t> PreadAll(int fd, uint64_t offset, size_t len) {
  std::vector<uint8_t> out(len);
  ssize_t n = ::pread(fd, out.data(), len, static_cast<off_t>(offset));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

int64_t AllocatedBlocks(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<int64_t>(st.st_blocks) : -1;
}

// Writes `len` pattern bytes to a new file at `path` and fsyncs it.
std::vector<uint8_t> MakeImage(const std::string& path, size_t len, uint32_t seed) {
  std::vector<uint8_t> data = Pattern(len, seed);
  UniqueFd fd = OpenFile(path, O_RDWR | O_CREAT | O_TRUNC);
  REQUIRE(fd.valid());
  REQUIRE(::pwrite(fd.get(), data.data(), data.size(), 0) == static_cast<ssize_t>(len));
  REQUIRE(::fsync(fd.get()) == 0);
  return data;
}

// A fresh image of `len` pattern bytes in `dir`, opened as a Device.
struct Image {
  std::string path;
  std::vector<uint8_t> data;
  std::unique_ptr<Device> dev;
};
Image OpenImage(const ScratchDir& dir, size_t len, uint32_t seed, const DeviceOptions& options = {}) {
  Image image;
  image.path = dir.File("image");
  image.data = MakeImage(image.path, len, seed);
  Result<std::unique_ptr<Device>> dev = Device::Open(image.path, options);
  REQUIRE_MESSAGE(dev.ok(), dev.status().ToString());
  image.dev = std::move(dev).value();
  return image;
}

TEST_CASE("device: a regular file opens with its size and 4 KiB alignment") {
  ScratchDir dir("dev");
  std::string path = dir.File("image");
  const uint64_t size = (1u << 20) + 123;
  {
    UniqueFd fd = OpenFile(path);
    REQUIRE(::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
  }
  Result<std::unique_ptr<Device>> dev = Device::Open(path, {});
  REQUIRE_MESSAGE(dev.ok(), dev.status().ToString());
  CHECK((*dev)->size() == size);
  CHECK_FALSE((*dev)->is_block_device());
  CHECK((*dev)->alignment() == 4096);
  CHECK((*dev)->path() == path);
  CHECK_FALSE((*dev)->direct());
  CHECK_FALSE((*dev)->read_only());
  // Blocking mode is restored after the open.
  CHECK((::fcntl((*dev)->fd(), F_GETFL) & O_NONBLOCK) == 0);
  CHECK((::fcntl((*dev)->fd(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("device: O_DIRECT file I/O through both backends with aligned buffers") {
  ScratchDir dir("direct");
  std::string path = dir.File("image");
  MakeImage(path, 1 << 20, 1);
  {
    UniqueFd probe(::open(path.c_str(), O_RDWR | O_DIRECT));
    if (!probe.valid() && errno == EINVAL) {
      std::printf("SKIP: device O_DIRECT test: %s does not support O_DIRECT\n", dir.path().c_str());
      return;
    }
  }
  Result<std::unique_ptr<Device>> dev = Device::Open(path, DeviceOptions{.direct = true});
  REQUIRE_MESSAGE(dev.ok(), dev.status().ToString());
  CHECK((*dev)->direct());
  CHECK((::fcntl((*dev)->fd(), F_GETFL) & O_DIRECT) != 0);
  const size_t align = (*dev)->alignment();
  REQUIRE(align == 4096);

  for (NamedIO& b : BothBackends()) {
    INFO("backend ", b.label);
    AlignedBuffer out(4 * align, align);
    std::vector<uint8_t> data = Pattern(out.size(), 42);
    std::memcpy(out.data(), data.data(), data.size());
    WriteOp writes[] = {{out.data(), 2 * align, 0}, {out.data() + 2 * align, 2 * align, 8 * align}};
    REQUIRE(b.io->LinkedWriteFsync((*dev)->fd(), writes).ok());
    AlignedBuffer in(4 * align, align);
    ReadOp reads[] = {{in.data(), 2 * align, 0}, {in.data() + 2 * align, 2 * align, 8 * align}};
    REQUIRE(b.io->PreadBatch((*dev)->fd(), reads).ok());
    CHECK(std::memcmp(in.data(), out.data(), out.size()) == 0);
    // The kernel enforces the alignment on this fd: the proof it is O_DIRECT.
    WriteOp unaligned{out.data() + 1, align, 0};
    CHECK(b.io->PwriteBatch((*dev)->fd(), std::span(&unaligned, 1)).code() == EINVAL);
  }
}

TEST_CASE("device: discard reads back zeros and frees space") {
  ScratchDir dir("discard");
  const size_t size = 2 << 20;
  auto [path, data, dev] = OpenImage(dir, size, 3);
  const int64_t before = AllocatedBlocks(path);

  REQUIRE(dev->Discard(64 << 10, 512 << 10).ok());
  CHECK(AllZero(PreadAll(dev->fd(), 64 << 10, 512 << 10)));
  CHECK(PreadAll(dev->fd(), 0, 64 << 10) == std::vector<uint8_t>(data.begin(), data.begin() + (64 << 10)));
  CHECK(PreadAll(dev->fd(), 576 << 10, size - (576 << 10)) ==
        std::vector<uint8_t>(data.begin() + (576 << 10), data.end()));
  CHECK(AllocatedBlocks(path) < before);
  CHECK(dev->size() == size);
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(static_cast<size_t>(st.st_size) == size);

  // An unaligned range is zeroed exactly, its neighbours untouched.
  REQUIRE(dev->Discard(1000001, 5003).ok());
  CHECK(AllZero(PreadAll(dev->fd(), 1000001, 5003)));
  CHECK(PreadAll(dev->fd(), 1000000, 1)[0] == data[1000000]);
  CHECK(PreadAll(dev->fd(), 1005004, 1)[0] == data[1005004]);
  CHECK(dev->Discard(size, 0).ok());
}

TEST_CASE("device: a discard outside the device is EINVAL and changes nothing") {
  ScratchDir dir("range");
  const size_t size = 64 << 10;
  auto [path, data, dev] = OpenImage(dir, size, 4);
  CHECK(dev->Discard(size - 10, 20).code() == EINVAL);
  CHECK(dev->Discard(size + 1, 0).code() == EINVAL);
  CHECK(dev->Discard(4096, UINT64_MAX - 100).code() == EINVAL);  // offset + length wraps
  Status st = dev->Discard(UINT64_MAX, 2);
  CHECK(st.code() == EINVAL);
  CHECK(st.message().find(path) != std::string::npos);
  CHECK(PreadAll(dev->fd(), 0, size) == data);
}

TEST_CASE("device: read-only open refuses to discard") {
  ScratchDir dir("ro");
  auto [path, data, dev] = OpenImage(dir, 8192, 5, DeviceOptions{.read_only = true});
  CHECK(dev->read_only());
  CHECK(dev->Discard(0, 4096).code() == EBADF);
  CHECK(::pwrite(dev->fd(), "x", 1, 0) < 0);
  CHECK(PreadAll(dev->fd(), 0, 8192) == data);
}

TEST_CASE("device: directories, character devices and missing paths are refused clearly") {
  ScratchDir dir("bad");
  for (bool read_only : {false, true}) {
    INFO("read_only ", read_only);
    Result<std::unique_ptr<Device>> d = Device::Open(dir.path(), DeviceOptions{.read_only = read_only});
    CHECK(d.status().code() == EINVAL);
    CHECK_MESSAGE(d.status().message().find("directory") != std::string::npos, d.status().message());
  }
  Result<std::unique_ptr<Device>> null_dev = Device::Open("/dev/null", {});
  CHECK(null_dev.status().code() == EINVAL);
  CHECK_MESSAGE(null_dev.status().message().find("character device") != std::string::npos,
                null_dev.status().message());

  std::string fifo = dir.File("fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Read-only so that a blocking open would hang here rather than pass.
  CHECK(Device::Open(fifo, DeviceOptions{.read_only = true}).status().code() == EINVAL);

  std::string missing = dir.File("no-such-image");
  Result<std::unique_ptr<Device>> m = Device::Open(missing, {});
  CHECK(m.status().code() == ENOENT);
  CHECK_MESSAGE(m.status().message().find(missing) != std::string::npos, m.status().message());
  CHECK(Device::Open("", {}).status().code() == EINVAL);
}

// A loop device over a file, detached on destruction.
class LoopDevice {
 public:
  // Empty path() when losetup is unavailable or refuses; why() says why.
  explicit LoopDevice(const std::string& backing) {
    std::string cmd = "losetup --find --show '" + backing + "' 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
      why_ = "popen losetup failed";
      return;
    }
    char line[256] = {};
    std::string out;
    while (std::fgets(line, sizeof line, p) != nullptr) out += line;
    int rc = ::pclose(p);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    if (rc != 0 || out.rfind("/dev/", 0) != 0) {
      why_ = "losetup failed (exit " + std::to_string(rc) + "): " + out;
      return;
    }
    path_ = out;
  }
  ~LoopDevice() {
    if (path_.empty()) return;
    std::string cmd = "losetup -d '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "warning: could not detach %s\n", path_.c_str());
  }
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;

  const std::string& path() const { return path_; }
  const std::string& why() const { return why_; }

 private:
  std::string path_;
  std::string why_;
};

TEST_CASE("device: a loop block device opens with its size and discards to zeros") {
  if (::geteuid() != 0) {
    std::printf("SKIP: device loop test: needs root for losetup\n");
    return;
  }
  ScratchDir dir("loop");
  std::string backing = dir.File("backing");
  const size_t size = 4 << 20;
  std::vector<uint8_t> data = MakeImage(backing, size, 6);
  LoopDevice loop(backing);
  if (loop.path().empty()) {
    std::printf("SKIP: device loop test: %s\n", loop.why().c_str());
    return;
  }
  Result<std::unique_ptr<Device>> dev = Device::Open(loop.path(), {});
  REQUIRE_MESSAGE(dev.ok(), dev.status().ToString());
  CHECK((*dev)->is_block_device());
  CHECK((*dev)->size() == size);
  CHECK((*dev)->alignment() >= 512);
  CHECK((*dev)->alignment() % 512 == 0);
  CHECK(PreadAll((*dev)->fd(), 0, size) == data);

  const int64_t before = AllocatedBlocks(backing);
  REQUIRE((*dev)->Discard(1 << 20, 2 << 20).ok());
  CHECK(AllZero(PreadAll((*dev)->fd(), 1 << 20, 2 << 20)));
  CHECK(PreadAll((*dev)->fd(), 0, 1 << 20) == std::vector<uint8_t>(data.begin(), data.begin() + (1 << 20)));
  CHECK(PreadAll((*dev)->fd(), 3 << 20, 1 << 20) == std::vector<uint8_t>(data.begin() + (3 << 20), data.end()));
  // The loop driver passes the discard down as a hole in the backing file.
  CHECK(AllocatedBlocks(backing) < before);

  const uint64_t a = (*dev)->alignment();
  CHECK((*dev)->Discard(a + 1, a).code() == EINVAL);
  CHECK((*dev)->Discard(0, size + a).code() == EINVAL);
  CHECK(PreadAll((*dev)->fd(), 0, a) == std::vector<uint8_t>(data.begin(), data.begin() + a));
}

}  // namespace
}  // namespace amberfs::testing
