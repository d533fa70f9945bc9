// ctl: a command per write, its reply read back from the same open file, and
// the cancellation of a waiting command (see frontend.h and ctl.h).
#include <string>

#include "amberfs/log.h"
#include "fuse/frontend.h"

namespace amberfs::frontend {
namespace {

// The CtlContext of one ctl write: cancelled once the kernel sends an
// interrupt for it (the writer got a signal) or the session is ending (an
// unmount or a signal to the daemon). It deregisters its interrupt callback
// when destroyed, which libfuse orders after any call of the callback in
// progress, and which must happen before the request is answered.
class RequestContext final : public CtlContext {
 public:
  RequestContext(fuse_req_t req, fuse_session* se) : req_(req), se_(se) {
    fuse_req_interrupt_func(req_, &RequestContext::OnInterrupt, this);
  }
  ~RequestContext() override { fuse_req_interrupt_func(req_, nullptr, nullptr); }
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  bool Cancelled() const override {
    return interrupted_.load(std::memory_order_acquire) || (se_ != nullptr && fuse_session_exited(se_));
  }

 private:
  static void OnInterrupt(fuse_req_t, void* self) {
    static_cast<RequestContext*>(self)->interrupted_.store(true, std::memory_order_release);
  }

  const fuse_req_t req_;
  fuse_session* const se_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace

int CtlRead(fuse_req_t req, size_t size, off_t off, fuse_file_info* fi) {
  Frontend& fe = From(req);
  std::shared_ptr<OpenFile> file = fe.open_files().Find(fi->fh);
  if (!file) return EBADF;
  const uint64_t offset = static_cast<uint64_t>(off);
  // Copy, then reply with no lock held: once the reply is sent, the reader
  // may close and RELEASE may run at once.
  std::string slice;
  {
    std::lock_guard<std::mutex> lock(file->mu);
    uint64_t rel = offset >= file->reply_base ? offset - file->reply_base : offset;
    if (rel < file->text.size()) slice = file->text.substr(rel, size);
  }
  fuse_reply_buf(req, slice.data(), slice.size());
  return 0;
}

int CtlWrite(fuse_req_t req, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  Frontend& fe = From(req);
  std::shared_ptr<OpenFile> file = fe.open_files().Find(fi->fh);
  if (!file) return EBADF;
  CtlOutcome out;
  {
    RequestContext ctx(req, fe.session());
    out = fe.ctl().Execute(std::string_view(buf, size), ctx);
  }  // the interrupt callback is gone before the reply
  fe.counters().ctl_commands.fetch_add(1, std::memory_order_relaxed);
  const uint64_t offset = static_cast<uint64_t>(off);
  {
    std::lock_guard<std::mutex> lock(file->mu);
    file->text = std::move(out.reply);
    file->reply_base = out.status.ok() ? offset + size : offset;
  }
  if (!out.status.ok()) {
    fe.counters().ctl_errors.fetch_add(1, std::memory_order_relaxed);
    // The message quotes the command's words escaped (ctl.h): no raw bytes
    // of the writer's reach the log.
    LOG_WARN("ctl: %s", EscapeCtlText(out.status.ToString()).c_str());
    return out.status.code();
  }
  fuse_reply_write(req, size);
  return 0;
}

}  // namespace amberfs::frontend
