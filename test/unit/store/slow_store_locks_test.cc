// Slow-store locks (slow_store_locks.h): the protocol between uploads and gc
// of volumes sharing a slow store, and PairedStore holding the upload marker.
#include "store/slow_store_locks.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "store/disk_store.h"
#include "store/paired_store.h"
#include "support/eventually.h"
#include "support/fault_store.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using namespace std::chrono_literals;
using testing::FaultStore;
using testing::OpRecorder;
using testing::Eventually;
using testing::TempDir;

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

TEST_CASE("slow-store locks: an upload marker stops another volume's gc, a gc marker stops uploads") {
  TempDir dir("locks");
  auto slow = std::move(DiskStore::Open(dir / "slow").value());
  auto refs = [&](const char* prefix) { return slow->ListRefs(prefix).value(); };

  REQUIRE(AcquireUploadMarker(*slow, "B").ok());
  CHECK(refs("locks/upload/") == std::vector<std::string>{"locks/upload/B"});
  Status gc = AcquireGcMarker(*slow, "A");
  CHECK(gc.code() == EBUSY);
  CHECK(gc.message().find("locks/upload/B") != std::string::npos);
  CHECK(refs("locks/gc/").empty());  // the loser takes its marker back
  CHECK(AcquireGcMarker(*slow, "B").ok());  // our own upload marker is no obstacle
  REQUIRE(slow->DeleteRef(GcMarkerRef("B")).ok());

  REQUIRE(slow->DeleteRef(UploadMarkerRef("B")).ok());
  REQUIRE(AcquireGcMarker(*slow, "A").ok());
  Status up = AcquireUploadMarker(*slow, "B");
  CHECK(up.code() == EBUSY);
  CHECK(up.message().find("locks/gc/A") != std::string::npos);
  CHECK(refs("locks/upload/") == std::vector<std::string>{"locks/upload/B"});  // kept: A's refresh sees it too
  CHECK(AcquireUploadMarker(*slow, "A").ok());  // our own gc marker is no obstacle

  // A gc marker not refreshed for over an hour is a crashed gc's: ignored.
  REQUIRE(slow->PutRef(GcMarkerRef("A"), Bytes("amberfs gc marker, unix time 1000\n")).ok());
  CHECK(AcquireUploadMarker(*slow, "B").ok());
}

TEST_CASE("Paired with a lock owner: the marker comes before the first upload, uploads wait out a gc") {
  TempDir dir("locks");
  auto recorder = std::make_shared<OpRecorder>();
  auto fast = std::move(DiskStore::Open(dir / "fast").value());
  auto slow_disk = std::move(DiskStore::Open(dir / "slow").value());
  DiskStore* slow_view = slow_disk.get();
  auto slow = std::make_unique<FaultStore>(std::move(slow_disk), "slow", recorder);
  // Another volume's gc is sweeping.
  REQUIRE(AcquireGcMarker(*slow_view, "other").ok());

  PairedOptions o;
  o.upload_workers = 2;
  o.retry_initial = 5ms;
  o.retry_max = 20ms;
  o.lock_owner = "me";
  o.lock_linger = 10ms;
  auto paired = std::move(PairedStore::Open(std::move(fast), std::move(slow), dir / "upload.log", o).value());
  auto data = Bytes("a blob");
  Pointer key = Pointer::Of(data);
  REQUIRE(paired->Put(key, data).ok());  // local speed, whatever the slow store's state
  CHECK(paired->Drain(200ms).code() == ETIMEDOUT);
  CHECK_FALSE(slow_view->Contains(key).value());
  CHECK(paired->Stats().last_error.find("gc of another volume") != std::string::npos);

  REQUIRE(slow_view->DeleteRef(GcMarkerRef("other")).ok());  // the gc is done
  REQUIRE(paired->Drain(10s).ok());
  CHECK(slow_view->Contains(key).value());
  // The marker was written before the blob went up, and is gone once idle.
  std::vector<std::string> ops = recorder->ops();
  auto marker = std::find(ops.begin(), ops.end(), "slow:putref locks/upload/me");
  auto blob = std::find(ops.begin(), ops.end(), "slow:put " + key.Hex());
  CHECK(marker < blob);
  CHECK(blob != ops.end());
  CHECK(Eventually([&] { return slow_view->ListRefs("locks/upload/").value().empty(); }));
}

TEST_CASE("Paired with a lock owner: an Open with nothing pending removes a marker a crash left behind") {
  TempDir dir("locks");
  auto slow = std::move(DiskStore::Open(dir / "slow").value());
  DiskStore* slow_view = slow.get();
  REQUIRE(AcquireUploadMarker(*slow_view, "me").ok());  // as a crash in the linger leaves it
  PairedOptions o;
  o.lock_owner = "me";
  o.lock_linger = 10ms;
  auto paired =
      std::move(PairedStore::Open(std::move(DiskStore::Open(dir / "fast").value()), std::move(slow), dir / "upload.log", o).value());
  CHECK(Eventually([&] { return slow_view->ListRefs("locks/upload/").value().empty(); }));
}

TEST_CASE("Paired with a lock owner: a batch holds the marker until it is destroyed") {
  TempDir dir("locks");
  auto slow = std::move(DiskStore::Open(dir / "slow").value());
  DiskStore* slow_view = slow.get();
  PairedOptions o;
  o.lock_owner = "me";
  o.lock_linger = 10ms;
  auto paired =
      std::move(PairedStore::Open(std::move(DiskStore::Open(dir / "fast").value()), std::move(slow), dir / "upload.log", o).value());
  auto marker = [&] { return slow_view->GetRef(UploadMarkerRef("me")).ok(); };
  {
    auto batch = paired->NewPutBatch();
    CHECK(Eventually(marker));  // written before anything of the batch goes up
    auto data = Bytes("a blob of a snapshot");
    REQUIRE(batch->Put(Pointer::Of(data), data).ok());
    REQUIRE(batch->Commit().ok());
    REQUIRE(paired->Drain(10s).ok());
    // Uploaded, but what refers to it (a snapshot's ref) is not queued yet:
    // the blob must not look unreachable to another volume's gc.
    std::this_thread::sleep_for(100ms);  // well past the linger
    CHECK(marker());
    CHECK(AcquireGcMarker(*slow_view, "other").code() == EBUSY);
  }
  CHECK(Eventually([&] { return !marker(); }));
  CHECK(AcquireGcMarker(*slow_view, "other").ok());
}

}  // namespace amberfs
