// Restore downloads: see restore_downloads.h.
#include "snapshot/restore_downloads.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <unordered_map>

#include "amberfs/log.h"
#include "base/run_on_threads.h"

#include "store/pack_objects.h"
#include "store/slow_packs.h"

namespace amberfs {

Result<std::vector<Download>> PlanDownloads(Store* store, const std::vector<std::pair<uint64_t, Pointer>>& chunks) {
  // Each blob once, with every chunk position it fills.
  std::unordered_map<Pointer, size_t> slot;
  std::vector<WantedBlob> wanted;
  for (const auto& [chunk, id] : chunks) {
    auto [it, added] = slot.try_emplace(id, wanted.size());
    if (added) wanted.push_back(WantedBlob{id, {}, {}});
    wanted[it->second].chunks.push_back(chunk);
  }
  auto* packs = dynamic_cast<SlowPacks*>(store);
  std::map<Pointer, std::vector<WantedBlob>> by_pack;
  std::vector<Download> downloads;
  for (WantedBlob& w : wanted) {
    Result<bool> packed = packs != nullptr ? packs->Locate(w.id, &w.where) : Result<bool>(false);
    if (!packed.ok()) return packed.status().Annotate("find the packs of the snapshot's chunks");
    if (*packed) {
      by_pack[w.where.pack].push_back(std::move(w));
    } else {
      Download single;
      single.blobs.push_back(std::move(w));
      downloads.push_back(std::move(single));
    }
  }
  // A range's blobs are handed on in the order of the chunks they fill, not
  // of their offsets: a pack holds a stretch of the volume's chunks, but in
  // the order the snapshot's hashing threads finished them (interleaved runs
  // of 8), and the image writer writes adjacent chunks as one request.
  auto add = [&downloads](Download d) {
    std::sort(d.blobs.begin(), d.blobs.end(),
              [](const WantedBlob& a, const WantedBlob& b) { return a.chunks.front() < b.chunks.front(); });
    downloads.push_back(std::move(d));
  };
  for (auto& [pack, blobs] : by_pack) {
    std::sort(blobs.begin(), blobs.end(),
              [](const WantedBlob& a, const WantedBlob& b) { return a.where.offset < b.where.offset; });
    Download d;
    for (WantedBlob& w : blobs) {
      const uint64_t begin = w.where.offset, end = begin + w.where.length;
      if (!d.blobs.empty() && (begin > d.offset + d.length + kMaxDownloadGap || end - d.offset > kMaxDownloadBytes)) {
        add(std::move(d));
        d = Download();
      }
      if (d.blobs.empty()) {
        d.pack = pack;
        d.offset = begin;
      }
      d.length = std::max(d.length, end - d.offset);
      d.blobs.push_back(std::move(w));
    }
    if (!d.blobs.empty()) add(std::move(d));
  }
  return downloads;
}

namespace {

// d's i-th blob, where it lies in the pack range d fetched, checked against
// its SHA-256 (never trust a store to have checked). A view, not a copy: the
// copy was a memcpy of every byte restored.
Result<std::span<const uint8_t>> CheckedBlob(Store* store, const Download& d, size_t i,
                                             std::span<const uint8_t> range) {
  const WantedBlob& w = d.blobs[i];
  std::span<const uint8_t> blob = range.subspan(w.where.offset - d.offset, w.where.length);
  if (Pointer::Of(blob) != w.id)
    return Status::Error(EBADMSG, "blob " + w.id.Hex() + " in pack " + d.pack.Hex() + " of " + store->Describe() +
                                      " is corrupt (SHA-256 mismatch)");
  return blob;
}

// d's range of its pack object, into *range (its memory reused).
Status FetchRange(Store* store, const Download& d, std::vector<uint8_t>* range) {
  return store->GetObjectRangeInto(PackObjectName(d.pack), d.offset, d.length, range);
}

// d's blobs from `from` on, each by itself (store->Get, which verifies:
// another copy, a loose one, where a pack's range failed).
Status RunSingly(Store* store, const Download& d, size_t from, const BlobSink& got) {
  for (size_t i = from; i < d.blobs.size(); ++i) {
    const WantedBlob& w = d.blobs[i];
    Result<std::vector<uint8_t>> data = store->Get(w.id);
    if (!data.ok()) return data.status().Annotate("blob " + w.id.Hex());
    AMBER_RETURN_IF_ERROR(got(w, *data));
  }
  return Status::OK();
}

// The buffers ranges are fetched into, one per thread at most, each reused
// download after download: a fresh 16 MiB buffer a range was 4096 page
// faults, and on a VM that hands free memory back to its host a fresh GiB
// cost 0.7-1.1 s of CPU. Freed with the pool, when FetchAll returns.
class RangeBuffers {
 public:
  std::vector<uint8_t> Take() {
    std::lock_guard lk(mu_);
    if (free_.empty()) return {};
    std::vector<uint8_t> b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void GiveBack(std::vector<uint8_t> b) {
    std::lock_guard lk(mu_);
    free_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<uint8_t>> free_;
};

// One range, into *range, each blob checked and handed on, in place, before
// the next is checked: it is still in the cache when the sink decrypts and
// writes it, and a range needs no memory besides its own (12 threads once
// held 2 x 32 MiB each). A blob that fails its check sends it and the rest of
// the range to RunSingly (those before it were good and were handed on, once).
Status RunDownload(Store* store, const Download& d, std::vector<uint8_t>* range, const BlobSink& got) {
  if (d.pack.IsNull()) return RunSingly(store, d, 0, got);
  if (Status st = FetchRange(store, d, range); !st.ok()) {
    LOG_WARN("%s; fetching its %zu blobs one by one", st.ToString().c_str(), d.blobs.size());
    return RunSingly(store, d, 0, got);
  }
  for (size_t i = 0; i < d.blobs.size(); ++i) {
    Result<std::span<const uint8_t>> blob = CheckedBlob(store, d, i, *range);
    if (!blob.ok()) {
      LOG_WARN("%s; fetching it and the %zu after it one by one", blob.status().ToString().c_str(),
               d.blobs.size() - i - 1);
      return RunSingly(store, d, i, got);
    }
    AMBER_RETURN_IF_ERROR(got(d.blobs[i], *blob));
  }
  return Status::OK();
}

}  // namespace

Result<std::vector<std::vector<uint8_t>>> FetchDownload(Store* store, const Download& d) {
  std::vector<std::vector<uint8_t>> out;
  if (d.pack.IsNull()) {
    AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, store->Get(d.blobs.front().id));
    out.push_back(std::move(bytes));
    return out;
  }
  std::vector<uint8_t> range;
  AMBER_RETURN_IF_ERROR(FetchRange(store, d, &range));
  for (size_t i = 0; i < d.blobs.size(); ++i) {
    AMBER_ASSIGN_OR_RETURN(std::span<const uint8_t> blob, CheckedBlob(store, d, i, range));
    out.emplace_back(blob.begin(), blob.end());
  }
  return out;
}

Status FetchAll(Store* store, const std::vector<Download>& downloads, int threads, const BlobSink& got) {
  std::atomic<bool> failed{false};
  std::mutex mu;  // guards failure
  Status failure;
  RangeBuffers buffers;
  RunOnThreads(downloads.size(), static_cast<size_t>(std::max(1, threads)), [&](size_t i) {
    if (failed.load()) return;  // the first error stops the rest
    std::vector<uint8_t> range = buffers.Take();
    Status st = RunDownload(store, downloads[i], &range, got);
    buffers.GiveBack(std::move(range));
    if (st.ok()) return;
    std::lock_guard lk(mu);
    if (failure.ok()) failure = st;
    failed = true;
  });
  return failure;
}

BlobSink Decoded(const VolumeCodec& codec, BlobRole role, BlobSink got) {
  if (codec.off()) return got;
  return [codec, role, got = std::move(got)](const WantedBlob& blob, std::span<const uint8_t> bytes) -> Status {
    // One buffer a thread, reused blob after blob: no allocation, zero fill
    // or fresh pages a chunk (with 12 threads, glibc hands freed arena
    // memory back and the next blob faults it in again).
    thread_local std::vector<uint8_t> plain;
    Status st = codec.DecodeInto(role, bytes, &plain);
    if (!st.ok()) return st.Annotate("blob " + blob.id.Hex());
    return got(blob, plain);
  };
}

}  // namespace amberfs
