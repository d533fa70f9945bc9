// RemoteChunks: a clone's chunks still only in the slow store (see remote_chunks.h).
#include "snapshot/remote_chunks.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <bit>
#include <cstring>

#include "amberfs/log.h"
#include "base/byte_order.h"
#include "base/durable_file.h"
#include "snapshot/snapshot_record.h"
#include "snapshot/volume_layout.h"

namespace amberfs {
namespace {

constexpr char kRemoteMagic[8] = {'A', 'M', 'B', 'R', 'R', 'M', 'T', 'C'};
constexpr uint32_t kRemoteVersion = 1;
constexpr size_t kHeaderBytes = 64;  // magic, version, name length, chunk count, remaining, record
constexpr uint32_t kRecordMagic = 0x48524d41;  // "AMRH" little-endian
constexpr size_t kRecordBytes = 24;
// A volume of 2^40 chunks is far past anything a config allows; the bound
// only keeps a damaged header from asking for an absurd allocation.
constexpr uint64_t kMaxChunks = uint64_t{1} << 40;

size_t BitmapBytes(uint64_t chunks) { return static_cast<size_t>((chunks + 7) / 8); }

// Chunk c local in the bitmap (bit c % 8 of byte c / 8, as IsRemote reads it).
void ClearBit(std::vector<uint8_t>& bits, uint64_t c) { bits[c / 8] &= static_cast<uint8_t>(~(1u << (c % 8))); }

uint64_t CountBits(const std::vector<uint8_t>& bits) {
  uint64_t n = 0;
  for (uint8_t b : bits) n += std::popcount(b);
  return n;
}

std::vector<uint8_t> EncodeRemote(const RemoteOrigin& origin, uint64_t chunk_count, uint64_t remaining,
                                  const std::vector<uint8_t>& bits) {
  std::vector<uint8_t> b(kHeaderBytes + origin.snapshot.size() + bits.size() + 8, 0);
  std::memcpy(b.data(), kRemoteMagic, 8);
  PutLE32(b.data() + 8, kRemoteVersion);
  PutLE32(b.data() + 12, static_cast<uint32_t>(origin.snapshot.size()));
  PutLE64(b.data() + 16, chunk_count);
  PutLE64(b.data() + 24, remaining);
  std::memcpy(b.data() + 32, origin.record.bytes().data(), Pointer::kSize);
  std::memcpy(b.data() + kHeaderBytes, origin.snapshot.data(), origin.snapshot.size());
  std::memcpy(b.data() + kHeaderBytes + origin.snapshot.size(), bits.data(), bits.size());
  const size_t sum_at = b.size() - 8;
  PutLE64(b.data() + sum_at, XXH3_64bits(b.data(), sum_at));
  return b;
}

std::array<uint8_t, kRecordBytes> EncodeRecord(uint64_t first, uint32_t count) {
  std::array<uint8_t, kRecordBytes> r{};
  PutLE32(r.data(), kRecordMagic);
  PutLE32(r.data() + 4, count);
  PutLE64(r.data() + 8, first);
  PutLE64(r.data() + 16, XXH3_64bits(r.data(), 16));
  return r;
}

}  // namespace

Status RemoteChunks::Create(const std::string& voldir, const RemoteOrigin& origin, uint64_t chunk_count,
                            const std::vector<uint64_t>& remote) {
  AMBER_RETURN_IF_ERROR(ValidateSnapshotName(origin.snapshot));
  if (origin.record.IsNull()) return Status::Error(EINVAL, "a clone's origin record cannot be null");
  if (chunk_count == 0 || chunk_count > kMaxChunks) return Status::Error(EINVAL, "bad chunk count for a clone");
  std::vector<uint8_t> bits(BitmapBytes(chunk_count), 0);
  uint64_t n = 0;
  for (uint64_t c : remote) {
    if (c >= chunk_count) return Status::Error(EINVAL, "remote chunk " + std::to_string(c) + " past the volume");
    if ((bits[c / 8] >> (c % 8) & 1) == 0) ++n;
    bits[c / 8] |= static_cast<uint8_t>(1u << (c % 8));
  }
  // Before the log is replaced: emptying the log of an existing `remote`
  // would make its local chunks remote again.
  if (const std::string path = VolumePath(voldir, kRemoteChunksFile); ::access(path.c_str(), F_OK) == 0) {
    return Status::Error(EEXIST, path + " exists already");
  }
  const std::vector<uint8_t> log;  // empty: nothing fetched yet
  AMBER_RETURN_IF_ERROR(WriteFileAndRename(voldir, kRemoteLogFile, log, /*no_replace=*/false));
  AMBER_RETURN_IF_ERROR(WriteFileAndRename(voldir, kRemoteChunksFile, EncodeRemote(origin, chunk_count, n, bits),
                                           /*no_replace=*/true));
  return FsyncDir(voldir);
}

Result<std::unique_ptr<RemoteChunks>> RemoteChunks::Open(const std::string& voldir, bool read_only) {
  const std::string path = VolumePath(voldir, kRemoteChunksFile);
  const std::string log_path = VolumePath(voldir, kRemoteLogFile);
  Result<std::vector<uint8_t>> data = ReadSmallFile(path, kHeaderBytes + 64 + BitmapBytes(kMaxChunks) + 8);
  if (!data.ok() && data.status().code() == ENOENT) {
    // Left by a crash between the two removals of the last MarkLocal.
    if (!read_only && ::access(log_path.c_str(), F_OK) == 0) {
      AMBER_RETURN_IF_ERROR(RemoveDurably(voldir, kRemoteLogFile));
    }
    return std::unique_ptr<RemoteChunks>();
  }
  AMBER_RETURN_IF_ERROR(data.status());
  const std::vector<uint8_t>& b = *data;
  auto corrupt = [&](const std::string& why) { return Status::Error(EBADMSG, path + " is damaged: " + why); };
  if (b.size() < kHeaderBytes + 8 || std::memcmp(b.data(), kRemoteMagic, 8) != 0) return corrupt("not a remote-chunks file");
  if (GetLE32(b.data() + 8) != kRemoteVersion) {
    return corrupt("version " + std::to_string(GetLE32(b.data() + 8)) + " (this amberfs reads version 1)");
  }
  const uint32_t name_len = GetLE32(b.data() + 12);
  const uint64_t chunks = GetLE64(b.data() + 16);
  if (name_len == 0 || name_len > 64 || chunks == 0 || chunks > kMaxChunks) return corrupt("bad header");
  if (b.size() != kHeaderBytes + name_len + BitmapBytes(chunks) + 8) return corrupt("bad size");
  if (GetLE64(b.data() + b.size() - 8) != XXH3_64bits(b.data(), b.size() - 8)) return corrupt("checksum mismatch");

  std::unique_ptr<RemoteChunks> rc(new RemoteChunks());
  rc->voldir_ = voldir;
  rc->read_only_ = read_only;
  rc->chunk_count_ = chunks;
  rc->origin_.record = Pointer::FromBytes(b.data() + 32);
  rc->origin_.snapshot.assign(reinterpret_cast<const char*>(b.data() + kHeaderBytes), name_len);
  if (!ValidateSnapshotName(rc->origin_.snapshot).ok() || rc->origin_.record.IsNull()) {
    return corrupt("bad origin snapshot name or record");
  }
  rc->bits_.assign(b.begin() + kHeaderBytes + name_len, b.end() - 8);
  if (CountBits(rc->bits_) != GetLE64(b.data() + 24)) return corrupt("the count of remote chunks disagrees");
  if (chunks % 8 != 0 && (rc->bits_.back() >> (chunks % 8)) != 0) return corrupt("bits set past the last chunk");

  // Replay the log: every whole, valid record clears its chunks.
  UniqueFd fd(::open(log_path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd.valid() && errno != ENOENT) return Status::FromErrno(errno, "open " + log_path);
  if (fd.valid()) {
    AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> log, ReadWholeFd(fd.get(), kNoSizeLimit, log_path));
    size_t at = 0;
    for (; at + kRecordBytes <= log.size(); at += kRecordBytes) {
      const uint8_t* r = log.data() + at;
      const uint64_t first = GetLE64(r + 8);
      const uint32_t count = GetLE32(r + 4);
      if (GetLE32(r) != kRecordMagic || GetLE64(r + 16) != XXH3_64bits(r, 16) || count == 0 ||
          first >= chunks || count > chunks - first) {
        break;
      }
      for (uint64_t c = first; c < first + count; ++c) ClearBit(rc->bits_, c);
    }
    if (at != log.size()) {
      LOG_WARN("%s: %zu bytes of an unfinished record at its end %s", log_path.c_str(), log.size() - at,
               read_only ? "(ignored)" : "cut off");
      if (!read_only) {
        if (::ftruncate(fd.get(), static_cast<off_t>(at)) != 0) return Status::FromErrno(errno, "truncate " + log_path);
        AMBER_RETURN_IF_ERROR(SyncFileData(fd.get(), log_path));
      }
    }
    rc->log_bytes_ = at;
  } else if (!read_only) {
    // Create writes the log first, so only a damaged directory lacks it.
    AMBER_ASSIGN_OR_RETURN(fd, CreateSyncedFile(log_path, {}));
    AMBER_RETURN_IF_ERROR(FsyncDir(voldir));
  }
  rc->remaining_ = CountBits(rc->bits_);
  rc->log_ = std::move(fd);
  if (!read_only && rc->remaining_ == 0) {
    AMBER_RETURN_IF_ERROR(rc->RemoveFiles());
    return std::unique_ptr<RemoteChunks>();
  }
  return rc;
}

std::optional<uint64_t> RemoteChunks::NextRemote(uint64_t from) const {
  for (uint64_t c = from; c < chunk_count_; ++c) {
    if (c % 8 == 0 && bits_[c / 8] == 0) {
      c += 7;  // a whole byte of local chunks
      continue;
    }
    if (IsRemote(c)) return c;
  }
  return std::nullopt;
}

Status RemoteChunks::MarkLocal(const std::vector<uint64_t>& chunks) {
  if (read_only_) return Status::Error(EROFS, "the remote chunks of " + voldir_ + " are open read-only");
  if (chunks.empty()) return Status::OK();
  // Every chunk, not only the first of each run: a local or repeated one
  // would be counted off remaining_ again.
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!IsRemote(chunks[i])) return Status::Error(EINVAL, "chunk " + std::to_string(chunks[i]) + " is not remote");
    if (i > 0 && chunks[i] <= chunks[i - 1]) return Status::Error(EINVAL, "chunks to mark local are not ascending");
  }
  // One record per run of consecutive chunks.
  std::vector<uint8_t> records;
  for (size_t i = 0; i < chunks.size();) {
    size_t j = i + 1;
    while (j < chunks.size() && chunks[j] == chunks[j - 1] + 1 && j - i < UINT32_MAX) ++j;
    const auto r = EncodeRecord(chunks[i], static_cast<uint32_t>(j - i));
    records.insert(records.end(), r.begin(), r.end());
    i = j;
  }
  const std::string log_path = VolumePath(voldir_, kRemoteLogFile);
  Status st = PwriteAll(log_.get(), records.data(), records.size(), static_cast<off_t>(log_bytes_), log_path);
  if (st.ok()) st = SyncFileData(log_.get(), log_path);
  if (!st.ok()) {
    // A partial record is a torn tail for the next Open; the next append
    // overwrites it from the same offset.
    return st;
  }
  log_bytes_ += records.size();
  for (uint64_t c : chunks) ClearBit(bits_, c);
  remaining_ -= chunks.size();
  if (remaining_ == 0) return RemoveFiles();
  if (log_bytes_ >= kCompactLogBytes) {
    // The log is durable already: a failed compaction only keeps it longer.
    if (Status c = Compact(); !c.ok()) LOG_WARN("compact %s: %s", log_path.c_str(), c.ToString().c_str());
  }
  return Status::OK();
}

Status RemoteChunks::Compact() {
  AMBER_RETURN_IF_ERROR(WriteFileAtomic(voldir_, kRemoteChunksFile,
                                        EncodeRemote(origin_, chunk_count_, remaining_, bits_), /*no_replace=*/false));
  // A crash before the truncate replays records whose chunks are local
  // already in the new file: clearing a clear bit changes nothing.
  const std::string log_path = VolumePath(voldir_, kRemoteLogFile);
  if (::ftruncate(log_.get(), 0) != 0) return Status::FromErrno(errno, "truncate " + log_path);
  AMBER_RETURN_IF_ERROR(SyncFileData(log_.get(), log_path));
  log_bytes_ = 0;
  return Status::OK();
}

Status RemoteChunks::RemoveFiles() {
  // `remote` first: without it the volume is an ordinary one, and a
  // leftover log is removed by the next Open.
  AMBER_RETURN_IF_ERROR(RemoveDurably(voldir_, kRemoteChunksFile));
  log_.Close().IgnoreError();
  return RemoveDurably(voldir_, kRemoteLogFile);
}

}  // namespace amberfs
