// Slow-store locks: uploads and gc of volumes sharing one slow store.
//
// gc must never delete a blob that another volume has uploaded for a
// snapshot whose ref is not published yet: from the slow store alone such a
// blob looks unreachable. So each side announces itself with a ref before it
// acts, and looks for the other side after:
//
//   locks/upload/<uuid>  held by a volume while it has uploads pending
//   locks/gc/<uuid>      held by a volume while its gc sweeps the slow store
//
//   uploader  writes locks/upload/<uuid>, then lists locks/gc/: if another
//             volume's live gc marker is there it uploads nothing (EBUSY; it
//             keeps its marker and retries later); else it uploads, and
//             deletes its marker once nothing is pending.
//   gc        writes locks/gc/<uuid>, then lists locks/upload/: if another
//             volume's marker is there it deletes its own and fails (EBUSY,
//             naming that volume); else it marks what every ref reaches,
//             then lists locks/upload/ again (RecheckUploadMarkers) and
//             fails the same way if one appeared; else it sweeps, and
//             deletes its marker at the end.
//   ref delete  a volume with uploads pending writes its upload marker
//             before it deletes a ref from the slow store (and keeps it
//             until nothing is pending).
// Both sides write before they read (Dekker's protocol), so on a store where
// a ref once written is listed by every later ListRefs (S3 since 2020, a
// local or NFS directory) at least one of two racing sides sees the other and
// backs off. Why that is enough: a blob gc sweeps was reached by no ref gc
// listed. A snapshot another volume has not published yet reaches blobs it
// uploads in this busy period (its marker is up, or it saw our gc marker and
// waits: it publishes nothing while we sweep) or blobs an older snapshot
// reaches (unchanged parts of the tree). That older snapshot's ref was there
// when gc listed, or was deleted before: then with uploads pending, so the
// marker was written first, and the second listing sees it. So no blob is
// swept while another volume may still need it.
//
// A marker's value is "amberfs <kind> marker, unix time <seconds>\n". A gc
// marker not refreshed for kGcMarkerStale (gc refreshes it as it goes) is
// taken for the remains of a crashed gc: uploads ignore it, with a warning.
// An upload marker is never ignored: a volume that is gone for good leaves
// one behind, and gc says which ref to delete.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "amberfs/status.h"
#include "store/store.h"

namespace amberfs {

inline constexpr std::chrono::seconds kGcMarkerStale{3600};
inline constexpr std::chrono::seconds kGcMarkerRefresh{600};

std::string UploadMarkerRef(std::string_view uuid);
std::string GcMarkerRef(std::string_view uuid);

// Uploader side: writes our upload marker, then fails with EBUSY if another
// volume's live gc marker is present.
Status AcquireUploadMarker(Store& slow, std::string_view uuid);

// How long ago the marker at `ref` (UploadMarkerRef or GcMarkerRef) was
// written, in seconds; nullopt when there is none. EBADMSG for a value that is
// not a marker's. (Restoring with a volume's identity asks this.)
Result<std::optional<int64_t>> MarkerAgeSeconds(Store& slow, const std::string& ref);

// Writes our upload marker (no check): before a ref delete, see above.
Status WriteUploadMarker(Store& slow, std::string_view uuid);

// gc side: writes (or refreshes) our gc marker, then, unless refresh_only,
// fails with EBUSY (after deleting our marker) if another volume's upload
// marker is present.
Status AcquireGcMarker(Store& slow, std::string_view uuid, bool refresh_only = false);
// gc side, after marking and before sweeping: EBUSY (our gc marker left to
// the caller) if another volume's upload marker is present now.
Status RecheckUploadMarkers(Store& slow, std::string_view uuid);

}  // namespace amberfs
