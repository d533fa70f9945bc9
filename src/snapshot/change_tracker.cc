// Change tracker. The one subtle part is when BeforeImageWrite may return at
// once. A write to a chunk marked by another thread a moment ago returns from
// WillChange without touching anything, so its BeforeImageWrite must still
// wait for that other thread's mark to be durable. The protocol:
//
//   first mark:  marking_++ ; word.fetch_or(bit) ; mark_epoch_++ ; marking_--
//   clean check: marking_ == 0 && mark_epoch_ == durable_epoch_
//   write round: target = mark_epoch_ ; scan bitmaps ; pwrite ; fdatasync ;
//                durable_epoch_ = target
//
// A thread that saw a bit set (acquire) also sees the marker's marking_++.
// If it then reads marking_ == 0 it synchronises with the marker's
// marking_-- and so sees its epoch increment; mark_epoch_ can then equal
// durable_epoch_ only if a round loaded a target at or past that increment,
// and such a round's scan happens after the fetch_or, so the bit was written.
// Otherwise the caller runs (or waits for) a round that starts after it
// arrived, whose scan sees the bit. All these atomics are read-modify-writes
// or acquire/release pairs, so the release sequences carry the ordering.
#include "snapshot/change_tracker.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>

#include "base/byte_order.h"
#include "base/durable_file.h"
#include "amberfs/log.h"

namespace amberfs {
namespace {

constexpr char kHeaderMagic[8] = {'A', 'M', 'B', 'R', 'C', 'H', 'N', 'G'};
constexpr char kPageMagic[4] = {'C', 'H', 'P', 'G'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kWordsPerPage = ChangeTracker::kChunksPerPage / 64;  // 508
constexpr size_t kHeaderChecksummed = 40;

uint64_t PageChecksum(uint8_t* page) {
  PutLE64(page + 24, 0);
  return XXH3_64bits(page, ChangeTracker::kPageSize);
}

// The tracker keeps about half a byte per chunk in memory (and its file's
// bytes while creating it): a volume too large for this machine is an error.
Status NoMemory(uint64_t chunks) {
  return Status::Error(ENOMEM, "not enough memory for the change tracker of " + std::to_string(chunks) +
                                   " chunks (about " + std::to_string(chunks / 2 >> 20) +
                                   " MiB); use a larger chunk size for a volume this big");
}

void SplitPath(const std::string& path, std::string* dir, std::string* base) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *base = path;
  } else {
    *dir = slash == 0 ? "/" : path.substr(0, slash);
    *base = path.substr(slash + 1);
  }
}

// Valid bits of bitmap page p (1-based) for a volume of `chunks` chunks.
uint64_t ValidBits(uint64_t chunks, uint64_t p) {
  return std::min<uint64_t>(ChangeTracker::kChunksPerPage, chunks - (p - 1) * ChangeTracker::kChunksPerPage);
}

}  // namespace

Status ChangeTracker::CheckGeometry(uint64_t volume_size, uint32_t chunk_size) {
  if (volume_size == 0) return Status::Error(EINVAL, "volume size must be > 0");
  if (!std::has_single_bit(chunk_size) || chunk_size < 4096 || chunk_size > (1u << 30))
    return Status::Error(EINVAL, "chunk size " + std::to_string(chunk_size) +
                                     " must be a power of two between 4 KiB and 1 GiB");
  return Status::OK();
}

ChangeTracker::ChangeTracker(std::string path, UniqueFd fd, uint64_t volume_size, uint32_t chunk_size)
    : path_(std::move(path)),
      fd_(std::move(fd)),
      volume_size_(volume_size),
      chunk_size_(chunk_size),
      chunk_count_((volume_size + chunk_size - 1) / chunk_size),
      words_((chunk_count_ + 63) / 64),
      pages_((chunk_count_ + kChunksPerPage - 1) / kChunksPerPage),
      on_disk_(pages_ * kWordsPerPage, 0),
      staging_(pages_ * kPageSize) {
  for (auto& set : sets_) {
    set = std::make_unique<Word[]>(pages_ * kWordsPerPage);
    for (uint64_t i = 0; i < pages_ * kWordsPerPage; ++i) set[i].store(0, std::memory_order_relaxed);
  }
  active_.store(sets_[0].get(), std::memory_order_release);
}

