// Blob index segments: see blob_index_segment.h.
#include "store/blob_index_segment.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "base/byte_order.h"
#include "base/durable_file.h"

namespace amberfs {
namespace {

constexpr size_t kPageEntryBytes = kEntriesPerPage * kIndexEntrySize;  // 4080
constexpr size_t kPagesPerWrite = 64;                                  // 256 KiB a write or a read

Status Corrupt(const std::string& path, const std::string& why) {
  return Status::Error(EBADMSG, "blob index segment " + path + " is corrupt: " + why);
}

}  // namespace

SegmentWriter::SegmentWriter(std::string temp, uint64_t max_entries, uint64_t bloom_words, uint32_t probes)
    : temp_(std::move(temp)), max_entries_(max_entries), probes_(probes), bloom_(bloom_words, 0) {}

Result<std::unique_ptr<SegmentWriter>> SegmentWriter::Create(const std::string& dir, uint64_t max_entries,
                                                             uint32_t bits_per_entry) {
  if (bits_per_entry == 0 || bits_per_entry > 64)
    return Status::Error(EINVAL, "blob index: " + std::to_string(bits_per_entry) + " filter bits a blob");
  // k = bits x ln 2 probes minimise false positives.
  const uint32_t probes = std::clamp<uint32_t>((bits_per_entry * 69 + 50) / 100, 1, kMaxBloomProbes);
  const uint64_t words = std::max<uint64_t>(1, (max_entries * bits_per_entry + 63) / 64);
  std::unique_ptr<SegmentWriter> w(new SegmentWriter(dir + "/" + MakeTempName(), max_entries, words, probes));
  w->fd_ = UniqueFd(::open(w->temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!w->fd_.valid()) return Status::FromErrno(errno, "create blob index segment " + w->temp_);
  return w;
}

SegmentWriter::~SegmentWriter() {
  if (!finished_ && fd_.valid()) ::unlink(temp_.c_str());
}

Status SegmentWriter::FlushPages(bool all) {
  const size_t whole = all ? pages_.size() / kSegmentPageSize : kPagesPerWrite;
  if (whole == 0) return Status::OK();
  for (size_t i = 0; i < whole; ++i) {  // each page is complete (or the last) when written
    uint8_t* page = pages_.data() + i * kSegmentPageSize;
    PutLE64(page + kPageEntryBytes, XXH3_64bits(page, kPageEntryBytes));
  }
  const off_t at = static_cast<off_t>(kSegmentPageSize * (1 + pages_written_));
  AMBER_RETURN_IF_ERROR(PwriteAll(fd_.get(), pages_.data(), whole * kSegmentPageSize, at, temp_));
  pages_written_ += whole;
  pages_.erase(pages_.begin(), pages_.begin() + static_cast<long>(whole * kSegmentPageSize));
  return Status::OK();
}

Status SegmentWriter::Add(const IndexUpdate& u) {
  if (finished_ || count_ >= max_entries_ || u.blob.IsNull() || (count_ > 0 && !(last_ < u.blob)))
    return Status::Error(EINVAL, "blob index segment " + temp_ + ": entry for " + u.blob.Hex() +
                                     " out of order or past the expected count");
  RawIndexEntry e{u.blob};
  if (!u.removed) {
    auto [it, added] = pack_index_.emplace(u.where.pack, static_cast<uint32_t>(packs_.size()));
    if (added) packs_.push_back(u.where.pack);
    e = RawIndexEntry{u.blob, it->second, u.where.offset, u.where.length, u.where.flags};
  }
  const size_t slot = count_ % kEntriesPerPage;
  if (slot == 0) {
    if (pages_.size() >= kPagesPerWrite * kSegmentPageSize) AMBER_RETURN_IF_ERROR(FlushPages(false));
    pages_.resize(pages_.size() + kSegmentPageSize, 0);
    fences_.insert(fences_.end(), u.blob.bytes().begin(), u.blob.bytes().begin() + 8);
  }
  uint8_t* page = pages_.data() + pages_.size() - kSegmentPageSize;
  EncodeIndexEntry(e, page + slot * kIndexEntrySize);
  const uint64_t bits = bloom_.size() * 64;
  for (uint32_t i = 0; i < probes_; ++i) {
    const uint64_t bit = BloomBit(u.blob, i, bits);
    bloom_[bit / 64] |= uint64_t{1} << (bit % 64);
  }
  last_ = u.blob;
  ++count_;
  return Status::OK();
}

Result<uint64_t> SegmentWriter::Finish(const std::string& final_path) {
  if (finished_) return Status::Error(EINVAL, "blob index segment " + temp_ + " finished twice");
  AMBER_RETURN_IF_ERROR(FlushPages(true));
  std::vector<uint8_t> meta;
  meta.reserve(packs_.size() * 32 + fences_.size() + bloom_.size() * 8);
  for (const Pointer& p : packs_) meta.insert(meta.end(), p.bytes().begin(), p.bytes().end());
  meta.insert(meta.end(), fences_.begin(), fences_.end());
  const size_t bloom_at = meta.size();
  meta.resize(bloom_at + bloom_.size() * 8);
  for (size_t i = 0; i < bloom_.size(); ++i) PutLE64(&meta[bloom_at + i * 8], bloom_[i]);
  SegmentHeader h;
  h.bloom_probes = probes_;
  h.entry_count = count_;
  h.pack_count = static_cast<uint32_t>(packs_.size());
  h.bloom_words = bloom_.size();
  h.meta_checksum = XXH3_64bits(meta.data(), meta.size());
  AMBER_RETURN_IF_ERROR(PwriteAll(fd_.get(), meta.data(), meta.size(),
                                  static_cast<off_t>(kSegmentPageSize * (1 + pages_written_)), temp_));
  std::vector<uint8_t> head = EncodeSegmentHeader(h);
  head.resize(kSegmentPageSize, 0);
  AMBER_RETURN_IF_ERROR(PwriteAll(fd_.get(), head.data(), head.size(), 0, temp_));
  AMBER_RETURN_IF_ERROR(SyncFileData(fd_.get(), temp_));
  AMBER_RETURN_IF_ERROR(RenameFile(temp_, final_path));
  finished_ = true;
  return count_;
}

Result<std::shared_ptr<Segment>> Segment::Open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Status::FromErrno(errno, "open blob index segment " + path);
  std::shared_ptr<Segment> s(new Segment(path, std::move(fd)));
  AMBER_RETURN_IF_ERROR(s->Load());
  return s;
}

Status Segment::Load() {
  uint8_t head[kSegmentHeaderSize];
  AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd_.get(), head, sizeof head, 0, path_));
  AMBER_ASSIGN_OR_RETURN(header_, DecodeSegmentHeader(std::span(head, got), path_));
  struct stat st;
  if (::fstat(fd_.get(), &st) != 0) return Status::FromErrno(errno, "stat " + path_);
  if (static_cast<uint64_t>(st.st_size) != header_.FileSize())
    return Corrupt(path_, std::to_string(st.st_size) + " bytes, the header says " + std::to_string(header_.FileSize()));
  std::vector<uint8_t> meta(header_.MetaBytes());
  const off_t meta_at = static_cast<off_t>(kSegmentPageSize * (1 + header_.PageCount()));
  AMBER_ASSIGN_OR_RETURN(got, PreadFull(fd_.get(), meta.data(), meta.size(), meta_at, path_));
  if (got != meta.size()) return Corrupt(path_, "shorter than its header says");
  if (XXH3_64bits(meta.data(), meta.size()) != header_.meta_checksum)
    return Corrupt(path_, "pack table, fences or filter checksum mismatch");
  const uint8_t* p = meta.data();
  packs_.reserve(header_.pack_count);
  for (uint32_t i = 0; i < header_.pack_count; ++i, p += 32) {
    packs_.push_back(Pointer::FromBytes(p));
    if (packs_.back().IsNull()) return Corrupt(path_, "a null pack id");
  }
  fences_.resize(header_.PageCount());
  for (uint64_t& f : fences_) {
    for (int i = 0; i < 8; ++i) f = (f << 8) | *p++;
  }
  if (!std::is_sorted(fences_.begin(), fences_.end())) return Corrupt(path_, "fences out of order");
  bloom_.resize(header_.bloom_words);
  for (uint64_t& w : bloom_) {
    w = GetLE64(p);
    p += 8;
  }
  return Status::OK();
}

