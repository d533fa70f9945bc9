// PackWriter and PackReader: see pack_file.h.
#include "store/pack_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "amberfs/log.h"
#include "base/aligned_buffer.h"
#include "base/durable_file.h"
#include "store/store.h"

namespace amberfs {
namespace {

constexpr size_t kDirectAlign = 4096;
constexpr uint64_t kSegment = kPackSegmentBytes;
// Segment buffers kept for reuse across packs: a new buffer is new memory to
// fault in every MiB of every snapshot (on the test VM also to back by the host).
constexpr size_t kMaxSpareSegments = 16;

// Full segments waiting for a flusher, over every pack: past this an append
// writes the segment it filled itself, so memory stays bounded when the disk
// is slower than the appends.
constexpr int kMaxQueuedSegments = 64;
std::atomic<int> queued_segments{0};

uint64_t AlignUp(uint64_t v, uint64_t align) { return (v + align - 1) & ~(align - 1); }

std::mutex& SpareMutex() {
  static std::mutex mu;
  return mu;
}
std::vector<AlignedBuffer>& SpareSegments() {
  static std::vector<AlignedBuffer> spare;
  return spare;
}

AlignedBuffer GetSegmentBuffer() {
  {
    std::lock_guard l(SpareMutex());
    if (!SpareSegments().empty()) {
      AlignedBuffer b = std::move(SpareSegments().back());
      SpareSegments().pop_back();
      return b;
    }
  }
  return AlignedBuffer::Uninitialized(kSegment, kDirectAlign);
}

void PutSegmentBuffer(AlignedBuffer b) {
  std::lock_guard l(SpareMutex());
  if (SpareSegments().size() < kMaxSpareSegments) SpareSegments().push_back(std::move(b));
}

}  // namespace

Result<std::unique_ptr<PackWriter>> PackWriter::Create(const std::string& dir, PackWriterOptions options) {
  if (options.align == 0 || options.align > 65536 || (options.align & (options.align - 1)) != 0)
    return Status::Error(EINVAL, "pack alignment " + std::to_string(options.align) + " is not a power of two up to 65536");
  std::string temp = dir + "/" + MakeTempName();
  std::unique_ptr<PackWriter> w(new PackWriter(dir, temp, options));
  w->fd_ = UniqueFd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!w->fd_.valid()) return Status::FromErrno(errno, "create pack " + temp);
  // Some filesystems (tmpfs) refuse O_DIRECT: then every write is buffered.
  w->direct_fd_ = UniqueFd(::open(temp.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC));
  w->staging_ = w->direct_fd_.valid();
  if (w->staging_) w->flusher_ = std::thread([p = w.get()] { p->FlusherLoop(); });
  return w;
}

PackWriter::~PackWriter() {
  StopFlusher();
  // Segments a failed or abandoned pack still holds, queued or not.
  queued_segments.fetch_sub(static_cast<int>(ready_.size()));
  if (!sealed_ && fd_.valid()) ::unlink(temp_.c_str());
}

void PackWriter::StopFlusher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
}

// Writes the full segments appends queue, and once the pack is set aside and
// idle its partial segments, then starts the write-out of the whole file.
// Exits when stopped or when nothing more can come its way (the segments
// taken, appends from then on write for themselves).
void PackWriter::FlusherLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    work_cv_.wait(lock, [&] { return stop_ || !ready_.empty() || (set_aside_ && in_flight_ == 0 && staging_); });
    if (stop_) return;
    if (!ready_.empty()) {
      auto node = ready_.extract(ready_.begin());
      lock.unlock();
      Status s = WriteSegment(node.key(), std::move(node.mapped().buffer), kSegment);
      queued_segments.fetch_sub(1);
      lock.lock();
      if (!s.ok() && failed_.ok()) failed_ = s.Annotate("write pack " + temp_);
      if (--pending_writes_ == 0) idle_cv_.notify_all();
      continue;
    }
    // Set aside, no append running and nothing queued: every byte is in.
    std::map<uint64_t, Segment> taken = TakeSegmentsLocked();
    const uint64_t taken_end = end_;
    ++pending_writes_;  // Seal waits for the write-out too
    lock.unlock();
    Status s = WriteTaken(std::move(taken), taken_end);
    if (::sync_file_range(fd_.get(), 0, 0, SYNC_FILE_RANGE_WRITE) != 0)
      LOG_DEBUG("sync_file_range %s: %s", temp_.c_str(), std::strerror(errno));
    lock.lock();
    if (!s.ok() && failed_.ok()) failed_ = s.Annotate("write out pack " + temp_);
    if (--pending_writes_ == 0) idle_cv_.notify_all();
    return;
  }
}

uint64_t PackWriter::size() const {
  std::lock_guard lock(mu_);
  return end_;
}

