// Tests for both BatchIO backends against real files, and for the FaultIO
// test wrapper.
#include "io/batch_io.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <numeric>
#include <thread>

#include "support/fault_io.h"
#include "support/io_test_util.h"

namespace amberfs::testing {
namespace {

// Reads the file with pread(2) directly, so that what a backend wrote is
// judged by something other than the backend.
std::vector<uint8_t> ReadDirect(int fd, uint64_t offset, size_t len) {
  std::vector<uint8_t> out(len);
  ssize_t n = ::pread(fd, out.data(), len, static_cast<off_t>(offset));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

uint64_t FileSize(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

TEST_CASE("batch_io: mixed sizes, zero-length ops and unaligned buffers round-trip") {
  ScratchDir dir("mixed");
  for (NamedIO& b : BothBackends()) {
    INFO("backend ", b.label);
    UniqueFd fd = OpenFile(dir.File(b.label));
    REQUIRE(fd.valid());
    // Lengths chosen to straddle page and sector boundaries; the buffers start
    // one byte into an allocation so that none is aligned.
    const size_t lens[] = {0, 1, 7, 4095, 4096, 4097, 0, 65537, (1u << 20) + 3, 511};
    std::vector<std::vector<uint8_t>> data;
    std::vector<WriteOp> writes;
    uint64_t offset = 13;
    for (size_t i = 0; i < std::size(lens); ++i) {
      data.push_back(Pattern(lens[i] + 1, static_cast<uint32_t>(i)));
      writes.push_back(WriteOp{data.back().data() + 1, lens[i], offset});
      offset += lens[i] + 1000;  // gaps stay holes
    }
    REQUIRE(b.io->PwriteBatch(fd.get(), writes).ok());

    for (const WriteOp& w : writes) {
      auto on_disk = ReadDirect(fd.get(), w.offset, w.len);
      REQUIRE(on_disk.size() == w.len);
      CHECK(on_disk == std::vector<uint8_t>(static_cast<const uint8_t*>(w.buf), static_cast<const uint8_t*>(w.buf) + w.len));
    }

    std::vector<std::vector<uint8_t>> back;
    std::vector<ReadOp> reads;
    for (const WriteOp& w : writes) {
      back.emplace_back(w.len + 1, 0);
      reads.push_back(ReadOp{back.back().data() + 1, w.len, w.offset});
    }
    REQUIRE(b.io->PreadBatch(fd.get(), reads).ok());
    for (size_t i = 0; i < reads.size(); ++i) {
      CHECK(std::memcmp(reads[i].buf, writes[i].buf, writes[i].len) == 0);
    }
    // A zero-length op needs no buffer at all.
    WriteOp empty_write{nullptr, 0, 0};
    ReadOp empty_read{nullptr, 0, 1u << 30};
    CHECK(b.io->PwriteBatch(fd.get(), std::span(&empty_write, 1)).ok());
    CHECK(b.io->PreadBatch(fd.get(), std::span(&empty_read, 1)).ok());
    CHECK(b.io->PreadBatch(fd.get(), {}).ok());
  }
}

TEST_CASE("batch_io: a batch larger than the queue depth is done in rounds") {
  ScratchDir dir("rounds");
  constexpr unsigned kDepth = 4;
  constexpr size_t kOps = 100;
  constexpr size_t kBlock = 4096;
  for (NamedIO& b : BothBackends(kDepth)) {
    INFO("backend ", b.label);
    UniqueFd fd = OpenFile(dir.File(b.label));
    REQUIRE(fd.valid());
    std::vector<uint8_t> data = Pattern(kOps * kBlock, 7);
    std::vector<size_t> order(kOps);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), std::mt19937(3));
    std::vector<WriteOp> writes;
    for (size_t i : order) writes.push_back(WriteOp{data.data() + i * kBlock, kBlock, i * kBlock});
    REQUIRE(b.io->PwriteBatch(fd.get(), writes).ok());
    CHECK(ReadDirect(fd.get(), 0, data.size()) == data);

    std::vector<uint8_t> back(data.size());
    std::vector<ReadOp> reads;
    for (size_t i : order) reads.push_back(ReadOp{back.data() + i * kBlock, kBlock, i * kBlock});
    REQUIRE(b.io->PreadBatch(fd.get(), reads).ok());
    CHECK(back == data);
  }
}

TEST_CASE("batch_io: LinkedWriteFsync writes everything, in one chain or in rounds") {
  ScratchDir dir("linked");
  constexpr unsigned kDepth = 4;
  for (NamedIO& b : BothBackends(kDepth)) {
    for (size_t ops : {size_t{1}, size_t{3}, size_t{10}}) {  // fits the ring / needs rounds
      INFO("backend ", b.label, " ops ", ops);
      UniqueFd fd = OpenFile(dir.File(b.label + std::to_string(ops)));
      REQUIRE(fd.valid());
      std::vector<uint8_t> data = Pattern(ops * 5000, static_cast<uint32_t>(ops));
      std::vector<WriteOp> writes;
      for (size_t i = 0; i < ops; ++i) writes.push_back(WriteOp{data.data() + i * 5000, 5000, i * 5000});
      writes.push_back(WriteOp{nullptr, 0, 0});
      Status st = b.io->LinkedWriteFsync(fd.get(), writes);
      REQUIRE_MESSAGE(st.ok(), st.ToString());
      CHECK(ReadDirect(fd.get(), 0, data.size()) == data);
    }
    UniqueFd fd = OpenFile(dir.File(b.label + "-empty"));
    CHECK(b.io->LinkedWriteFsync(fd.get(), {}).ok());
    CHECK(b.io->Fsync(fd.get()).ok());
  }
}

TEST_CASE("batch_io: a read past end of file is EIO, never zero-filled") {
  ScratchDir dir("eof");
  for (NamedIO& b : BothBackends()) {
    INFO("backend ", b.label);
    UniqueFd fd = OpenFile(dir.File(b.label));
    std::vector<uint8_t> data = Pattern(1000, 1);
    REQUIRE(::pwrite(fd.get(), data.data(), data.size(), 0) == 1000);
    std::vector<uint8_t> buf(4096);
    ReadOp ok_read{buf.data(), 1000, 0};
    ReadOp past{buf.data(), 4096, 0};
    ReadOp ops[] = {ok_read, past};
    Status st = b.io->PreadBatch(fd.get(), ops);
    CHECK(st.code() == EIO);
    CHECK_MESSAGE(st.message().find("short read at offset 1000") != std::string::npos, st.message());
    ReadOp beyond{buf.data(), 10, 5000};
    st = b.io->PreadBatch(fd.get(), std::span(&beyond, 1));
    CHECK(st.code() == EIO);
    CHECK_MESSAGE(st.message().find("short read at offset 5000") != std::string::npos, st.message());
  }
}

TEST_CASE("batch_io: a bad fd is EBADF from every call") {
  for (NamedIO& b : BothBackends()) {
    INFO("backend ", b.label);
    uint8_t buf[16] = {};
    ReadOp r{buf, sizeof buf, 0};
    WriteOp w{buf, sizeof buf, 0};
    CHECK(b.io->PreadBatch(-1, std::span(&r, 1)).code() == EBADF);
    CHECK(b.io->PwriteBatch(-1, std::span(&w, 1)).code() == EBADF);
    CHECK(b.io->Fsync(-1).code() == EBADF);
    CHECK(b.io->LinkedWriteFsync(-1, std::span(&w, 1)).code() == EBADF);
  }
}

TEST_CASE("batch_io: a failed write fails LinkedWriteFsync with the write's error") {
  ScratchDir dir("linkfail");
  constexpr unsigned kDepth = 4;
  for (NamedIO& b : BothBackends(kDepth)) {
    INFO("backend ", b.label);
    std::string path = dir.File(b.label);
    UniqueFd rw = OpenFile(path);
    REQUIRE(rw.valid());
    std::vector<uint8_t> data = Pattern(4096, 9);

    SUBCASE("every write fails: the fd is read-only") {
      UniqueFd ro = OpenFile(path, O_RDONLY);
      for (size_t ops : {size_t{2}, size_t{9}}) {
        std::vector<WriteOp> writes;
        for (size_t i = 0; i < ops; ++i) writes.push_back(WriteOp{data.data(), data.size(), i * 4096});
        Status st = b.io->LinkedWriteFsync(ro.get(), writes);
        CHECK_MESSAGE(st.code() == EBADF, st.ToString());
        CHECK_MESSAGE(st.message().find("pwrite at offset 0") != std::string::npos, st.message());
      }
    }
    SUBCASE("a write in the middle of the chain fails") {
      // ext4 and xfs refuse a write past their maximum file size with EFBIG.
      const uint64_t too_far = uint64_t{1} << 50;
      WriteOp writes[] = {{data.data(), 4096, 0}, {data.data(), 4096, too_far}, {data.data(), 4096, 8192}};
      Status st = b.io->LinkedWriteFsync(rw.get(), writes);
      REQUIRE_FALSE(st.ok());
      CHECK_MESSAGE(st.code() != ECANCELED, st.ToString());
      CHECK_MESSAGE(st.message().find("pwrite at offset " + std::to_string(too_far)) != std::string::npos,
                    st.message());
      CHECK(ReadDirect(rw.get(), 0, 4096) == data);
      // Nothing after the failed write ran: plain stops by program order,
      // io_uring because the link cancels the rest of the chain (without
      // IOSQE_IO_LINK the third write would land and the fsync would run).
      CHECK(FileSize(rw.get()) == 4096);
    }
  }
}

// RLIMIT_FSIZE makes the kernel cut a write short at the limit, and fail the
// next one with EFBIG: the only way to get a short write from a regular file.
// The error must name the limit's offset, which only a resubmitted remainder
// can reach.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t limit) {
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    ::getrlimit(RLIMIT_FSIZE, &old_);
    struct rlimit lim = old_;
    lim.rlim_cur = limit;
    ok_ = ::setrlimit(RLIMIT_FSIZE, &lim) == 0;
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const { return ok_; }