ChangeTracker::~ChangeTracker() = default;

Result<std::unique_ptr<ChangeTracker>> ChangeTracker::Create(const std::string& path, uint64_t volume_size,
                                                             uint32_t chunk_size) {
  AMBER_RETURN_IF_ERROR(CheckGeometry(volume_size, chunk_size));
  const uint64_t chunks = (volume_size + chunk_size - 1) / chunk_size;
  const uint64_t pages = (chunks + kChunksPerPage - 1) / kChunksPerPage;
  std::vector<uint8_t> file;
  try {
    file.resize((pages + 1) * kPageSize);
  } catch (const std::bad_alloc&) {
    return NoMemory(chunks);
  }
  uint8_t* h = file.data();
  std::memcpy(h, kHeaderMagic, 8);
  PutLE32(h + 8, kVersion);
  PutLE32(h + 12, kPageSize);
  PutLE64(h + 16, chunk_size);
  PutLE64(h + 24, chunks);
  PutLE64(h + 32, pages);
  PutLE64(h + 40, XXH3_64bits(h, kHeaderChecksummed));
  for (uint64_t p = 1; p <= pages; ++p) {
    uint8_t* page = file.data() + p * kPageSize;
    std::memcpy(page, kPageMagic, 4);
    PutLE32(page + 4, static_cast<uint32_t>(p));
    PutLE32(page + 16, static_cast<uint32_t>(ValidBits(chunks, p)));
    PutLE64(page + 24, PageChecksum(page));
  }
  std::string dir, base;
  SplitPath(path, &dir, &base);
  AMBER_RETURN_IF_ERROR(WriteFileAtomic(dir, base, file, /*no_replace=*/true));
  return Open(path, volume_size, chunk_size);
}

Result<std::unique_ptr<ChangeTracker>> ChangeTracker::Open(const std::string& path, uint64_t volume_size,
                                                           uint32_t chunk_size, ChangeTrackerOpenReport* report) {
  return OpenMode(path, volume_size, chunk_size, report, /*read_only=*/false);
}

Result<std::unique_ptr<ChangeTracker>> ChangeTracker::OpenReadOnly(const std::string& path, uint64_t volume_size,
                                                                   uint32_t chunk_size,
                                                                   ChangeTrackerOpenReport* report) {
  return OpenMode(path, volume_size, chunk_size, report, /*read_only=*/true);
}

Result<std::unique_ptr<ChangeTracker>> ChangeTracker::OpenMode(const std::string& path, uint64_t volume_size,
                                                               uint32_t chunk_size, ChangeTrackerOpenReport* report,
                                                               bool read_only) {
  AMBER_RETURN_IF_ERROR(CheckGeometry(volume_size, chunk_size));
  UniqueFd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open change-tracker state " + path);
  std::unique_ptr<ChangeTracker> t;
  try {
    t.reset(new ChangeTracker(path, std::move(fd), volume_size, chunk_size));
  } catch (const std::bad_alloc&) {
    return NoMemory((volume_size + chunk_size - 1) / chunk_size);
  }
  t->read_only_ = read_only;
  ChangeTrackerOpenReport local;
  AMBER_RETURN_IF_ERROR(t->ReadAndRecover(report ? report : &local));
  return t;
}