size_t Segment::ResidentBytes() const {
  return sizeof(*this) + packs_.capacity() * sizeof(Pointer) + fences_.capacity() * 8 + bloom_.capacity() * 8;
}

size_t Segment::EntriesOnPage(uint64_t page_no) const {
  return static_cast<size_t>(std::min<uint64_t>(kEntriesPerPage, header_.entry_count - page_no * kEntriesPerPage));
}

Status Segment::CheckPage(const uint8_t* page, uint64_t page_no) const {
  if (GetLE64(page + kPageEntryBytes) != XXH3_64bits(page, kPageEntryBytes) || GetLE64(page + kPageEntryBytes + 8) != 0)
    return Corrupt(path_, "page " + std::to_string(page_no) + " checksum mismatch");
  return Status::OK();
}

Result<IndexUpdate> Segment::EntryOf(const uint8_t* page, uint64_t page_no, size_t i) const {
  const RawIndexEntry e = DecodeIndexEntryBytes(page + i * kIndexEntrySize);
  if (!ValidIndexEntry(e, header_.pack_count))
    return Corrupt(path_, "entry " + std::to_string(i) + " of page " + std::to_string(page_no) + " is invalid");
  IndexUpdate u{e.blob, e.removed(), {}};
  if (!e.removed()) u.where = BlobLocation{packs_[e.pack], e.offset, e.length, e.flags};
  return u;
}