 private:
  struct rlimit old_;
  sighandler_t old_handler_;
  bool ok_ = false;
};

TEST_CASE("batch_io: a short write is resubmitted for its remainder") {
  ScratchDir dir("short");
  for (NamedIO& b : BothBackends(4)) {
    for (bool linked : {false, true}) {
      INFO("backend ", b.label, " linked ", linked);
      UniqueFd fd = OpenFile(dir.File(b.label + (linked ? "-linked" : "")));
      std::vector<uint8_t> data = Pattern(8192, 11);
      WriteOp writes[] = {{data.data(), 4096, 0}, {data.data() + 4096, 4096, 4096}};
      Status st;
      {
        FileSizeLimit limit(6000);
        REQUIRE(limit.ok());
        st = linked ? b.io->LinkedWriteFsync(fd.get(), writes) : b.io->PwriteBatch(fd.get(), writes);
      }
      CHECK_MESSAGE(st.code() == EFBIG, st.ToString());
      CHECK_MESSAGE(st.message().find("pwrite at offset 6000") != std::string::npos, st.message());
      CHECK(ReadDirect(fd.get(), 0, 8192) == std::vector<uint8_t>(data.begin(), data.begin() + 6000));
    }
  }
}

TEST_CASE("batch_io: concurrent callers share the backend safely") {
  ScratchDir dir("threads");
  constexpr int kThreads = 6;  // more than the io_uring pool's rings
  constexpr int kRounds = 30;
  constexpr size_t kOps = 8;
  constexpr size_t kBlock = 4096;
  for (NamedIO& b : BothBackends(8)) {
    INFO("backend ", b.label);
    UniqueFd fd = OpenFile(dir.File(b.label));
    REQUIRE(fd.valid());
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const uint64_t base = static_cast<uint64_t>(t) * kOps * kBlock;
        for (int round = 0; round < kRounds; ++round) {
          std::vector<uint8_t> data = Pattern(kOps * kBlock, static_cast<uint32_t>(t * 1000 + round));
          std::vector<WriteOp> writes;
          for (size_t i = 0; i < kOps; ++i) writes.push_back(WriteOp{data.data() + i * kBlock, kBlock, base + i * kBlock});
          Status st = round % 5 == 0 ? b.io->LinkedWriteFsync(fd.get(), writes) : b.io->PwriteBatch(fd.get(), writes);
          std::vector<uint8_t> back(data.size());
          std::vector<ReadOp> reads;
          for (size_t i = 0; i < kOps; ++i) reads.push_back(ReadOp{back.data() + i * kBlock, kBlock, base + i * kBlock});
          if (!st.ok() || !b.io->PreadBatch(fd.get(), reads).ok() || back != data) ++failures;
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
  }
}

TEST_CASE("batch_io: after Close every call is ESHUTDOWN") {
  ScratchDir dir("closed");
  for (NamedIO& b : BothBackends()) {
    INFO("backend ", b.label);
    UniqueFd fd = OpenFile(dir.File(b.label));
    uint8_t buf[8] = {1};
    WriteOp w{buf, sizeof buf, 0};
    ReadOp r{buf, sizeof buf, 0};
    REQUIRE(b.io->PwriteBatch(fd.get(), std::span(&w, 1)).ok());
    b.io->Close();
    b.io->Close();
    CHECK(b.io->PwriteBatch(fd.get(), std::span(&w, 1)).code() == ESHUTDOWN);
    CHECK(b.io->PwriteBatch(fd.get(), {}).code() == ESHUTDOWN);
    CHECK(b.io->PreadBatch(fd.get(), std::span(&r, 1)).code() == ESHUTDOWN);
    CHECK(b.io->Fsync(fd.get()).code() == ESHUTDOWN);
    CHECK(b.io->LinkedWriteFsync(fd.get(), std::span(&w, 1)).code() == ESHUTDOWN);
  }
}

TEST_CASE("batch_io: the io_uring fallback is reported, never silent") {
  ::setenv("AMBERFS_DISABLE_URING", "1", 1);
  std::unique_ptr<BatchIO> forced = OpenBatchIO(IoBackend::kUring);
  ::unsetenv("AMBERFS_DISABLE_URING");
  CHECK(std::string(forced->name()) == "plain");
  CHECK(forced->fallback_reason().find("AMBERFS_DISABLE_URING") != std::string::npos);

  std::unique_ptr<BatchIO> plain = OpenBatchIO(IoBackend::kPlain);
  CHECK(std::string(plain->name()) == "plain");
  CHECK(plain->fallback_reason().empty());

  std::unique_ptr<BatchIO> wanted = OpenBatchIO(IoBackend::kUring);
  Result<std::unique_ptr<BatchIO>> probe = OpenUringIO();
  if (probe.ok()) {
    CHECK(std::string(wanted->name()) == "io_uring");
    CHECK(wanted->fallback_reason().empty());
  } else {
    // Here the fallback is real; it must carry the setup error.
    CHECK(std::string(wanted->name()) == "plain");
    CHECK(wanted->fallback_reason() == probe.status().message());
  }
}

// Runs OpenBatchIO(kUring) in a child whose io_uring_setup is refused by a
// seccomp filter, as a container runtime's default profile does, and returns
// "<backend>|<fallback_reason>" as the child saw it.
std::string OpenUnderSeccomp() {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {static_cast<unsigned short>(std::size(filter)), filter};
    std::string out;
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      out = std::string("seccomp unavailable: ") + std::strerror(errno);
    } else {
      std::unique_ptr<BatchIO> io = OpenBatchIO(IoBackend::kUring);
      out = std::string(io->name()) + "|" + io->fallback_reason();
    }
    ssize_t ignored = ::write(fds[1], out.data(), out.size());
    (void)ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

TEST_CASE("batch_io: io_uring refused by seccomp falls back to plain and says why") {
  std::string seen = OpenUnderSeccomp();
  if (seen.rfind("seccomp unavailable", 0) == 0) {
    std::printf("SKIP: seccomp fallback test: %s\n", seen.c_str());
    return;
  }
  CHECK(seen == "plain|io_uring_queue_init: Operation not permitted");
}

TEST_CASE("batch_io: FaultIO fails what it is told to and counts every call") {
  ScratchDir dir("fault");
  FaultIO io(OpenPlainIO());
  UniqueFd fd = OpenFile(dir.File("f"));
  std::vector<uint8_t> data = Pattern(4 * 4096, 5);
  std::vector<WriteOp> writes;
  for (size_t i = 0; i < 4; ++i) writes.push_back(WriteOp{data.data() + i * 4096, 4096, i * 4096});

  io.FailNthWrite(3, ENOSPC);
  Status st = io.PwriteBatch(fd.get(), writes);
  CHECK(st.code() == ENOSPC);
  CHECK(st.message().find("offset 8192") != std::string::npos);
  CHECK(FileSize(fd.get()) == 8192);  // the two ops before the fault landed
  CHECK(io.PwriteBatch(fd.get(), writes).ok());  // fired once only

  io.FailWritesInRange(4096 + 100, 1, EIO);
  CHECK(io.PwriteBatch(fd.get(), std::span(writes).first(1)).ok());
  CHECK(io.PwriteBatch(fd.get(), writes).code() == EIO);
  CHECK(io.LinkedWriteFsync(fd.get(), writes).code() == EIO);  // still armed
  io.ClearFaults();

  io.FailNextFsyncs(2, EIO);
  CHECK(io.Fsync(fd.get()).code() == EIO);
  CHECK(io.LinkedWriteFsync(fd.get(), writes).code() == EIO);
  CHECK(io.Fsync(fd.get()).ok());

  io.FailReadsInRange(0, 1, EIO);
  std::vector<uint8_t> back(4096);
  ReadOp r{back.data(), back.size(), 0};
  CHECK(io.PreadBatch(fd.get(), std::span(&r, 1)).code() == EIO);
  io.ClearFaults();
  CHECK(io.PreadBatch(fd.get(), std::span(&r, 1)).ok());

  FaultIO::Counts c = io.counts();
  CHECK(c.write_batches == 4);
  CHECK(c.linked_calls == 2);
  CHECK(c.linked_ops == 8);
  CHECK(c.write_ops == 4 + 4 + 1 + 4 + 4 + 4);
  CHECK(c.fsyncs == 4);
  CHECK(c.read_batches == 2);
  CHECK(c.read_ops == 2);
  CHECK(c.injected == 6);
}

}  // namespace
}  // namespace amberfs::testing