Status ChangeTracker::ReadAndRecover(ChangeTrackerOpenReport* report) {
  uint8_t h[kPageSize];
  AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd_.get(), h, kPageSize, 0, path_));
  if (got < kHeaderChecksummed + 8 || std::memcmp(h, kHeaderMagic, 8) != 0 ||
      GetLE64(h + 40) != XXH3_64bits(h, kHeaderChecksummed))
    return Status::Error(EBADMSG, path_ + ": change-tracker header is corrupt (bad magic or checksum)");
  if (GetLE32(h + 8) != kVersion)
    return Status::Error(EBADMSG, path_ + ": unsupported change-tracker version " + std::to_string(GetLE32(h + 8)));
  if (GetLE32(h + 12) != kPageSize || GetLE64(h + 32) != pages_ || GetLE64(h + 16) != chunk_size_ ||
      GetLE64(h + 24) != chunk_count_)
    return Status::Error(EINVAL, path_ + ": change-tracker state is for " + std::to_string(GetLE64(h + 24)) +
                                     " chunks of " + std::to_string(GetLE64(h + 16)) + " bytes, the volume has " +
                                     std::to_string(chunk_count_) + " chunks of " + std::to_string(chunk_size_));

  AMBER_ASSIGN_OR_RETURN(size_t n, PreadFull(fd_.get(), staging_.data(), staging_.size(), kPageSize, path_));
  Word* active = sets_[0].get();
  for (uint64_t p = 1; p <= pages_; ++p) {
    uint8_t* page = staging_.data() + (p - 1) * kPageSize;
    const uint64_t first_word = (p - 1) * kWordsPerPage;
    const uint64_t valid = ValidBits(chunk_count_, p);
    bool good = n >= p * kPageSize && std::memcmp(page, kPageMagic, 4) == 0 && GetLE32(page + 4) == p &&
                GetLE32(page + 16) == valid && GetLE32(page + 20) == 0;
    if (good) {
      uint64_t sum = GetLE64(page + 24);
      good = sum == PageChecksum(page);
    }
    for (uint64_t w = 0; good && w < kWordsPerPage; ++w) {
      uint64_t bits = GetLE64(page + kPageHeaderSize + 8 * w);
      uint64_t first_bit = w * 64;
      uint64_t allowed = first_bit >= valid ? 0 : (valid - first_bit >= 64 ? ~0ull : (1ull << (valid - first_bit)) - 1);
      if (bits & ~allowed) good = false;
      on_disk_[first_word + w] = bits;
    }
    if (good) {
      generation_ = std::max(generation_, GetLE64(page + 8));
      for (uint64_t w = 0; w < kWordsPerPage; ++w)
        active[first_word + w].store(on_disk_[first_word + w], std::memory_order_relaxed);
      continue;
    }
    if (!read_only_) LOG_WARN("%s: bitmap page %llu is damaged; treating its %llu chunks as changed", path_.c_str(),
             static_cast<unsigned long long>(p), static_cast<unsigned long long>(valid));
    ++report->bad_pages;
    for (uint64_t w = 0; w < kWordsPerPage; ++w) on_disk_[first_word + w] = 0;
    SetBits(active, (p - 1) * kChunksPerPage, (p - 1) * kChunksPerPage + valid - 1);
  }
  if (report->bad_pages == 0 || read_only_) return Status::OK();
  // Rewrite the damaged pages now, so the repair does not wait for a write.
  mark_epoch_.fetch_add(1, std::memory_order_acq_rel);
  return Sync().Annotate("repair " + path_);
}

void ChangeTracker::SetBits(Word* set, uint64_t first, uint64_t last) {
  for (uint64_t c = first; c <= last;) {
    uint64_t w = c / 64, b = c % 64;
    uint64_t n = std::min<uint64_t>(64 - b, last - c + 1);
    uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << b;
    set[w].fetch_or(mask, std::memory_order_acq_rel);
    c += n;
  }
}

Status ChangeTracker::WillChange(uint64_t offset, uint64_t length) {
  if (length == 0) return Status::OK();
  if (offset >= volume_size_ || length > volume_size_ - offset)
    return Status::Error(EINVAL, "change range [" + std::to_string(offset) + ", +" + std::to_string(length) +
                                     ") is outside the volume of " + std::to_string(volume_size_) + " bytes");
  const uint64_t first = offset / chunk_size_, last = (offset + length - 1) / chunk_size_;
  Word* set = active_.load(std::memory_order_acquire);
  for (uint64_t c = first; c <= last; ++c) {
    const uint64_t bit = 1ull << (c % 64);
    Word& word = set[c / 64];
    if (word.load(std::memory_order_acquire) & bit) continue;  // the hit path
    marking_.fetch_add(1, std::memory_order_acq_rel);
    uint64_t before = word.fetch_or(bit, std::memory_order_acq_rel);
    if (!(before & bit)) mark_epoch_.fetch_add(1, std::memory_order_acq_rel);
    marking_.fetch_sub(1, std::memory_order_acq_rel);
  }
  return Status::OK();
}

