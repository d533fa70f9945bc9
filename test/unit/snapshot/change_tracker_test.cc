#include "snapshot/change_tracker.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include <functional>
#include <random>
#include <set>
#include <thread>

#include "io/batch_io.h"
#include "base/byte_order.h"
#include "io/device.h"
#include "base/durable_file.h"
#include "support/temp_dir.h"

using amberfs::ChangeTracker;
using amberfs::Status;
using amberfs::testing::TempDir;
using Set = ChangeTracker::Set;

namespace {

constexpr uint32_t kChunk = 64 * 1024;

std::unique_ptr<ChangeTracker> MustOpen(const std::string& path, uint64_t size,
                                        amberfs::ChangeTrackerOpenReport* report = nullptr) {
  auto t = ChangeTracker::Open(path, size, kChunk, report);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(t).value();
}

std::unique_ptr<ChangeTracker> MustCreate(const std::string& path, uint64_t size) {
  auto t = ChangeTracker::Create(path, size, kChunk);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(t).value();
}

void Corrupt(const std::string& path, off_t offset) {
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  uint8_t b = 0;
  REQUIRE(::pread(fd, &b, 1, offset) == 1);
  b ^= 0x40;
  REQUIRE(::pwrite(fd, &b, 1, offset) == 1);
  ::close(fd);
}

// Forks a child that runs `child(write_fd)` (which must not return), kills it
// with SIGKILL after a random 2..42 ms, and returns the 16-byte records
// {a, b} it wrote to the pipe before it died.
std::vector<std::pair<uint64_t, uint64_t>> RunAndKill(std::mt19937_64& rng, const std::function<void(int)>& child) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1]);
    ::_exit(7);
  }
  ::close(fds[1]);
  ::usleep(static_cast<useconds_t>(2000 + rng() % 40000));
  REQUIRE(::kill(pid, SIGKILL) == 0);
  int wstatus = 0;
  REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
  CHECK_MESSAGE(WIFSIGNALED(wstatus), "child exited early with status " << WEXITSTATUS(wstatus));
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t rec[2];
  while (::read(fds[0], rec, sizeof rec) == sizeof rec) out.emplace_back(rec[0], rec[1]);
  ::close(fds[0]);
  return out;
}

// In the child: report a record, or die trying.
void Say(int fd, uint64_t a, uint64_t b) {
  uint64_t rec[2] = {a, b};
  if (::write(fd, rec, sizeof rec) != sizeof rec) ::_exit(6);
}

}  // namespace

TEST_CASE("tracker: marks chunks, persists them, and rejects bad input") {
  TempDir dir("snap");
  const std::string path = dir / "changes";
  const uint64_t size = 100 * kChunk + 1000;  // a partial last chunk
  {
    auto t = MustCreate(path, size);
    CHECK(t->chunk_count() == 101);
    CHECK(t->CountMarked(Set::kEither) == 0);
    REQUIRE(t->WillChange(kChunk - 1, 2).ok());  // straddles chunks 0 and 1
    REQUIRE(t->WillChange(100 * kChunk + 5, 10).ok());
    REQUIRE(t->WillChange(7 * kChunk, 0).ok());  // empty: marks nothing
    CHECK(t->WillChange(size - 1, 2).code() == EINVAL);
    CHECK(t->WillChange(UINT64_MAX - 1, 4).code() == EINVAL);
    CHECK(t->Marked(Set::kActive) == std::vector<uint64_t>{0, 1, 100});
    REQUIRE(t->BeforeImageWrite().ok());
    auto rounds = t->Stats().rounds;
    REQUIRE(t->WillChange(0, 10).ok());  // marked already: nothing new to write
    REQUIRE(t->BeforeImageWrite().ok());
    CHECK(t->Stats().rounds == rounds);
  }
  auto t = MustOpen(path, size);
  CHECK(t->Marked(Set::kActive) == std::vector<uint64_t>{0, 1, 100});
  CHECK(ChangeTracker::Create(path, size, kChunk).status().code() == EEXIST);
  CHECK(ChangeTracker::Open(path, size + kChunk, kChunk).status().code() == EINVAL);
  CHECK(ChangeTracker::Open(path, size, kChunk * 2).status().code() == EINVAL);
  CHECK(ChangeTracker::Open(path, size, 3000).status().code() == EINVAL);
  CHECK(ChangeTracker::Open(dir / "missing", size, kChunk).status().code() == ENOENT);
}