size_t PackWriter::blob_count() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

Status PackWriter::WriteBlob(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return Status::OK();
  const bool whole_blocks = offset % kDirectAlign == 0 && data.size() % kDirectAlign == 0;
  if (direct_fd_.valid() && whole_blocks) {
    const uint8_t* src = data.data();
    AlignedBuffer bounce;
    if (reinterpret_cast<uintptr_t>(src) % kDirectAlign != 0) {
      bounce = AlignedBuffer::Uninitialized(data.size(), kDirectAlign);
      std::memcpy(bounce.data(), src, data.size());
      src = bounce.data();
    }
    Status s = PwriteAll(direct_fd_.get(), src, data.size(), static_cast<off_t>(offset), temp_);
    if (s.code() != EINVAL) return s;  // EINVAL: O_DIRECT refused after all; write it buffered
  }
  return PwriteAll(fd_.get(), data.data(), data.size(), static_cast<off_t>(offset), temp_);
}

Result<PackEntry> PackWriter::Append(const Pointer& id, std::span<const uint8_t> data, uint32_t flags) {
  if (id.IsNull()) return Status::Error(EINVAL, "append of the null pointer to pack " + temp_);
  if (data.size() > kMaxBlobBytes || (flags & ~kPackKindMask) != 0)
    return Status::Error(EINVAL, "append of blob " + id.Hex() + " to pack " + temp_ + ": " +
                                     std::to_string(data.size()) + " bytes, flags " + std::to_string(flags));
  PackEntry entry;
  uint64_t from = 0;  // where this append's range begins: the zeros before an aligned blob, then the blob
  std::vector<std::pair<uint64_t, uint8_t*>> segments;  // (index, buffer) of the segments it fills
  {
    std::lock_guard lock(mu_);
    if (!failed_.ok()) return failed_;
    if (sealed_) return Status::Error(EINVAL, "append to pack " + temp_ + " after it was sealed");
    if (auto it = index_.find(id); it != index_.end()) return entries_[it->second];
    // Whole-block blobs start on a block (they can go O_DIRECT); any other
    // size (a compressed or sealed blob) follows the last one at once, so
    // it pads nothing: a 64 KiB chunk sealed is 64 KiB + 72 bytes, and
    // aligning each would store 17 pages for 16.
    const uint64_t offset = data.size() % options_.align == 0 ? AlignUp(end_, options_.align) : end_;
    // Room for the blob and the table (sealed or not) and trailer with its entry.
    if (offset + data.size() + PackTailSize(entries_.size() + 1) + kMaxPackTableSealBytes > kMaxPackBytes ||
        entries_.size() + 1 > kMaxPackEntries)
      return Status::Error(EFBIG, "pack " + temp_ + " has no room for blob " + id.Hex());
    entry = PackEntry{id, offset, static_cast<uint32_t>(data.size()), flags};
    from = end_;
    end_ = offset + data.size();
    index_.emplace(id, entries_.size());
    entries_.push_back(entry);
    ++in_flight_;
    if (staging_) {
      // The buffers stay put: a segment leaves the map only once filled, and
      // this append's bytes are not in it yet.
      for (uint64_t i = from / kSegment; from < end_ && i <= (end_ - 1) / kSegment; ++i) {
        auto [it, added] = segments_.try_emplace(i);
        if (added) it->second.buffer = GetSegmentBuffer();
        segments.emplace_back(i, it->second.buffer.data());
      }
    }
  }
  Status s;
  if (segments.empty()) {
    s = WriteBlob(entry.offset, data);  // not staging, or nothing to write
  } else {
    // Zeros for the gap, then the blob, each piece into its segment.
    const uint64_t end = entry.offset + data.size();
    for (auto [index, buffer] : segments) {
      const uint64_t lo = std::max(from, index * kSegment), hi = std::min(end, (index + 1) * kSegment);
      const uint64_t data_lo = std::max(lo, entry.offset);
      if (data_lo > lo) std::memset(buffer + (lo - index * kSegment), 0, data_lo - lo);
      if (hi > data_lo)
        std::memcpy(buffer + (data_lo - index * kSegment), data.data() + (data_lo - entry.offset), hi - data_lo);
    }
    // A segment this append filled goes to the flusher, so the append (a
    // writer's copy-before-write among them) only copies; past the bound the
    // appender writes it itself.
    std::map<uint64_t, Segment> mine;
    bool queued = false;
    {
      std::lock_guard lock(mu_);
      for (auto [index, buffer] : segments) {
        Segment& seg = segments_.at(index);
        seg.filled += std::min(end, (index + 1) * kSegment) - std::max(from, index * kSegment);
        if (seg.filled < kSegment) continue;
        auto node = segments_.extract(index);
        if (queued_segments.fetch_add(1) < kMaxQueuedSegments) {
          ++pending_writes_;
          ready_.insert(std::move(node));
          queued = true;
        } else {
          queued_segments.fetch_sub(1);
          mine.insert(std::move(node));
        }
      }
    }
    if (queued) work_cv_.notify_one();
    for (auto& [index, seg] : mine) {
      Status w = WriteSegment(index, std::move(seg.buffer), kSegment);
      if (s.ok()) s = w;
    }
  }
  std::lock_guard lock(mu_);
  if (!s.ok() && failed_.ok()) failed_ = s.Annotate("append blob " + id.Hex());
  if (--in_flight_ == 0) {
    idle_cv_.notify_all();
    if (set_aside_) work_cv_.notify_one();  // the flusher takes the partial segments
  }
  if (!s.ok()) return failed_;
  return entry;
}