bool ChangeTracker::LooksClean() const {
  if (marking_.load(std::memory_order_acquire) != 0) return false;
  uint64_t epoch = mark_epoch_.load(std::memory_order_acquire);
  return epoch == durable_epoch_.load(std::memory_order_acquire);
}

Status ChangeTracker::BeforeImageWrite() {
  if (LooksClean()) return Status::OK();
  return Sync();
}

Status ChangeTracker::Sync() {
  return write_rounds_.Commit([this] { return WriteRound(); });
}

Status ChangeTracker::WriteRound() {
  stat_rounds_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t target = mark_epoch_.load(std::memory_order_acquire);
  uint64_t first_page = pages_, last_page = 0;
  {
    std::lock_guard lk(capture_mu_);
    const Word* a = sets_[0].get();
    const Word* b = sets_[1].get();
    for (uint64_t p = 0; p < pages_; ++p) {
      for (uint64_t w = p * kWordsPerPage; w < (p + 1) * kWordsPerPage; ++w) {
        uint64_t u = a[w].load(std::memory_order_acquire) | b[w].load(std::memory_order_acquire);
        if (u != on_disk_[w]) {
          first_page = std::min(first_page, p);
          last_page = p;
          break;
        }
      }
    }
    if (first_page == pages_) {
      // Nothing differs from the file (say, marks already written by an
      // earlier round that had not yet seen their epoch increments).
      durable_epoch_.store(std::max(target, durable_epoch_.load(std::memory_order_relaxed)),
                           std::memory_order_release);
      return Status::OK();
    }
    const uint64_t gen = generation_ + 1;
    for (uint64_t p = first_page; p <= last_page; ++p) {
      uint8_t* page = staging_.data() + (p - first_page) * kPageSize;
      std::memset(page, 0, kPageSize);
      std::memcpy(page, kPageMagic, 4);
      PutLE32(page + 4, static_cast<uint32_t>(p + 1));
      PutLE64(page + 8, gen);
      PutLE32(page + 16, static_cast<uint32_t>(ValidBits(chunk_count_, p + 1)));
      for (uint64_t w = 0; w < kWordsPerPage; ++w) {
        uint64_t i = p * kWordsPerPage + w;
        PutLE64(page + kPageHeaderSize + 8 * w,
                a[i].load(std::memory_order_acquire) | b[i].load(std::memory_order_acquire));
      }
      PutLE64(page + 24, PageChecksum(page));
    }
  }
  const uint64_t npages = last_page - first_page + 1;
  AMBER_RETURN_IF_ERROR(PwriteAll(fd_.get(), staging_.data(), npages * kPageSize,
                                  static_cast<off_t>((first_page + 1) * kPageSize), path_));
  stat_syncs_.fetch_add(1, std::memory_order_relaxed);
  if (::fdatasync(fd_.get()) != 0) return Status::FromErrno(errno, "fdatasync " + path_);
  ++generation_;
  stat_pages_.fetch_add(npages, std::memory_order_relaxed);
  for (uint64_t p = first_page; p <= last_page; ++p) {
    const uint8_t* page = staging_.data() + (p - first_page) * kPageSize;
    for (uint64_t w = 0; w < kWordsPerPage; ++w)
      on_disk_[p * kWordsPerPage + w] = GetLE64(page + kPageHeaderSize + 8 * w);
  }
  durable_epoch_.store(std::max(target, durable_epoch_.load(std::memory_order_relaxed)), std::memory_order_release);
  return Status::OK();
}

Status ChangeTracker::MarkAll() {
  {
    std::lock_guard lk(capture_mu_);
    marking_.fetch_add(1, std::memory_order_acq_rel);
    SetBits(active_.load(std::memory_order_acquire), 0, chunk_count_ - 1);
    mark_epoch_.fetch_add(1, std::memory_order_acq_rel);
    marking_.fetch_sub(1, std::memory_order_acq_rel);
  }
  return Sync();
}

ChangeTracker::Word* ChangeTracker::CapturedSet() const {
  if (!capturing_) return nullptr;
  Word* active = active_.load(std::memory_order_acquire);
  return active == sets_[0].get() ? sets_[1].get() : sets_[0].get();
}

