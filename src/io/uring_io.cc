// The io_uring BatchIO backend.
//
// Rings: a small pool, created lazily (the first at open, so that a kernel
// without io_uring is found out at once and the caller can fall back). Each
// call borrows one ring for its whole duration and drains every request it
// submitted before giving it back, so a ring never carries one caller's
// requests into another's call. When every ring is lent out, callers wait on
// a condition variable; a ring that cannot be created (memlock, memory) caps
// the pool at the rings that exist.
//
// Batching follows liburing's io_uring-cp loop: fill the submission queue with
// up to queue_depth requests, io_uring_submit_and_wait(1) (one io_uring_enter
// submits them all and waits), reap every completion that is there, refill.
// A short transfer is queued again for its remainder; a read that returns 0
// met end of file and is an error. After the first error no new requests are
// queued, but the call still waits for those in flight (their buffers belong
// to the caller).
//
// LinkedWriteFsync: the writes and an IORING_OP_FSYNC(DATASYNC) go in as one
// IOSQE_IO_LINK chain, so the fdatasync runs only after every write completed
// in full. A chain must reach the kernel in a single io_uring_enter and fit in
// the ring, so when there are more writes than queue_depth - 1, the earlier
// ones go first as ordinary parallel rounds (waited for, and any error ends
// the call before the fdatasync), and only the last queue_depth - 1 are linked
// to the fdatasync. Note that linked requests run one after another, not in
// parallel; callers with many large O_DIRECT writes may prefer PwriteBatch +
// Fsync. The kernel fails a link on a short write (cancelling the rest with
// -ECANCELED); that case, and a chain the kernel took only in part, is
// finished with ordinary rounds and a separate fdatasync. A real write error
// is reported before the fdatasync's -ECANCELED that it caused.
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "amberfs/log.h"
#include "io/batch_io_internal.h"

namespace amberfs {
namespace {

using io_internal::ClosedError;
using io_internal::OpError;
using io_internal::ShortReadError;
using io_internal::ZeroWriteError;

constexpr unsigned kMaxRings = 4;
constexpr unsigned kMinQueueDepth = 2;  // a chain needs room for a write and the fsync
constexpr unsigned kMaxQueueDepth = 4096;
// io_uring's length field is 32 bits and the kernel caps one transfer near
// 2 GiB anyway; larger ops go in pieces through the short-transfer path.
constexpr size_t kMaxTransferBytes = size_t{1} << 30;

class Ring {
 public:
  static Result<std::unique_ptr<Ring>> Create(unsigned entries) {
    std::unique_ptr<Ring> ring(new Ring());
    // Completions are only ever reaped inside io_uring_enter, so the kernel
    // need not interrupt the task to run their task work (5.19+; older
    // kernels refuse the flag and get a ring without it).
    int rc = io_uring_queue_init(entries, &ring->ring_, IORING_SETUP_COOP_TASKRUN);
    if (rc == -EINVAL) rc = io_uring_queue_init(entries, &ring->ring_, 0);
    if (rc < 0) return Status::FromErrno(-rc, "io_uring_queue_init");
    ring->initialized_ = true;
    return ring;
  }
  ~Ring() {
    if (initialized_) io_uring_queue_exit(&ring_);
  }
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  io_uring* get() { return &ring_; }

 private:
  Ring() = default;
  io_uring ring_{};
  bool initialized_ = false;
};

// Checks for the opcodes this backend uses (READ/WRITE came in 5.6); an older
// kernel is a reason to fall back, not a run-time failure later.
Status CheckOpcodes(Ring& ring) {
  io_uring_probe* probe = io_uring_get_probe_ring(ring.get());
  if (probe == nullptr) return Status::Error(ENOSYS, "io_uring probe not supported (kernel older than 5.6)");
  Status st;
  for (int op : {IORING_OP_READ, IORING_OP_WRITE, IORING_OP_FSYNC}) {
    if (!io_uring_opcode_supported(probe, op)) {
      st = Status::Error(ENOSYS, "io_uring opcode " + std::to_string(op) + " not supported by this kernel");
      break;
    }
  }
  io_uring_free_probe(probe);
  return st;
}

class RingPool;

// A ring on loan from the pool; given back on destruction. A ring whose state
// cannot be trusted any more is marked broken and destroyed instead.
class RingLease {
 public:
  RingLease(RingPool* pool, std::unique_ptr<Ring> ring) : pool_(pool), ring_(std::move(ring)) {}
  RingLease(RingLease&& other) noexcept = default;
  RingLease& operator=(RingLease&&) = delete;
  ~RingLease();

  io_uring* get() { return ring_->get(); }
  void MarkBroken() { broken_ = true; }