bool Segment::MayContain(const Pointer& blob) const {
  const uint64_t bits = bloom_.size() * 64;
  for (uint32_t i = 0; i < header_.bloom_probes; ++i) {
    const uint64_t bit = BloomBit(blob, i, bits);
    if ((bloom_[bit / 64] & (uint64_t{1} << (bit % 64))) == 0) return false;
  }
  return true;
}

Result<std::optional<IndexUpdate>> Segment::Lookup(const Pointer& blob) const {
  if (header_.entry_count == 0 || !MayContain(blob)) return std::optional<IndexUpdate>();
  const uint64_t prefix = IdPrefix(blob);
  // The last page whose first id's prefix is <= blob's; pages with an equal
  // fence before it may hold it too (many ids sharing 8 bytes: only by design).
  auto it = std::upper_bound(fences_.begin(), fences_.end(), prefix);
  uint8_t page[kSegmentPageSize];
  while (it != fences_.begin()) {
    --it;
    const uint64_t page_no = static_cast<uint64_t>(it - fences_.begin());
    AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(fd_.get(), page, sizeof page,
                                                 static_cast<off_t>(kSegmentPageSize * (1 + page_no)), path_));
    if (got != sizeof page) return Corrupt(path_, "page " + std::to_string(page_no) + " is cut short");
    AMBER_RETURN_IF_ERROR(CheckPage(page, page_no));
    const size_t n = EntriesOnPage(page_no);
    size_t lo = 0, hi = n;  // binary search for blob among the page's ids
    while (lo < hi) {
      const size_t mid = (lo + hi) / 2;
      const int c = std::memcmp(page + mid * kIndexEntrySize, blob.bytes().data(), Pointer::kSize);
      if (c == 0) {
        AMBER_ASSIGN_OR_RETURN(IndexUpdate u, EntryOf(page, page_no, mid));
        return std::optional<IndexUpdate>(u);
      }
      if (c < 0) lo = mid + 1; else hi = mid;
    }
    // Before this page's first id, with the same fence: look one page back.
    if (!(lo == 0 && *it == prefix)) break;
  }
  return std::optional<IndexUpdate>();
}

Result<bool> Segment::Cursor::Next() {
  const SegmentHeader& h = segment_->header_;
  if (index_ >= h.entry_count) return false;
  const uint64_t page_no = index_ / kEntriesPerPage;
  if (buffer_.empty() || page_no >= buffer_first_page_ + buffer_.size() / kSegmentPageSize) {
    const uint64_t pages = std::min<uint64_t>(kPagesPerWrite, h.PageCount() - page_no);
    buffer_.resize(pages * kSegmentPageSize);
    AMBER_ASSIGN_OR_RETURN(size_t got, PreadFull(segment_->fd_.get(), buffer_.data(), buffer_.size(),
                                                 static_cast<off_t>(kSegmentPageSize * (1 + page_no)), segment_->path_));
    if (got != buffer_.size()) return Corrupt(segment_->path_, "cut short");
    for (uint64_t i = 0; i < pages; ++i)
      AMBER_RETURN_IF_ERROR(segment_->CheckPage(buffer_.data() + i * kSegmentPageSize, page_no + i));
    buffer_first_page_ = page_no;
  }
  const uint8_t* page = buffer_.data() + (page_no - buffer_first_page_) * kSegmentPageSize;
  const Pointer previous = current_.blob;
  AMBER_ASSIGN_OR_RETURN(current_, segment_->EntryOf(page, page_no, index_ % kEntriesPerPage));
  if (index_ > 0 && !(previous < current_.blob)) return Corrupt(segment_->path_, "entries out of order");
  ++index_;
  return true;
}

}  // namespace amberfs