Status ChangeTracker::BeginCapture() {
  std::lock_guard lk(capture_mu_);
  if (capturing_) return Status::Error(EBUSY, "a change capture is open already");
  Word* active = active_.load(std::memory_order_acquire);
  Word* fresh = active == sets_[0].get() ? sets_[1].get() : sets_[0].get();
  active_.store(fresh, std::memory_order_seq_cst);
  capturing_ = true;
  return Status::OK();
}

Status ChangeTracker::CommitCapture() {
  {
    std::lock_guard lk(capture_mu_);
    Word* captured = CapturedSet();
    if (!captured) return Status::Error(EINVAL, "no change capture is open");
    for (uint64_t w = 0; w < words_; ++w) captured[w].store(0, std::memory_order_release);
    capturing_ = false;
    mark_epoch_.fetch_add(1, std::memory_order_acq_rel);
  }
  return Sync().Annotate("commit change capture");
}

Status ChangeTracker::AbortCapture() {
  std::lock_guard lk(capture_mu_);
  Word* captured = CapturedSet();
  if (!captured) return Status::Error(EINVAL, "no change capture is open");
  Word* active = active_.load(std::memory_order_acquire);
  // Set in the active set before clearing in the captured one, so the union
  // (what the file holds) never loses a bit.
  for (uint64_t w = 0; w < words_; ++w) {
    uint64_t bits = captured[w].load(std::memory_order_acquire);
    if (!bits) continue;
    active[w].fetch_or(bits, std::memory_order_acq_rel);
    captured[w].fetch_and(~bits, std::memory_order_acq_rel);
  }
  capturing_ = false;
  return Status::OK();
}

bool ChangeTracker::capturing() const {
  std::lock_guard lk(capture_mu_);
  return capturing_;
}

Status ChangeTracker::ForEachMarked(Set set, const std::function<Status(uint64_t chunk)>& fn) const {
  // Copy the words under the lock, call fn without it (fn may do I/O).
  std::vector<uint64_t> words(words_);
  {
    std::lock_guard lk(capture_mu_);
    const Word* active = active_.load(std::memory_order_acquire);
    const Word* captured = CapturedSet();
    for (uint64_t w = 0; w < words_; ++w) {
      uint64_t a = active[w].load(std::memory_order_acquire);
      uint64_t c = captured ? captured[w].load(std::memory_order_acquire) : 0;
      words[w] = set == Set::kActive ? a : set == Set::kCaptured ? c : (a | c);
    }
  }
  for (uint64_t w = 0; w < words_; ++w) {
    for (uint64_t bits = words[w]; bits; bits &= bits - 1) {
      AMBER_RETURN_IF_ERROR(fn(w * 64 + static_cast<uint64_t>(std::countr_zero(bits))));
    }
  }
  return Status::OK();
}

std::vector<uint64_t> ChangeTracker::Marked(Set set) const {
  std::vector<uint64_t> out;
  ForEachMarked(set, [&](uint64_t c) {
    out.push_back(c);
    return Status::OK();
  }).IgnoreError();  // the callback never fails
  return out;
}

bool ChangeTracker::IsMarked(uint64_t chunk, Set set) const {
  if (chunk >= chunk_count_) return false;
  std::lock_guard lk(capture_mu_);
  const uint64_t bit = 1ull << (chunk % 64);
  const Word* active = active_.load(std::memory_order_acquire);
  const Word* captured = CapturedSet();
  bool a = active[chunk / 64].load(std::memory_order_acquire) & bit;
  bool c = captured && (captured[chunk / 64].load(std::memory_order_acquire) & bit);
  return set == Set::kActive ? a : set == Set::kCaptured ? c : (a || c);
}

uint64_t ChangeTracker::CountMarked(Set set) const {
  uint64_t n = 0;
  ForEachMarked(set, [&](uint64_t) {
    ++n;
    return Status::OK();
  }).IgnoreError();  // the callback never fails
  return n;
}

ChangeTrackerStats ChangeTracker::Stats() const {
  ChangeTrackerStats s;
  s.rounds = stat_rounds_.load(std::memory_order_relaxed);
  s.pages_written = stat_pages_.load(std::memory_order_relaxed);
  s.syncs = stat_syncs_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace amberfs