TEST_CASE("tracker: capture begin, commit and abort") {
  TempDir dir("snap");
  const std::string path = dir / "changes";
  const uint64_t size = 64 * kChunk;
  auto t = MustCreate(path, size);
  CHECK(t->CommitCapture().code() == EINVAL);
  CHECK(t->AbortCapture().code() == EINVAL);

  REQUIRE(t->WillChange(1 * kChunk, 1).ok());
  REQUIRE(t->WillChange(2 * kChunk, 1).ok());
  REQUIRE(t->BeginCapture().ok());
  CHECK(t->BeginCapture().code() == EBUSY);
  REQUIRE(t->WillChange(2 * kChunk, 1).ok());
  REQUIRE(t->WillChange(3 * kChunk, 1).ok());
  CHECK(t->Marked(Set::kCaptured) == std::vector<uint64_t>{1, 2});
  CHECK(t->Marked(Set::kActive) == std::vector<uint64_t>{2, 3});
  CHECK(t->Marked(Set::kEither) == std::vector<uint64_t>{1, 2, 3});
  REQUIRE(t->CommitCapture().ok());
  CHECK_FALSE(t->capturing());
  CHECK(t->Marked(Set::kCaptured).empty());
  CHECK(t->Marked(Set::kActive) == std::vector<uint64_t>{2, 3});
  t.reset();
  t = MustOpen(path, size);
  CHECK(t->Marked(Set::kActive) == std::vector<uint64_t>{2, 3});  // commit was durable

  // Abort puts the captured marks back.
  REQUIRE(t->BeginCapture().ok());
  REQUIRE(t->WillChange(9 * kChunk, 1).ok());
  REQUIRE(t->AbortCapture().ok());
  CHECK(t->Marked(Set::kActive) == std::vector<uint64_t>{2, 3, 9});
  CHECK(t->Marked(Set::kCaptured).empty());

  // A crash mid-capture loses nothing: both sets come back as active.
  REQUIRE(t->BeginCapture().ok());
  REQUIRE(t->WillChange(20 * kChunk, 1).ok());
  REQUIRE(t->BeforeImageWrite().ok());
  t.reset();
  t = MustOpen(path, size);
  CHECK_FALSE(t->capturing());
  CHECK(t->Marked(Set::kActive) == std::vector<uint64_t>{2, 3, 9, 20});

  // Commit after a second capture leaves only what came after it.
  REQUIRE(t->BeginCapture().ok());
  REQUIRE(t->CommitCapture().ok());
  CHECK(t->CountMarked(Set::kEither) == 0);
  REQUIRE(t->MarkAll().ok());
  t.reset();
  t = MustOpen(path, size);
  CHECK(t->CountMarked(Set::kActive) == 64);
}

