// ImageWriter: see image_writer.h.
#include "snapshot/image_writer.h"

#include <fcntl.h>

#include <cstring>

#include "amberfs/log.h"
#include "base/durable_file.h"
#include "base/stream_copy.h"

namespace amberfs {

Result<std::unique_ptr<ImageWriter>> ImageWriter::Open(const std::string& path) {
  std::unique_ptr<ImageWriter> w(new ImageWriter(path));
  w->fd_ = UniqueFd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!w->fd_.valid()) return Status::FromErrno(errno, "open image " + path);
  w->direct_fd_ = UniqueFd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_DIRECT));
  if (!w->direct_fd_.valid()) LOG_DEBUG("image %s: no O_DIRECT (%s); written through the page cache", path.c_str(), std::strerror(errno));
  return w;
}

ImageWriter::Run* ImageWriter::RunOfThisThread() {
  std::lock_guard lk(runs_mu_);
  std::unique_ptr<Run>& run = runs_[std::this_thread::get_id()];
  if (!run) run = std::make_unique<Run>();
  return run.get();
}

Status ImageWriter::Add(uint64_t offset, std::span<const uint8_t> data) {
  Run* run = RunOfThisThread();
  if (run->length > 0 && (offset != run->offset + run->length || run->length + data.size() > kImageRunBytes))
    AMBER_RETURN_IF_ERROR(Flush(run));
  if (data.size() > kImageRunBytes) return Write(data.data(), data.size(), offset);  // a chunk larger than a run
  if (run->buffer.size() == 0) run->buffer = AlignedBuffer::Uninitialized(kImageRunBytes, kImageDirectAlign);
  if (run->length == 0) run->offset = offset;
  // The run goes to the device, not back to the CPU (StreamCopy's why).
  StreamCopy(run->buffer.data() + run->length, data.data(), data.size());
  run->length += data.size();
  return Status::OK();
}

Status ImageWriter::Flush(Run* run) {
  const size_t length = std::exchange(run->length, 0);
  return length == 0 ? Status::OK() : Write(run->buffer.data(), length, run->offset);
}

Status ImageWriter::Write(const uint8_t* data, size_t length, uint64_t offset) {
  const bool aligned = offset % kImageDirectAlign == 0 && length % kImageDirectAlign == 0 &&
                       reinterpret_cast<uintptr_t>(data) % kImageDirectAlign == 0;
  if (aligned && direct_fd_.valid() && !direct_refused_.load()) {
    Status st = PwriteAll(direct_fd_.get(), data, length, static_cast<off_t>(offset), path_);
    if (st.code() != EINVAL) {
      if (st.ok()) wrote_direct_ = true;
      return st;
    }
    // The file system took the O_DIRECT open but refuses the writes: this
    // run and all after it go through the page cache (a partial direct
    // write is simply written again).
    if (!direct_refused_.exchange(true))
      LOG_WARN("%s refuses O_DIRECT writes (%s); the restore writes it through the page cache", path_.c_str(),
               st.ToString().c_str());
  }
  std::lock_guard lk(write_mu_);
  AMBER_RETURN_IF_ERROR(PwriteAll(fd_.get(), data, length, static_cast<off_t>(offset), path_));
  // Start the write-out as the image fills rather than all at Finish's
  // fdatasync (with RAM for the whole image the kernel kept it all dirty, and
  // that fdatasync took 0.5 s of a 1 GiB restore). A hint: a failure only
  // leaves the work to the fdatasync.
  unflushed_ += length;
  if (unflushed_ >= kImageWriteBehind) {
    unflushed_ = 0;
    if (::sync_file_range(fd_.get(), 0, 0, SYNC_FILE_RANGE_WRITE) != 0)
      LOG_DEBUG("sync_file_range of %s: %s", path_.c_str(), std::strerror(errno));
  }
  return Status::OK();
}

Status ImageWriter::Finish() {
  for (auto& [thread, run] : runs_) AMBER_RETURN_IF_ERROR(Flush(run.get()));
  runs_.clear();  // the buffers are not needed any more
  AMBER_RETURN_IF_ERROR(SyncFileData(fd_.get(), "image " + path_));
  if (direct_fd_.valid()) AMBER_RETURN_IF_ERROR(direct_fd_.Close().Annotate("image " + path_));
  return fd_.Close().Annotate("image " + path_);
}

}  // namespace amberfs
