// Slow-store locks: see slow_store_locks.h for the protocol.
#include "store/slow_store_locks.h"

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <vector>

#include "amberfs/log.h"

namespace amberfs {
namespace {

constexpr char kUploadPrefix[] = "locks/upload/";
constexpr char kGcPrefix[] = "locks/gc/";

std::vector<uint8_t> MarkerValue(const char* kind) {
  char buf[96];
  int n = std::snprintf(buf, sizeof buf, "amberfs %s marker, unix time %" PRId64 "\n", kind,
                        static_cast<int64_t>(std::time(nullptr)));
  return std::vector<uint8_t>(buf, buf + n);
}

// The marker's time, or -1 if the value is not a marker's.
int64_t MarkerTime(const std::vector<uint8_t>& value) {
  std::string text(value.begin(), value.end());
  size_t at = text.find("unix time ");
  if (at == std::string::npos) return -1;
  long long t = -1;
  if (std::sscanf(text.c_str() + at, "unix time %lld", &t) != 1) return -1;
  return t;
}

// Markers under prefix other than our own: (ref, value) pairs.
Result<std::vector<std::pair<std::string, std::vector<uint8_t>>>> OtherMarkers(Store& slow, const std::string& prefix,
                                                                                std::string_view own_uuid) {
  AMBER_ASSIGN_OR_RETURN(std::vector<std::string> refs, slow.ListRefs(prefix));
  std::vector<std::pair<std::string, std::vector<uint8_t>>> out;
  for (const std::string& ref : refs) {
    if (ref == prefix + std::string(own_uuid)) continue;
    Result<std::vector<uint8_t>> value = slow.GetRef(ref);
    if (!value.ok() && value.status().code() == ENOENT) continue;  // released meanwhile
    if (!value.ok()) return value.status();
    out.emplace_back(ref, std::move(value).value());
  }
  return out;
}

}  // namespace

std::string UploadMarkerRef(std::string_view uuid) { return kUploadPrefix + std::string(uuid); }
std::string GcMarkerRef(std::string_view uuid) { return kGcPrefix + std::string(uuid); }

Status WriteUploadMarker(Store& slow, std::string_view uuid) {
  return slow.PutRef(UploadMarkerRef(uuid), MarkerValue("upload")).Annotate("write upload marker");
}

Status AcquireUploadMarker(Store& slow, std::string_view uuid) {
  AMBER_RETURN_IF_ERROR(WriteUploadMarker(slow, uuid));
  AMBER_ASSIGN_OR_RETURN(auto gcs, OtherMarkers(slow, kGcPrefix, uuid));
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (const auto& [ref, value] : gcs) {
    int64_t t = MarkerTime(value);
    if (t >= 0 && now - t > kGcMarkerStale.count()) {
      LOG_WARN("%s: ignoring %s, a gc marker not refreshed for %lld s (a crashed gc?)", slow.Describe().c_str(),
               ref.c_str(), static_cast<long long>(now - t));
      continue;
    }
    return Status::Error(EBUSY, "gc of another volume is sweeping " + slow.Describe() + " (" + ref +
                                    "); uploads wait until it is done");
  }
  return Status::OK();
}

Result<std::optional<int64_t>> MarkerAgeSeconds(Store& slow, const std::string& ref) {
  Result<std::vector<uint8_t>> value = slow.GetRef(ref);
  if (!value.ok() && value.status().code() == ENOENT) return std::optional<int64_t>();
  if (!value.ok()) return value.status();
  const int64_t t = MarkerTime(*value);
  if (t < 0) return Status::Error(EBADMSG, ref + " is not an amberfs marker");
  return std::optional<int64_t>(static_cast<int64_t>(std::time(nullptr)) - t);
}

Status AcquireGcMarker(Store& slow, std::string_view uuid, bool refresh_only) {
  AMBER_RETURN_IF_ERROR(slow.PutRef(GcMarkerRef(uuid), MarkerValue("gc")).Annotate("write gc marker"));
  if (refresh_only) return Status::OK();
  Status clear = RecheckUploadMarkers(slow, uuid);
  if (clear.ok()) return clear;
  Status released = slow.DeleteRef(GcMarkerRef(uuid));
  if (!released.ok()) LOG_WARN("release gc marker: %s", released.ToString().c_str());
  return clear;
}

Status RecheckUploadMarkers(Store& slow, std::string_view uuid) {
  Result<std::vector<std::pair<std::string, std::vector<uint8_t>>>> uploads = OtherMarkers(slow, kUploadPrefix, uuid);
  if (!uploads.ok()) return uploads.status().Annotate("list upload markers");
  if (uploads->empty()) return Status::OK();
  const std::string& ref = uploads->front().first;
  return Status::Error(EBUSY, "another volume has uploads in flight to " + slow.Describe() + " (" + ref +
                                  "); gc would not know which of its blobs they need: run gc once it has drained "
                                  "(if that volume is gone for good, delete " + ref + " from the slow store)");
}

}  // namespace amberfs