TEST_CASE("tracker: torn and missing pages are recovered as all changed") {
  TempDir dir("snap");
  const std::string path = dir / "changes";
  const uint64_t per_page = ChangeTracker::kChunksPerPage;
  const uint64_t chunks = 3 * per_page - 100;  // three bitmap pages, the last partial
  const uint64_t size = chunks * kChunk;
  {
    auto t = MustCreate(path, size);
    REQUIRE(t->WillChange(5 * kChunk, 1).ok());                   // page 1
    REQUIRE(t->WillChange((per_page + 7) * kChunk, 1).ok());      // page 2
    REQUIRE(t->WillChange((2 * per_page + 9) * kChunk, 1).ok());  // page 3
    REQUIRE(t->BeforeImageWrite().ok());
  }
  // A torn write in page 2 (one flipped bit in its bitmap) and a lost page 3.
  Corrupt(path, 2 * ChangeTracker::kPageSize + 1000);
  REQUIRE(::truncate(path.c_str(), 3 * ChangeTracker::kPageSize + 100) == 0);
  amberfs::ChangeTrackerOpenReport report;
  {
    auto t = MustOpen(path, size, &report);
    CHECK(report.bad_pages == 2);
    CHECK(t->IsMarked(5, Set::kActive));
    CHECK_FALSE(t->IsMarked(6, Set::kActive));
    CHECK(t->CountMarked(Set::kActive) == 1 + (chunks - per_page));
    CHECK(t->IsMarked(chunks - 1, Set::kActive));
  }
  report = {};
  {
    auto t = MustOpen(path, size, &report);  // repaired at the first open
    CHECK(report.bad_pages == 0);
    CHECK(t->CountMarked(Set::kActive) == 1 + (chunks - per_page));
  }
  Corrupt(path, 20);  // the header
  CHECK(ChangeTracker::Open(path, size, kChunk).status().code() == EBADMSG);
}

TEST_CASE("tracker: concurrent marks share write rounds and all become durable") {
  TempDir dir("snap");
  const std::string path = dir / "changes";
  const uint64_t size = 4096ull * kChunk;
  constexpr int kThreads = 4, kPerThread = 60;
  {
    auto t = MustCreate(path, size);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        for (int k = 0; k < kPerThread; ++k) {
          uint64_t chunk = static_cast<uint64_t>(k * kThreads + i) * 3;
          REQUIRE(t->WillChange(chunk * kChunk, 100).ok());
          REQUIRE(t->WillChange((chunk % 7) * kChunk, 100).ok());  // often a hit
          REQUIRE(t->BeforeImageWrite().ok());
        }
      });
    }
    for (auto& th : threads) th.join();
    CHECK(t->Stats().syncs <= uint64_t{kThreads * kPerThread});
  }
  auto t = MustOpen(path, size);
  for (int k = 0; k < kThreads * kPerThread; ++k) CHECK(t->IsMarked(static_cast<uint64_t>(k) * 3, Set::kActive));
}

// A child marks chunks and reports each one on a pipe only after its
// BeforeImageWrite returned; it is killed with SIGKILL at a random moment.
// Every reported chunk must be marked after reopening.
TEST_CASE("tracker: kill -9 never loses a mark whose BeforeImageWrite returned") {
  TempDir dir("snap");
  const std::string path = dir / "changes";
  const uint64_t chunks = 2 * ChangeTracker::kChunksPerPage + 5;
  const uint64_t size = chunks * kChunk;
  MustCreate(path, size).reset();
  const int kChildThreads = 2;
  std::mt19937_64 rng(12345);
  std::set<uint64_t> reported;
  for (int round = 0; round < 6; ++round) {
    const uint64_t seed = rng();
    auto records = RunAndKill(rng, [&](int fd) {
      auto t = ChangeTracker::Open(path, size, kChunk);
      if (!t.ok()) ::_exit(3);
      auto worker = [&](uint64_t s) {
        std::mt19937_64 r(s);
        for (;;) {
          uint64_t c = r() % chunks;
          uint64_t len = std::min<uint64_t>(1 + r() % (3 * kChunk), size - c * kChunk);
          if (!(*t)->WillChange(c * kChunk, len).ok()) ::_exit(4);
          if (!(*t)->BeforeImageWrite().ok()) ::_exit(5);
          Say(fd, c, 0);
        }
      };
      std::vector<std::thread> threads;
      for (int i = 1; i < kChildThreads; ++i) threads.emplace_back(worker, seed + i);
      worker(seed);
    });
    for (auto& [c, unused] : records) reported.insert(c);
    auto t = MustOpen(path, size);
    size_t missing = 0;
    for (uint64_t r : reported) missing += !t->IsMarked(r, Set::kActive);
    CHECK_MESSAGE(missing == 0, missing << " of " << reported.size() << " acknowledged marks lost in round " << round);
  }
  CHECK(!reported.empty());
}