Status PackWriter::WriteSegment(uint64_t index, AlignedBuffer buffer, uint64_t bytes) {
  const off_t at = static_cast<off_t>(index * kSegment);
  const bool whole = bytes == kSegment;
  Status s = whole ? PwriteAll(direct_fd_.get(), buffer.data(), bytes, at, temp_)
                   : PwriteAll(fd_.get(), buffer.data(), bytes, at, temp_);
  if (whole && s.code() == EINVAL) s = PwriteAll(fd_.get(), buffer.data(), bytes, at, temp_);  // O_DIRECT refused after all
  PutSegmentBuffer(std::move(buffer));
  return s;
}

std::map<uint64_t, PackWriter::Segment> PackWriter::TakeSegmentsLocked() {
  staging_ = false;
  return std::exchange(segments_, {});
}

// With no append running every byte below `end` is in: each segment taken
// holds [its start, min(its end, end)).
Status PackWriter::WriteTaken(std::map<uint64_t, Segment> taken, uint64_t end) {
  Status s;
  for (auto& [index, seg] : taken) {
    const uint64_t bytes = std::min(kSegment, end - index * kSegment);
    Status w = WriteSegment(index, std::move(seg.buffer), bytes);
    if (s.ok()) s = w;
  }
  return s;
}

// A batch seals its packs one after another at Commit, each fdatasync waiting
// for its 16 MiB: 64 of them took ~9.5 ms each, about 0.6 s of a 1 GiB
// snapshot's commit on the test VM, with the disk idle during the capture.
// With O_DIRECT the flusher does it (the caller may be a writer's
// copy-before-write, which must not wait on the disk); without, the pack's
// bytes are all in the page cache and the hint only queues them.
void PackWriter::StartWriteOut() {
  {
    std::lock_guard lock(mu_);
    set_aside_ = true;
  }
  if (flusher_.joinable()) {
    work_cv_.notify_one();
    return;
  }
  if (::sync_file_range(fd_.get(), 0, 0, SYNC_FILE_RANGE_WRITE) != 0)
    LOG_DEBUG("sync_file_range %s: %s", temp_.c_str(), std::strerror(errno));
}

Result<SealedPack> PackWriter::Seal() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return in_flight_ == 0 && pending_writes_ == 0; });
  if (!failed_.ok()) return failed_;
  if (sealed_) return Status::Error(EINVAL, "pack " + temp_ + " is sealed already");
  if (entries_.empty()) return Status::Error(EINVAL, "seal of pack " + temp_ + " with no blobs");
  if (staging_) {
    Status written = WriteTaken(TakeSegmentsLocked(), end_);
    if (!written.ok()) {
      failed_ = written.Annotate("seal pack " + temp_);
      return failed_;
    }
  }
  Result<std::vector<uint8_t>> sealed_tail = options_.tables ? EncodeSealedPackTail(entries_, end_, *options_.tables)
                                                              : EncodePackTail(entries_, end_);
  if (!sealed_tail.ok()) {
    failed_ = sealed_tail.status().Annotate("seal pack " + temp_);
    return failed_;
  }
  const std::vector<uint8_t>& tail = *sealed_tail;
  SealedPack sealed{PackName(tail), end_ + tail.size(), entries_};
  const std::string target = dir_ + "/" + sealed.name.Hex();
  Status s = PwriteAll(fd_.get(), tail.data(), tail.size(), static_cast<off_t>(end_), temp_);
  if (s.ok()) s = SyncFileData(fd_.get(), temp_);
  if (s.ok()) s = RenameFile(temp_, target);
  if (!s.ok()) {
    failed_ = s.Annotate("seal pack " + sealed.name.Hex());
    return failed_;
  }
  sealed_ = true;
  return sealed;
}

