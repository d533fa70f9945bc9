// BlobIndex: see blob_index.h.
#include "store/blob_index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "amberfs/log.h"
#include "base/durable_file.h"

namespace amberfs {
namespace {

constexpr char kManifestName[] = "MANIFEST";
constexpr size_t kMaxManifestBytes = 1 << 20;
constexpr size_t kMaxLogBytes = size_t{1} << 30;

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// Entries in id order from one source: a segment or a sorted memtable copy.
class EntrySource {
 public:
  virtual ~EntrySource() = default;
  virtual Result<bool> Next() = 0;
  virtual const IndexUpdate& current() const = 0;
};

class SegmentSource : public EntrySource {
 public:
  explicit SegmentSource(std::shared_ptr<Segment> s) : segment_(std::move(s)), cursor_(segment_.get()) {}
  Result<bool> Next() override { return cursor_.Next(); }
  const IndexUpdate& current() const override { return cursor_.current(); }

 private:
  std::shared_ptr<Segment> segment_;
  Segment::Cursor cursor_;
};

class VectorSource : public EntrySource {
 public:
  explicit VectorSource(std::vector<IndexUpdate> v) : v_(std::move(v)) {}
  Result<bool> Next() override { return ++i_ <= v_.size(); }
  const IndexUpdate& current() const override { return v_[i_ - 1]; }

