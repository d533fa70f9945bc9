// SpaceReserve: room kept on a full file system for the writes that free
// space (snapshot delete and gc).
//
// A file of `bytes` bytes, allocated with fallocate, holds the room. When
// the file system is full, delete and gc would otherwise fail on their own
// small writes (a marker, a ref, upload-log records) before they could free
// anything. Their caller then calls Release and retries: Release gives back
// a slice of the file (ftruncate to a smaller size), so each retry has room
// for its writes. Slices rather than the whole file: other writers of the
// file system (write-back of the volume, uploads to a local slow store) may
// take some of the freed room between the release and the retry; the next
// retry gets the next slice. Replenish makes the file whole again once there
// is room (after gc freed some); it never fails, it logs.
//
// The released room is kept for them: while the reserve is not whole, the
// writers of bulk data on the same file system (the volume's write-back, blob
// files of the fast store and of a local slow store) ask AdmitData first,
// which refuses (ENOSPC) a write that would leave less free than the reserve
// lacks, counting the admitted writes still in flight. While the reserve is
// whole, AdmitData costs an atomic load.
//
// The file is plain data no reader looks at; a crash at any point leaves a
// file of some size, which Replenish brings back to `bytes`. A Replenish that
// finds no room truncates the file back to its size before it, so no
// partial allocation past its end is kept.
//
// Errors: Open fails only on a bad path; a file system without room for the
// reserve at Open is logged and the reserve starts empty.
//
// Thread-safety: every method may be called concurrently (one mutex).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "amberfs/status.h"

namespace amberfs {

class SpaceReserve {
 public:
  // The slices Release gives back: bytes / kSlices each (the last one rounds up).
  static constexpr uint64_t kSlices = 4;

  // Keeps `bytes` bytes at `path` (created if absent, best effort).
  static Result<std::unique_ptr<SpaceReserve>> Open(std::string path, uint64_t bytes);

  // Gives back one slice; false when the reserve is empty.
  bool Release();
  // Brings the file back to its full size if the file system has the room.
  void Replenish();
  uint64_t held() const;
  const std::string& path() const { return path_; }

  // An admitted bulk write: counted in flight until destroyed.
  class Admission {
   public:
    Admission() = default;
    Admission(Admission&& o) noexcept : reserve_(std::exchange(o.reserve_, nullptr)), bytes_(o.bytes_) {}
    Admission& operator=(Admission&& o) noexcept {
      std::swap(reserve_, o.reserve_);
      std::swap(bytes_, o.bytes_);
      return *this;
    }
    ~Admission();

   private:
    friend class SpaceReserve;
    Admission(SpaceReserve* reserve, uint64_t bytes) : reserve_(reserve), bytes_(bytes) {}
    SpaceReserve* reserve_ = nullptr;
    uint64_t bytes_ = 0;
  };
  // Admits a bulk write of `bytes` (see above); ENOSPC naming `what` if it
  // would take the room kept for delete and gc. `reserve` may be null.
  static Result<Admission> AdmitData(SpaceReserve* reserve, uint64_t bytes, std::string_view what);

 private:
  SpaceReserve(std::string path, uint64_t bytes) : path_(std::move(path)), bytes_(bytes) {}
  uint64_t SizeLocked() const;
  void NoteSizeLocked(uint64_t size) { lacking_.store(size >= bytes_ ? 0 : bytes_ - size); }

  const std::string path_;
  const uint64_t bytes_;
  mutable std::mutex mu_;
  std::atomic<uint64_t> lacking_{0};    // bytes_ minus the file's size
  std::atomic<uint64_t> in_flight_{0};  // admitted bulk bytes not written yet
};

// Runs attempt() (returning Status or Result<T>) and, while it fails with
// ENOSPC and `reserve` (may be null) has a slice to give back, again.
inline int ErrnoOf(const Status& s) { return s.code(); }
template <typename T>
int ErrnoOf(const Result<T>& r) {
  return r.ok() ? 0 : r.status().code();
}
template <typename F>
auto RetryWithSpaceReserve(SpaceReserve* reserve, F attempt) -> decltype(attempt()) {
  auto result = attempt();
  while (ErrnoOf(result) == ENOSPC && reserve != nullptr && reserve->Release()) result = attempt();
  return result;
}

}  // namespace amberfs