 private:
  RingPool* pool_;
  std::unique_ptr<Ring> ring_;
  bool broken_ = false;
};

class RingPool {
 public:
  RingPool(unsigned entries, std::unique_ptr<Ring> first) : entries_(entries) {
    idle_.push_back(std::move(first));
    live_ = 1;
  }

  Result<RingLease> Borrow() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (closed_) return ClosedError("io_uring");
      if (!idle_.empty()) {
        std::unique_ptr<Ring> ring = std::move(idle_.back());
        idle_.pop_back();
        return RingLease(this, std::move(ring));
      }
      if (live_ < max_rings_) {
        ++live_;
        lock.unlock();
        Result<std::unique_ptr<Ring>> ring = Ring::Create(entries_);
        if (ring.ok()) return RingLease(this, std::move(ring).value());
        lock.lock();
        --live_;
        // Make do with the rings that exist rather than fail the call.
        max_rings_ = std::max(live_, 1u);
        LOG_WARN("io_uring pool capped at %u rings: %s", max_rings_, ring.status().message().c_str());
        if (live_ == 0) return ring.status();
        continue;
      }
      cv_.wait(lock);
    }
  }

  void GiveBack(std::unique_ptr<Ring> ring, bool broken) {
    std::unique_lock<std::mutex> lock(mu_);
    if (closed_ || broken) {
      --live_;
      lock.unlock();
      ring.reset();
    } else {
      idle_.push_back(std::move(ring));
      lock.unlock();
    }
    cv_.notify_one();
  }

  bool closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

  // Destroys the idle rings now; lent rings are destroyed when given back.
  void Close() {
    std::vector<std::unique_ptr<Ring>> idle;
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      idle.swap(idle_);
      live_ -= static_cast<unsigned>(idle.size());
    }
    cv_.notify_all();
  }

 private:
  const unsigned entries_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Ring>> idle_;  // guarded by mu_
  unsigned live_ = 0;                        // idle + lent; guarded by mu_
  unsigned max_rings_ = kMaxRings;           // guarded by mu_
  bool closed_ = false;                      // guarded by mu_
};

RingLease::~RingLease() {
  if (ring_) pool_->GiveBack(std::move(ring_), broken_);
}

// One op's progress. The buffer is written by the kernel for reads only; a
// write's buffer is stored non-const here but never modified.
struct Transfer {
  bool write;
  char* buf;
  size_t left;
  uint64_t offset;
};

void PrepTransfer(io_uring_sqe* sqe, int fd, Transfer* t, unsigned flags) {
  unsigned len = static_cast<unsigned>(std::min(t->left, kMaxTransferBytes));
  if (t->write)
    io_uring_prep_write(sqe, fd, t->buf, len, t->offset);
  else
    io_uring_prep_read(sqe, fd, t->buf, len, t->offset);
  sqe->flags |= flags;
  io_uring_sqe_set_data(sqe, t);
}

// Applies one completion to its transfer; true when the transfer has more to
// do and should be submitted again.
bool Complete(Transfer* t, int res, Status* first_error) {
  if (res == -EINTR || res == -EAGAIN) return true;
  if (res < 0) {
    if (first_error->ok()) *first_error = OpError(-res, t->write ? "pwrite" : "pread", t->offset);
    return false;
  }
  if (res == 0) {
    if (first_error->ok()) *first_error = t->write ? ZeroWriteError(t->offset) : ShortReadError(t->offset);
    return false;
  }
  t->buf += res;
  t->left -= static_cast<size_t>(res);
  t->offset += static_cast<uint64_t>(res);
  return t->left > 0;
}

