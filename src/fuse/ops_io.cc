// I/O on volume and the snapshot files: read, write, flush, fsync, fallocate
// (see frontend.h). ctl and stats reads and ctl writes are passed on.
#include <linux/falloc.h>

#include <algorithm>
#include <memory>

#include "amberfs/log.h"
#include "base/aligned_buffer.h"
#include "fuse/frontend.h"

namespace amberfs::frontend {
namespace {

// An error from the volume's I/O, logged once here and counted by request.
int VolumeError(std::atomic<uint64_t>& counter, const char* op, const Status& st) {
  counter.fetch_add(1, std::memory_order_relaxed);
  LOG_ERROR("%s on volume: %s", op, st.ToString().c_str());
  return st.code();
}

void NoteLargest(std::atomic<uint64_t>& largest, uint64_t n) {
  uint64_t seen = largest.load(std::memory_order_relaxed);
  while (n > seen && !largest.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {
  }
}

// Counts a request in flight while it lives, and notes the peak.
class InFlight {
 public:
  InFlight(std::atomic<uint64_t>& now, std::atomic<uint64_t>& peak) : now_(now) {
    NoteLargest(peak, now_.fetch_add(1, std::memory_order_relaxed) + 1);
  }
  ~InFlight() { now_.fetch_sub(1, std::memory_order_relaxed); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::atomic<uint64_t>& now_;
};

// The bytes of `text` a read at `offset` of `size` sees.
std::string_view TextAt(const std::string& text, uint64_t offset, size_t size) {
  if (offset >= text.size()) return {};
  return std::string_view(text).substr(offset, size);
}

// One buffer per worker thread, grown to the largest request it has served
// (at most max_read); avoids a 1 MiB allocation per request. Page-aligned,
// so the cache can read the image's blocks straight into it.
char* ReadBuffer(size_t n) {
  thread_local AlignedBuffer buffer;
  if (buffer.size() < n) buffer = AlignedBuffer::Uninitialized(n);
  return reinterpret_cast<char*>(buffer.data());
}

// A snapshot read that failed: ESTALE once the snapshot is gone (deleted,
// perhaps taken again under its name), so a reader never mistakes it for a
// damaged one; EIO otherwise.
int SnapshotReadError(Frontend& fe, const OpenFile& file, const Status& st) {
  const SnapshotHandle& snap = file.snapshot;
  if (!fe.SnapshotExists(SnapshotFile{snap.name, snap.created_ns})) return ESTALE;
  LOG_ERROR("read snapshot %s: %s", snap.name.c_str(), st.ToString().c_str());
  return EIO;
}

}  // namespace

void OpRead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (IsCtlIno(ino)) return CtlRead(req, size, off, fi);
    const uint64_t offset = static_cast<uint64_t>(off);
    if (ino == kStatsIno) {
      std::shared_ptr<OpenFile> file = fe.open_files().Find(fi->fh);
      if (!file) return EBADF;
      std::string_view slice = TextAt(file->text, offset, size);  // immutable after open
      fuse_reply_buf(req, slice.data(), slice.size());
      return 0;
    }
    std::shared_ptr<OpenFile> snapshot;
    uint64_t vsize = fe.volume().size();
    if (IsSnapshotIno(ino)) {
      snapshot = fe.open_files().Find(fi->fh);
      if (!snapshot) return EBADF;
      // Its own size: a snapshot from before the volume grew is smaller.
      vsize = snapshot->snapshot.size;
    } else if (ino != kVolumeIno) {
      return EISDIR;
    }
    if (off < 0) return EINVAL;
    if (offset >= vsize || size == 0) {
      fuse_reply_buf(req, nullptr, 0);
      return 0;
    }
    const size_t n = std::min<uint64_t>(size, vsize - offset);
    char* buffer = ReadBuffer(n);
    if (snapshot) {
      Status st = fe.volume().ReadSnapshot(snapshot->snapshot, buffer, n, offset);
      if (!st.ok()) return SnapshotReadError(fe, *snapshot, st);
      fuse_reply_buf(req, buffer, n);
      return 0;
    }
    Status st = fe.volume().Read(buffer, n, offset);
    if (!st.ok()) return VolumeError(fe.counters().read_errors, "read", st);
    fe.counters().reads.fetch_add(1, std::memory_order_relaxed);
    fe.counters().read_bytes.fetch_add(n, std::memory_order_relaxed);
    fuse_reply_buf(req, buffer, n);
    return 0;
  });
}

void OpWrite(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (IsCtlIno(ino)) return CtlWrite(req, buf, size, off, fi);
    if (ino != kVolumeIno) return EBADF;
    const uint64_t offset = static_cast<uint64_t>(off);
    const uint64_t vsize = fe.volume().size();
    if (off < 0) return EINVAL;
    if (offset >= vsize) return ENOSPC;
    size_t n = std::min<uint64_t>(size, vsize - offset);
    Status st;
    {  // counted out before the reply, which may let the kernel send the next write
      InFlight in_flight(fe.counters().writes_in_flight, fe.counters().writes_in_flight_peak);
      st = fe.volume().Write(buf, n, offset);
    }
    if (!st.ok()) return VolumeError(fe.counters().write_errors, "write", st);
    fe.counters().writes.fetch_add(1, std::memory_order_relaxed);
    fe.counters().write_bytes.fetch_add(n, std::memory_order_relaxed);
    NoteLargest(fe.counters().largest_write, size);
    fuse_reply_write(req, n);
    return 0;
  });
}

void OpFlush(fuse_req_t req, fuse_ino_t, fuse_file_info*) {
  // close(2) does not imply durability; fsync does.
  fuse_reply_err(req, 0);
}

void OpFsync(fuse_req_t req, fuse_ino_t ino, int, fuse_file_info*) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (ino != kVolumeIno) {
      fuse_reply_err(req, 0);  // ctl and stats hold nothing to make durable
      return 0;
    }
    fe.counters().fsyncs.fetch_add(1, std::memory_order_relaxed);
    Status st = fe.volume().Flush();
    if (!st.ok()) return VolumeError(fe.counters().fsync_errors, "fsync", st);
    fuse_reply_err(req, 0);
    return 0;
  });
}

void OpFallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t length, fuse_file_info*) {
  Reply(req, [&] {
    Frontend& fe = From(req);
    if (ino != kVolumeIno) return EOPNOTSUPP;
    if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) return EOPNOTSUPP;
    if (off < 0 || length <= 0) return EINVAL;
    const uint64_t vsize = fe.volume().size();
    const uint64_t start = static_cast<uint64_t>(off);
    const uint64_t len = static_cast<uint64_t>(length);
    if (len > UINT64_MAX - start) return EFBIG;
    uint64_t end = start + len;
    if (end > vsize && !(mode & FALLOC_FL_KEEP_SIZE)) return ENOSPC;  // it would grow the file
    if (!(mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))) {
      // Plain allocation: every byte of the volume is already addressable.
      // Space in a sparse image is not reserved; see amberfs(8).
      fuse_reply_err(req, 0);
      return 0;
    }
    end = std::min(end, vsize);
    if (start < end) {
      Status st = fe.volume().Discard(start, end - start);
      if (!st.ok()) return VolumeError(fe.counters().discard_errors, "discard", st);
      fe.counters().discards.fetch_add(1, std::memory_order_relaxed);
    }
    fuse_reply_err(req, 0);
    return 0;
  });
}

}  // namespace amberfs::frontend