Result<std::vector<uint8_t>> ReadPackedBlob(int fd, const std::string& what, const Pointer& id, uint64_t offset,
                                            uint32_t length) {
  if (length > kMaxBlobBytes)
    return Status::Error(EBADMSG, "blob " + id.Hex() + " in pack " + what + ": a length of " +
                                      std::to_string(length) + " bytes is more than a blob may have");
  std::vector<uint8_t> data(length);
  AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd, data.data(), length, static_cast<off_t>(offset), what));
  if (got != length)
    return Status::Error(EBADMSG, "blob " + id.Hex() + " in pack " + what + " is corrupt: the pack ends at byte " +
                                      std::to_string(offset + got) + ", before the blob does");
  if (Pointer::Of(data) != id)
    return Status::Error(EBADMSG, "blob " + id.Hex() + " in pack " + what + " is corrupt (SHA-256 mismatch)");
  return data;
}

Result<std::unique_ptr<PackReader>> PackReader::Open(const std::string& path, const Pointer& expected_name,
                                                     const PackTableCodec* tables) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open pack " + path);
  std::unique_ptr<PackReader> r(new PackReader(path, std::move(fd)));
  AMBER_RETURN_IF_ERROR(r->Load(expected_name, tables));
  return r;
}

Status PackReader::Load(const Pointer& expected_name, const PackTableCodec* tables) {
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return Status::FromErrno(errno, "stat pack " + path_);
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ < kPackTrailerSize || size_ > kMaxPackBytes)
    return Status::Error(EBADMSG, "pack " + path_ + " is corrupt: " + std::to_string(size_) + " bytes");
  uint8_t trailer_bytes[kPackTrailerSize];
  AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd_.get(), trailer_bytes, sizeof trailer_bytes,
                                               static_cast<off_t>(size_ - kPackTrailerSize), path_));
  if (got != sizeof trailer_bytes) return Status::Error(EBADMSG, "pack " + path_ + " shrank while being read");
  AMBER_ASSIGN_OR_RETURN(PackTrailer tr, DecodePackTrailer(trailer_bytes, size_, path_));
  std::vector<uint8_t> tail(size_ - tr.table_offset);
  AMBER_ASSIGN_OR_RETURN(got, PreadFull(fd_.get(), tail.data(), tail.size(), static_cast<off_t>(tr.table_offset), path_));
  if (got != tail.size()) return Status::Error(EBADMSG, "pack " + path_ + " shrank while being read");
  AMBER_ASSIGN_OR_RETURN(entries_,
                         DecodePackTable(tr, std::span(tail).first(tail.size() - kPackTrailerSize), path_, tables));
  blobs_end_ = tr.table_offset;
  name_ = PackName(tail);
  if (!expected_name.IsNull() && name_ != expected_name)
    return Status::Error(EBADMSG, "pack " + path_ + " is corrupt: its contents are pack " + name_.Hex() +
                                      ", not " + expected_name.Hex());
  by_id_.resize(entries_.size());
  for (uint32_t i = 0; i < by_id_.size(); ++i) by_id_[i] = i;
  std::sort(by_id_.begin(), by_id_.end(), [&](uint32_t a, uint32_t b) { return entries_[a].id < entries_[b].id; });
  return Status::OK();
}

Result<std::vector<uint8_t>> PackReader::Read(const PackEntry& e) const {
  return ReadPackedBlob(fd_.get(), path_, e.id, e.offset, e.length);
}

Result<std::vector<uint8_t>> PackReader::Read(const Pointer& id) const {
  auto it = std::lower_bound(by_id_.begin(), by_id_.end(), id,
                             [&](uint32_t slot, const Pointer& key) { return entries_[slot].id < key; });
  if (it == by_id_.end() || entries_[*it].id != id)
    return Status::Error(ENOENT, "blob " + id.Hex() + " is not in pack " + path_);
  return Read(entries_[*it]);
}

Status PackReader::VerifyAll() const {
  uint64_t end = 0;
  std::vector<uint8_t> gap;
  // Gaps are read a piece at a time: a foreign pack may have big ones.
  auto check_gap = [&](uint64_t from, uint64_t to, const std::string& before) -> Status {
    while (from < to) {
      gap.resize(std::min<uint64_t>(to - from, 1 << 20));
      AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd_.get(), gap.data(), gap.size(), static_cast<off_t>(from), path_));
      if (got != gap.size() || std::any_of(gap.begin(), gap.end(), [](uint8_t b) { return b != 0; }))
        return Status::Error(EBADMSG, "pack " + path_ + " is corrupt: the gap before " + before + " is not zero");
      from += got;
    }
    return Status::OK();
  };
  for (const PackEntry& e : entries_) {
    AMBER_RETURN_IF_ERROR(check_gap(end, e.offset, "blob " + e.id.Hex()));
    AMBER_RETURN_IF_ERROR(Read(e).status());
    end = e.offset + e.length;
  }
  return check_gap(end, blobs_end_, "the table");
}

}  // namespace amberfs