 private:
  std::vector<IndexUpdate> v_;
  size_t i_ = 0;
};

// Merges sources (oldest first) in id order; for an id in several, the
// newest source's entry wins. fn sees every winning entry, tombstones too.
Status MergeSources(std::vector<std::unique_ptr<EntrySource>>& sources,
                    const std::function<Status(const IndexUpdate&)>& fn) {
  std::vector<bool> live(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    AMBER_ASSIGN_OR_RETURN(live[i], sources[i]->Next());
  }
  for (;;) {
    int best = -1;
    for (size_t i = 0; i < sources.size(); ++i) {
      if (!live[i]) continue;
      // <= : among equal ids the later (newer) source wins.
      if (best < 0 || !(sources[best]->current().blob < sources[i]->current().blob)) best = static_cast<int>(i);
    }
    if (best < 0) return Status::OK();
    const IndexUpdate winner = sources[best]->current();
    AMBER_RETURN_IF_ERROR(fn(winner));
    for (size_t i = 0; i < sources.size(); ++i) {
      if (live[i] && sources[i]->current().blob == winner.blob) {
        AMBER_ASSIGN_OR_RETURN(live[i], sources[i]->Next());
      }
    }
  }
}

std::vector<IndexUpdate> SortedCopy(const std::unordered_map<Pointer, IndexUpdate>& m) {
  std::vector<IndexUpdate> v;
  v.reserve(m.size());
  for (const auto& [k, u] : m) v.push_back(u);
  std::sort(v.begin(), v.end(), [](const IndexUpdate& a, const IndexUpdate& b) { return a.blob < b.blob; });
  return v;
}

}  // namespace

std::string BlobIndex::SegmentPath(uint64_t n) const { return dir_ + "/seg-" + Hex64(n); }
std::string BlobIndex::LogPath(uint64_t n) const { return dir_ + "/log-" + Hex64(n); }

Result<std::unique_ptr<BlobIndex>> BlobIndex::Open(const std::string& dir, BlobIndexOptions options) {
  if (options.memtable_entries == 0 || options.bloom_bits_per_entry == 0 || options.bloom_bits_per_entry > 64)
    return Status::Error(EINVAL, "blob index " + dir + ": bad options");
  std::unique_ptr<BlobIndex> index(new BlobIndex(dir, options));
  AMBER_RETURN_IF_ERROR(index->Load().Annotate("open blob index " + dir));
  return index;
}

Status BlobIndex::CreateFresh() {
  // No index files at all: a new index. Files without a manifest are not
  // guessed at (they are the remains of one whose manifest was lost).
  Status none = Status::OK();
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return Status::FromErrno(errno, "opendir " + dir_);
  while (struct dirent* e = ::readdir(d)) {
    // An empty log is what a crash during this very step leaves.
    struct stat st;
    const bool empty_log = std::strncmp(e->d_name, "log-", 4) == 0 &&
                           ::stat((dir_ + "/" + e->d_name).c_str(), &st) == 0 && st.st_size == 0;
    if ((std::strncmp(e->d_name, "seg-", 4) == 0 || std::strncmp(e->d_name, "log-", 4) == 0) && !empty_log)
      none = Status::Error(EBADMSG, "blob index " + dir_ + " has " + e->d_name +
                                        " but no MANIFEST: rebuild it from the packs");
  }
  ::closedir(d);
  AMBER_RETURN_IF_ERROR(none);
  manifest_ = IndexManifest{1, {}, 2};
  AMBER_ASSIGN_OR_RETURN(log_fd_, CreateSyncedFile(LogPath(1), {}, /*replace_leftover=*/true));
  const std::string text = EncodeIndexManifest(manifest_);
  return WriteFileAtomic(dir_, kManifestName, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                         /*no_replace=*/false);
}

Status BlobIndex::Load() {
  if (options_.read_only) return LoadReadOnly();
  if (::mkdir(dir_.c_str(), 0700) == 0) {
    AMBER_RETURN_IF_ERROR(FsyncParentDir(dir_));
  } else if (errno != EEXIST) {
    return Status::FromErrno(errno, "mkdir " + dir_);
  }
  auto text = ReadSmallFile(dir_ + "/" + kManifestName, kMaxManifestBytes);
  if (!text.ok() && text.status().code() == ENOENT) {
    AMBER_RETURN_IF_ERROR(CreateFresh());
    return RemoveUnnamedFiles();
  }
  if (!text.ok()) return text.status();
  AMBER_ASSIGN_OR_RETURN(manifest_, ParseIndexManifest(std::string_view(reinterpret_cast<const char*>(text->data()),
                                                                        text->size()),
                                                       dir_ + "/" + kManifestName));
  AMBER_RETURN_IF_ERROR(RemoveUnnamedFiles());
  auto segments = std::make_shared<SegmentList>();
  for (const auto& s : manifest_.segments) {
    AMBER_ASSIGN_OR_RETURN(std::shared_ptr<Segment> seg, Segment::Open(SegmentPath(s.number)));
    if (seg->entries() != s.entries)
      return Status::Error(EBADMSG, "blob index segment " + SegmentPath(s.number) + " holds " +
                                        std::to_string(seg->entries()) + " entries, the manifest says " +
                                        std::to_string(s.entries));
    segments->push_back(std::move(seg));
  }
  segments_ = std::move(segments);
  log_fd_ = UniqueFd(::open(LogPath(manifest_.log).c_str(), O_RDWR | O_CLOEXEC));
  if (!log_fd_.valid()) return Status::FromErrno(errno, "open blob index log " + LogPath(manifest_.log));
  AMBER_RETURN_IF_ERROR(ReplayLog());
  if (memtable_.size() >= options_.memtable_entries) {
    std::lock_guard commit(commit_mu_);
    return FlushLocked();
  }
  return Status::OK();
}

Status BlobIndex::LoadReadOnly() {
  auto text = ReadSmallFile(dir_ + "/" + kManifestName, kMaxManifestBytes);
  if (!text.ok() && text.status().code() == ENOENT) return Status::OK();  // nothing committed yet
  if (!text.ok()) return text.status();
  AMBER_ASSIGN_OR_RETURN(manifest_, ParseIndexManifest(std::string_view(reinterpret_cast<const char*>(text->data()),
                                                                        text->size()),
                                                       dir_ + "/" + kManifestName));
  auto segments = std::make_shared<SegmentList>();
  for (const auto& s : manifest_.segments) {
    AMBER_ASSIGN_OR_RETURN(std::shared_ptr<Segment> seg, Segment::Open(SegmentPath(s.number)));
    segments->push_back(std::move(seg));
  }
  segments_ = std::move(segments);
  log_fd_ = UniqueFd(::open(LogPath(manifest_.log).c_str(), O_RDONLY | O_CLOEXEC));
  if (!log_fd_.valid()) return Status::FromErrno(errno, "open blob index log " + LogPath(manifest_.log));
  return ReplayLog();
}

Status BlobIndex::RemoveUnnamedFiles() {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return Status::FromErrno(errno, "opendir " + dir_);
  while (struct dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  std::vector<std::string> keep = {"log-" + Hex64(manifest_.log)};
  for (const auto& s : manifest_.segments) keep.push_back("seg-" + Hex64(s.number));
  for (const std::string& name : names) {
    const bool ours = name.rfind("seg-", 0) == 0 || name.rfind("log-", 0) == 0 || IsTempName(name);
    if (!ours || std::find(keep.begin(), keep.end(), name) != keep.end()) continue;
    if (::unlink((dir_ + "/" + name).c_str()) != 0 && errno != ENOENT)
      return Status::FromErrno(errno, "remove leftover " + dir_ + "/" + name);
    LOG_INFO("blob index %s: removed %s (not in the manifest: left by an interrupted flush or merge)", dir_.c_str(),
             name.c_str());
  }
  return Status::OK();
}

Status BlobIndex::ReplayLog() {
  const std::string path = LogPath(manifest_.log);
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadWholeFd(log_fd_.get(), kMaxLogBytes, path));
  size_t pos = 0;
  while (pos < bytes.size()) {
    std::optional<DecodedLogRecord> rec = DecodeIndexLogRecord(std::span(bytes).subspan(pos));
    if (!rec) break;
    for (const IndexUpdate& u : rec->updates) memtable_[u.blob] = u;
    pos += rec->length;
  }
  log_end_.store(pos);
  if (pos < bytes.size()) {
    counters_.torn_tail_bytes = bytes.size() - pos;
    LOG_WARN("blob index log %s: dropping %zu bytes after the last whole batch (a batch a crash interrupted)",
             path.c_str(), bytes.size() - pos);
    if (options_.read_only) return Status::OK();
    if (::ftruncate(log_fd_.get(), static_cast<off_t>(pos)) != 0) return Status::FromErrno(errno, "truncate " + path);
    AMBER_RETURN_IF_ERROR(SyncFileData(log_fd_.get(), path));
  }
  return Status::OK();
}

Result<BlobLocation> BlobIndex::Lookup(const Pointer& blob) const {
  std::shared_ptr<const SegmentList> segments;
  {
    std::shared_lock lock(state_mu_);
    if (auto it = memtable_.find(blob); it != memtable_.end()) {
      if (it->second.removed) return Status::Error(ENOENT, "blob " + blob.Hex() + " is not in the index");
      return it->second.where;
    }
    segments = segments_;
  }
  for (auto it = segments->rbegin(); it != segments->rend(); ++it) {
    AMBER_ASSIGN_OR_RETURN(std::optional<IndexUpdate> found, (*it)->Lookup(blob));
    if (!found) continue;
    if (found->removed) break;
    return found->where;
  }
  return Status::Error(ENOENT, "blob " + blob.Hex() + " is not in the index");
}

Result<bool> BlobIndex::Contains(const Pointer& blob) const {
  Result<BlobLocation> r = Lookup(blob);
  if (r.ok()) return true;
  if (r.status().code() == ENOENT) return false;
  return r.status();
}

Status BlobIndex::Commit(std::span<const IndexUpdate> updates) {
  AMBER_RETURN_IF_ERROR(CheckIndexUpdates(updates));
  if (options_.read_only) return Status::Error(EROFS, "blob index " + dir_ + " is open read-only: commit refused");
  if (updates.empty()) return Status::OK();
  const std::vector<uint8_t> record = EncodeIndexLogRecord(updates);
  std::lock_guard commit(commit_mu_);
  if (!failed_.ok()) return failed_;
  const std::string path = LogPath(manifest_.log);
  Status s = PwriteAll(log_fd_.get(), record.data(), record.size(), static_cast<off_t>(log_end_.load()), path);
  if (s.ok()) s = SyncFileData(log_fd_.get(), path);
  if (!s.ok()) {
    // Undo a partial write; if that fails too, the sticky error and the
    // torn-tail rule at the next Open cover it.
    if (::ftruncate(log_fd_.get(), static_cast<off_t>(log_end_.load())) != 0)
      LOG_WARN("blob index: truncate %s after a failed commit: %s", path.c_str(), std::strerror(errno));
    failed_ = Status::Error(EIO, "blob index " + dir_ + " refuses commits until reopened: " + s.ToString());
    return s.Annotate("commit " + std::to_string(updates.size()) + " blobs to the blob index");
  }
  log_end_.fetch_add(record.size());
  {
    std::unique_lock lock(state_mu_);
    for (const IndexUpdate& u : updates) memtable_[u.blob] = u;
  }
  if (memtable_.size() >= options_.memtable_entries) {
    Status flushed = FlushLocked();
    if (!flushed.ok()) LOG_WARN("blob index %s: flush failed (retried at the next commit): %s", dir_.c_str(),
                                flushed.ToString().c_str());
  }
  return Status::OK();
}

Status BlobIndex::Flush() {
  if (options_.read_only) return Status::Error(EROFS, "blob index " + dir_ + " is open read-only: flush refused");
  std::lock_guard commit(commit_mu_);
  if (!failed_.ok()) return failed_;
  return FlushLocked();
}

Status BlobIndex::InstallLocked(const IndexManifest& m, std::shared_ptr<const SegmentList> segments, UniqueFd log_fd,
                                bool clear_memtable) {
  const std::string text = EncodeIndexManifest(m);
  AMBER_RETURN_IF_ERROR(WriteFileAtomic(dir_, kManifestName,
                                        std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                                        /*no_replace=*/false));
  const uint64_t old_log = manifest_.log;
  std::vector<uint64_t> old_segments;
  for (const auto& s : manifest_.segments)
    if (std::none_of(m.segments.begin(), m.segments.end(), [&](const auto& n) { return n.number == s.number; }))
      old_segments.push_back(s.number);
  manifest_ = m;
  {
    std::unique_lock lock(state_mu_);
    segments_ = std::move(segments);
    if (clear_memtable) memtable_.clear();
  }
  // Files the manifest no longer names: removed without a sync (a crash
  // leaves them for the next Open to remove).
  if (log_fd.valid()) {
    log_fd_ = std::move(log_fd);
    log_end_.store(0);
    ::unlink(LogPath(old_log).c_str());
  }
  for (uint64_t n : old_segments) ::unlink(SegmentPath(n).c_str());
  return Status::OK();
}

Status BlobIndex::FlushLocked() {
  std::vector<IndexUpdate> entries;
  {
    std::shared_lock lock(state_mu_);
    if (memtable_.empty()) return Status::OK();
    entries = SortedCopy(memtable_);
  }
  IndexManifest m = manifest_;
  const uint64_t seg_no = m.next++, log_no = m.next++;
  AMBER_ASSIGN_OR_RETURN(auto writer, SegmentWriter::Create(dir_, entries.size(), options_.bloom_bits_per_entry));
  for (const IndexUpdate& u : entries) AMBER_RETURN_IF_ERROR(writer->Add(u));
  AMBER_ASSIGN_OR_RETURN(uint64_t count, writer->Finish(SegmentPath(seg_no)));
  m.segments.push_back({seg_no, count});
  m.log = log_no;
  Status s = Status::OK();
  Result<std::shared_ptr<Segment>> seg = Segment::Open(SegmentPath(seg_no));
  Result<UniqueFd> log_fd = CreateSyncedFile(LogPath(log_no), {}, /*replace_leftover=*/true);
  if (!seg.ok()) s = seg.status();
  if (s.ok() && !log_fd.ok()) s = log_fd.status();
  if (s.ok()) {
    auto segments = std::make_shared<SegmentList>(*segments_);
    segments->push_back(*seg);
    s = InstallLocked(m, std::move(segments), std::move(*log_fd), /*clear_memtable=*/true);
  }
  if (!s.ok()) {  // the old manifest still stands; its log holds the memtable
    ::unlink(SegmentPath(seg_no).c_str());
    ::unlink(LogPath(log_no).c_str());
    manifest_.next = m.next;  // never hand those numbers out again
    return s.Annotate("flush the blob index");
  }
  ++counters_.flushes;
  return MergeIfDueLocked();
}

Status BlobIndex::MergeIfDueLocked() {
  for (;;) {
    const SegmentList& segs = *segments_;
    const size_t n = segs.size();
    if (n < 2 || segs[n - 2]->entries() > segs[n - 1]->entries()) return Status::OK();
    uint64_t sum = segs[n - 1]->entries() + segs[n - 2]->entries();
    size_t first = n - 2;
    while (first > 0 && segs[first - 1]->entries() <= sum) sum += segs[--first]->entries();
    AMBER_RETURN_IF_ERROR(MergeLocked(first));
  }
}

Status BlobIndex::MergeLocked(size_t first) {
  const SegmentList& segs = *segments_;
  std::vector<std::unique_ptr<EntrySource>> sources;
  uint64_t upper = 0;
  for (size_t i = first; i < segs.size(); ++i) {
    sources.push_back(std::make_unique<SegmentSource>(segs[i]));
    upper += segs[i]->entries();
  }
  IndexManifest m = manifest_;
  const uint64_t seg_no = m.next++;
  manifest_.next = m.next;
  AMBER_ASSIGN_OR_RETURN(auto writer, SegmentWriter::Create(dir_, upper, options_.bloom_bits_per_entry));
  const bool oldest = first == 0;  // nothing older for a tombstone to hide
  AMBER_RETURN_IF_ERROR(MergeSources(sources, [&](const IndexUpdate& u) {
    return oldest && u.removed ? Status::OK() : writer->Add(u);
  }));
  AMBER_ASSIGN_OR_RETURN(uint64_t count, writer->Finish(SegmentPath(seg_no)));
  m.segments.erase(m.segments.begin() + static_cast<long>(first), m.segments.end());
  m.segments.push_back({seg_no, count});
  Result<std::shared_ptr<Segment>> seg = Segment::Open(SegmentPath(seg_no));
  Status s = seg.status();
  if (s.ok()) {
    auto segments = std::make_shared<SegmentList>(segs.begin(), segs.begin() + static_cast<long>(first));
    segments->push_back(*seg);
    s = InstallLocked(m, std::move(segments), UniqueFd(), /*clear_memtable=*/false);
  }
  if (!s.ok()) {
    ::unlink(SegmentPath(seg_no).c_str());
    return s.Annotate("merge blob index segments");
  }
  ++counters_.merges;
  return Status::OK();
}

Status BlobIndex::ForEach(const std::function<Status(const Pointer&, const BlobLocation&)>& fn) const {
  std::vector<std::unique_ptr<EntrySource>> sources;
  {
    std::shared_lock lock(state_mu_);
    for (const auto& s : *segments_) sources.push_back(std::make_unique<SegmentSource>(s));
    sources.push_back(std::make_unique<VectorSource>(SortedCopy(memtable_)));
  }
  return MergeSources(sources, [&](const IndexUpdate& u) { return u.removed ? Status::OK() : fn(u.blob, u.where); });
}

BlobIndexStats BlobIndex::Stats() const {
  std::shared_lock lock(state_mu_);
  BlobIndexStats st = counters_;
  st.memtable_entries = memtable_.size();
  st.segments = segments_->size();
  st.resident_bytes = memtable_.size() * (sizeof(IndexUpdate) + sizeof(Pointer) + 32);
  for (const auto& s : *segments_) {
    st.segment_entries += s->entries();
    st.resident_bytes += s->ResidentBytes();
  }
  st.log_bytes = log_end_.load(std::memory_order_relaxed);
  return st;
}

}  // namespace amberfs