// The layout documented in change_tracker.h (and man/amberfs.5), byte for byte.
TEST_CASE("tracker: the file matches the documented format") {
  TempDir dir("snap");
  const std::string path = dir / "changes";
  const uint64_t chunks = ChangeTracker::kChunksPerPage + 70;
  {
    auto t = MustCreate(path, chunks * kChunk);
    REQUIRE(t->WillChange(5 * kChunk, 1).ok());
    REQUIRE(t->WillChange((ChangeTracker::kChunksPerPage + 66) * kChunk, 1).ok());
    REQUIRE(t->BeforeImageWrite().ok());
  }
  auto file = amberfs::ReadSmallFile(path, 1 << 20);
  REQUIRE(file.ok());
  REQUIRE(file->size() == 3 * 4096);
  const uint8_t* h = file->data();
  CHECK(std::string(reinterpret_cast<const char*>(h), 8) == "AMBRCHNG");
  CHECK(amberfs::GetLE32(h + 8) == 1);
  CHECK(amberfs::GetLE32(h + 12) == 4096);
  CHECK(amberfs::GetLE64(h + 16) == kChunk);
  CHECK(amberfs::GetLE64(h + 24) == chunks);
  CHECK(amberfs::GetLE64(h + 32) == 2);
  CHECK(amberfs::GetLE64(h + 40) == XXH3_64bits(h, 40));
  for (int p = 1; p <= 2; ++p) {
    std::vector<uint8_t> page(file->begin() + p * 4096, file->begin() + (p + 1) * 4096);
    CHECK(std::string(reinterpret_cast<const char*>(page.data()), 4) == "CHPG");
    CHECK(amberfs::GetLE32(page.data() + 4) == static_cast<uint32_t>(p));
    CHECK(amberfs::GetLE64(page.data() + 8) == 1);  // written by round 1
    CHECK(amberfs::GetLE32(page.data() + 16) == (p == 1 ? 32512u : 70u));
    uint64_t sum = amberfs::GetLE64(page.data() + 24);
    amberfs::PutLE64(page.data() + 24, 0);
    CHECK(sum == XXH3_64bits(page.data(), 4096));
    // Chunk 5 is word 0 bit 5 of page 1; chunk 32512+66 is word 1 bit 2 of page 2.
    CHECK(amberfs::GetLE64(page.data() + 32) == (p == 1 ? 1ull << 5 : 0));
    CHECK(amberfs::GetLE64(page.data() + 40) == (p == 1 ? 0 : 1ull << 2));
  }
}

// The same with snapshots: the child opens and commits captures between its
// marks. A mark acknowledged after the last BeginCapture the child reported
// lives in the active set, which no commit drops, so it must survive.
TEST_CASE("tracker: kill -9 during capture cycles keeps every active mark") {
  TempDir dir("snap");
  const std::string path = dir / "changes";
  const uint64_t chunks = 3000;
  const uint64_t size = chunks * kChunk;
  MustCreate(path, size).reset();
  enum : uint64_t { kMarked, kBegun, kCommitted };
  std::mt19937_64 rng(777);
  for (int round = 0; round < 6; ++round) {
    const uint64_t seed = rng();
    auto records = RunAndKill(rng, [&](int fd) {
      auto t = ChangeTracker::Open(path, size, kChunk);
      if (!t.ok()) ::_exit(3);
      std::mt19937_64 r(seed);
      for (;;) {
        for (int k = 0; k < 20; ++k) {
          uint64_t c = r() % chunks;
          if (!(*t)->WillChange(c * kChunk, 1).ok() || !(*t)->BeforeImageWrite().ok()) ::_exit(4);
          Say(fd, kMarked, c);
        }
        bool begin = !(*t)->capturing();
        if (!(begin ? (*t)->BeginCapture() : (*t)->CommitCapture()).ok()) ::_exit(5);
        Say(fd, begin ? kBegun : kCommitted, 0);
      }
    });
    std::set<uint64_t> since_begin;
    for (auto& [kind, c] : records) {
      if (kind == kBegun) since_begin.clear();
      if (kind == kMarked) since_begin.insert(c);
    }
    auto t = MustOpen(path, size);
    CHECK_FALSE(t->capturing());
    size_t missing = 0;
    for (uint64_t c : since_begin) missing += !t->IsMarked(c, Set::kActive);
    CHECK_MESSAGE(missing == 0, missing << " of " << since_begin.size() << " active marks lost in round " << round);
    // Start the next child from a clean slate so commits have something to drop.
    REQUIRE(t->BeginCapture().ok());
    REQUIRE(t->CommitCapture().ok());
  }
}