// Submits what is queued in the SQ and waits for at least `wait_nr`
// completions. Returns how many SQEs the kernel took (>= 0) or a -errno that
// retrying will not fix. Transient failures are retried here.
int SubmitAndWait(io_uring* ring, unsigned wait_nr) {
  for (;;) {
    int rc = io_uring_submit_and_wait(ring, wait_nr);
    if (rc >= 0) return rc;
    if (rc == -EINTR) continue;
    if (rc == -EAGAIN || rc == -EBUSY) {
      // The kernel is short of memory or the CQ is full. Completions already
      // posted let us make progress; otherwise give it a moment.
      if (io_uring_cq_ready(ring) > 0) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    return rc;
  }
}

// Reaps every completion that is ready; returns how many.
template <typename Fn>
unsigned ReapReady(io_uring* ring, Fn&& on_cqe) {
  unsigned head;
  unsigned seen = 0;
  io_uring_cqe* cqe;
  io_uring_for_each_cqe(ring, head, cqe) {
    on_cqe(cqe);
    ++seen;
  }
  io_uring_cq_advance(ring, seen);
  return seen;
}

// The ring can no longer be trusted (io_uring_enter failed in a way that is
// not transient). Requests already in the kernel may still write into the
// caller's buffers, so wait for them; if even that fails, stopping the process
// is the only memory-safe choice left.
void DrainBrokenRing(RingLease& lease, unsigned in_kernel) {
  lease.MarkBroken();
  io_uring* ring = lease.get();
  while (in_kernel > 0) {
    io_uring_cqe* cqe = nullptr;
    int rc = io_uring_wait_cqe(ring, &cqe);
    if (rc == -EINTR || rc == -EAGAIN) continue;
    if (rc < 0) {
      LOG_ERROR("io_uring: cannot reap %u requests still in flight (%d); aborting", in_kernel, rc);
      std::abort();
    }
    io_uring_cqe_seen(ring, cqe);
    --in_kernel;
  }
}

class UringIO final : public BatchIO {
 public:
  UringIO(unsigned depth, std::unique_ptr<Ring> first) : depth_(depth), pool_(depth, std::move(first)) {}
  ~UringIO() override { Close(); }

  const char* name() const override { return "io_uring"; }
  const std::string& fallback_reason() const override { return no_reason_; }

  Status PreadBatch(int fd, std::span<const ReadOp> ops) override {
    std::vector<Transfer> transfers;
    transfers.reserve(ops.size());
    for (const ReadOp& op : ops) {
      if (op.len > 0) transfers.push_back(Transfer{false, static_cast<char*>(op.buf), op.len, op.offset});
    }
    return RunBatch(fd, transfers);
  }

  Status PwriteBatch(int fd, std::span<const WriteOp> ops) override {
    std::vector<Transfer> transfers = WriteTransfers(ops);
    return RunBatch(fd, transfers);
  }

  // fdatasync has nothing to batch with, so it is a plain syscall; going
  // through a ring would only add a wait for a free ring.
  Status Fsync(int fd) override {
    if (pool_.closed()) return ClosedError(name());
    return DataSync(fd);
  }

  Status LinkedWriteFsync(int fd, std::span<const WriteOp> ops) override;

  void Close() override { pool_.Close(); }

 private:
  static std::vector<Transfer> WriteTransfers(std::span<const WriteOp> ops) {
    std::vector<Transfer> transfers;
    transfers.reserve(ops.size());
    for (const WriteOp& op : ops) {
      if (op.len > 0)
        transfers.push_back(Transfer{true, const_cast<char*>(static_cast<const char*>(op.buf)), op.len, op.offset});
    }
    return transfers;
  }

  static Status DataSync(int fd) {
    while (::fdatasync(fd) != 0) {
      if (errno != EINTR) return Status::FromErrno(errno, "fdatasync");
    }
    return Status::OK();
  }

  Status RunBatch(int fd, std::span<Transfer> transfers) {
    if (transfers.empty()) return pool_.closed() ? ClosedError(name()) : Status::OK();
    // A lone transfer has nothing to batch with, and on a buffered file the
    // kernel would hand it to an io-wq worker thread (two context switches
    // added to a synchronous call): do it here, as Fsync does.
    if (transfers.size() == 1) {
      if (pool_.closed()) return ClosedError(name());
      Transfer& t = transfers[0];
      return io_internal::TransferFully(!t.write, t.left, t.offset, [&](size_t done, off_t at) {
        return t.write ? ::pwrite(fd, t.buf + done, t.left - done, at) : ::pread(fd, t.buf + done, t.left - done, at);
      });
    }
    AMBER_ASSIGN_OR_RETURN(RingLease lease, pool_.Borrow());
    return RunTransfers(lease, fd, transfers);
  }

  // Carries every transfer to completion, up to depth_ in flight at once.
  Status RunTransfers(RingLease& lease, int fd, std::span<Transfer> transfers);
  // Submits `writes` and an fdatasync as one linked chain and reports what
  // happened; `*unfinished` is set when some write did not complete in full
  // without a real error (the caller finishes those and syncs separately).
  Status RunChain(RingLease& lease, int fd, std::span<Transfer> writes, bool* unfinished);

  const unsigned depth_;
  const std::string no_reason_;
  RingPool pool_;
};

Status UringIO::RunTransfers(RingLease& lease, int fd, std::span<Transfer> transfers) {
  io_uring* ring = lease.get();
  std::deque<Transfer*> ready;
  for (Transfer& t : transfers) {
    if (t.left > 0) ready.push_back(&t);
  }
  Status first_error;
  unsigned in_flight = 0;  // queued in the SQ or in the kernel
  while (in_flight > 0 || (first_error.ok() && !ready.empty())) {
    while (first_error.ok() && !ready.empty() && in_flight < depth_) {
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      if (sqe == nullptr) break;
      PrepTransfer(sqe, fd, ready.front(), 0);
      ready.pop_front();
      ++in_flight;
    }
    int rc = SubmitAndWait(ring, 1);
    if (rc < 0) {
      // SQEs the kernel never took must not reach it on the ring's next use,
      // so the ring is discarded, once the requests it did take are drained.
      unsigned unsubmitted = io_uring_sq_ready(ring);
      DrainBrokenRing(lease, in_flight - unsubmitted);
      return Status::FromErrno(-rc, "io_uring_submit");
    }
    ReapReady(ring, [&](io_uring_cqe* cqe) {
      auto* t = static_cast<Transfer*>(io_uring_cqe_get_data(cqe));
      --in_flight;
      if (Complete(t, cqe->res, &first_error)) ready.push_back(t);
    });
  }
  return first_error;
}

Status UringIO::RunChain(RingLease& lease, int fd, std::span<Transfer> writes, bool* unfinished) {
  io_uring* ring = lease.get();
  // The ring is empty between calls, and writes.size() < depth_ <= SQ size,
  // so every get_sqe succeeds.
  for (Transfer& t : writes) PrepTransfer(io_uring_get_sqe(ring), fd, &t, IOSQE_IO_LINK);
  io_uring_sqe* fsync_sqe = io_uring_get_sqe(ring);
  io_uring_prep_fsync(fsync_sqe, fd, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data(fsync_sqe, nullptr);

  const unsigned chain = static_cast<unsigned>(writes.size()) + 1;
  unsigned taken = 0;
  unsigned reaped = 0;
  bool split = false;
  int fsync_res = 0;
  Status first_error;
  while (reaped < chain) {
    int rc = SubmitAndWait(ring, 1);
    if (rc < 0) {
      DrainBrokenRing(lease, taken - reaped);
      return Status::FromErrno(-rc, "io_uring_submit");
    }
    // If the kernel took the chain in pieces it was cut where a piece ended,
    // and its fdatasync is no longer ordered after every write.
    if (rc > 0 && taken + static_cast<unsigned>(rc) < chain) split = true;
    taken += static_cast<unsigned>(rc);
    reaped += ReapReady(ring, [&](io_uring_cqe* cqe) {
      auto* t = static_cast<Transfer*>(io_uring_cqe_get_data(cqe));
      if (t == nullptr) {
        fsync_res = cqe->res;
      } else if (cqe->res != -ECANCELED) {  // cancelled because an earlier link failed
        // Linked requests run in order, so the first error met in time is
        // the first in chain order: the cause of every -ECANCELED after it,
        // the fdatasync's included.
        Complete(t, cqe->res, &first_error);
      }
    });
  }
  AMBER_RETURN_IF_ERROR(first_error);
  *unfinished = split || std::any_of(writes.begin(), writes.end(), [](const Transfer& t) { return t.left > 0; });
  if (*unfinished) return Status::OK();
  if (fsync_res == -ECANCELED)
    return Status::Error(EIO, "linked fdatasync was cancelled although every write succeeded");
  if (fsync_res < 0) return Status::FromErrno(-fsync_res, "fdatasync (linked)");
  return Status::OK();
}

Status UringIO::LinkedWriteFsync(int fd, std::span<const WriteOp> ops) {
  std::vector<Transfer> transfers = WriteTransfers(ops);
  if (transfers.empty()) return Fsync(fd);
  AMBER_ASSIGN_OR_RETURN(RingLease lease, pool_.Borrow());

  const size_t max_chain = depth_ - 1;
  std::span<Transfer> all(transfers);
  std::span<Transfer> chain = all;
  if (all.size() > max_chain) {
    AMBER_RETURN_IF_ERROR(RunTransfers(lease, fd, all.first(all.size() - max_chain)));
    chain = all.last(max_chain);
  }
  bool unfinished = false;
  AMBER_RETURN_IF_ERROR(RunChain(lease, fd, chain, &unfinished));
  if (!unfinished) return Status::OK();
  AMBER_RETURN_IF_ERROR(RunTransfers(lease, fd, chain));
  return DataSync(fd);
}

}  // namespace

Result<std::unique_ptr<BatchIO>> OpenUringIO(unsigned queue_depth) {
  unsigned depth = std::clamp(queue_depth, kMinQueueDepth, kMaxQueueDepth);
  AMBER_ASSIGN_OR_RETURN(std::unique_ptr<Ring> ring, Ring::Create(depth));
  AMBER_RETURN_IF_ERROR(CheckOpcodes(*ring));
  return std::unique_ptr<BatchIO>(std::make_unique<UringIO>(depth, std::move(ring)));
}

}  // namespace amberfs