// "Changes marked before data" end to end: the tracker as the Conductor's
// observer. A child writes through a small cache (so write-back runs all the
// time) and is killed at random. The image started all zero, the state of the
// "last snapshot", so every chunk holding a nonzero byte must be marked.
TEST_CASE("tracker: behind a Conductor, every chunk changed in the image is marked after kill -9") {
  TempDir dir("snap");
  const std::string path = dir / "changes", image = dir / "image";
  const uint64_t chunks = 256, size = chunks * kChunk;
  {
    int fd = ::open(image.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
    ::close(fd);
  }
  MustCreate(path, size).reset();
  std::mt19937_64 rng(4242);
  const int kFlushEvery = 16;
  for (int round = 0; round < 5; ++round) {
    const uint64_t seed = rng();
    RunAndKill(rng, [&](int) {
      auto t = ChangeTracker::Open(path, size, kChunk);
      auto device = amberfs::Device::Open(image, {});
      if (!t.ok() || !device.ok()) ::_exit(3);
      amberfs::ConductorOptions options;
      options.cache_bytes = 256 << 10;
      options.writeback_age = std::chrono::milliseconds(1);
      options.observer = t->get();
      auto c = amberfs::Conductor::Open(std::move(device).value(), amberfs::OpenPlainIO(), options);
      if (!c.ok()) ::_exit(4);
      std::mt19937_64 r(seed);
      std::vector<uint8_t> buf(16 << 10);
      for (;;) {
        const uint64_t len = 1 + r() % buf.size();
        const uint64_t off = r() % (size - len);
        std::fill(buf.begin(), buf.begin() + static_cast<long>(len), static_cast<uint8_t>(1 + r() % 255));
        if (!(*c)->WriteAt(buf.data(), len, off).ok()) ::_exit(5);
        if (r() % kFlushEvery == 0 && !(*c)->Flush().ok()) ::_exit(6);
      }
    });
    auto t = MustOpen(path, size);
    int fd = ::open(image.c_str(), O_RDONLY);
    REQUIRE(fd >= 0);
    std::vector<uint8_t> chunk(kChunk);
    size_t changed = 0, unmarked = 0;
    for (uint64_t i = 0; i < chunks; ++i) {
      REQUIRE(::pread(fd, chunk.data(), kChunk, static_cast<off_t>(i * kChunk)) == kChunk);
      if (std::all_of(chunk.begin(), chunk.end(), [](uint8_t b) { return b == 0; })) continue;
      ++changed;
      unmarked += !t->IsMarked(i, Set::kActive);
    }
    ::close(fd);
    CHECK_MESSAGE(unmarked == 0, unmarked << " of " << changed << " changed chunks unmarked in round " << round);
    // The next round starts from an all-zero image and no marks again, as if
    // a snapshot of the zero volume had just been committed.
    REQUIRE(::truncate(image.c_str(), 0) == 0);
    REQUIRE(::truncate(image.c_str(), static_cast<off_t>(size)) == 0);
    REQUIRE(t->BeginCapture().ok());
    REQUIRE(t->CommitCapture().ok());
  }
}
