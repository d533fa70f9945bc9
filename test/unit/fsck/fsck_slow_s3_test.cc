// fsck --slow and restore planning against an S3 slow store (s3rver): what
// they ask the store costs at most N/100 + snapshots x 10 requests for N
// objects, because existence comes from listings (1000 keys a request) and
// only what is read for content is fetched; and a lost blob is still found.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "amberfs/fsck.h"
#include "snapshot/restore_steps.h"
#include "store/listed_blobs.h"
#include "store/store.h"
#include "support/counting_store.h"
#include "support/slow_store_damage.h"
#include "support/fsck_test_volume.h"
#include "support/s3rver.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::CountingStore;
using testing::RemoveSlowBlob;
using testing::S3rver;
using testing::TempDir;
using testing::TestVolume;

constexpr uint64_t kChunk = 65536;
constexpr uint64_t kChunks = 1024;  // 64 MiB; fanout 256 gives root + 4 leaves
constexpr int kSnapshots = 3;

std::vector<uint8_t> ChunkData(int snapshot, uint64_t chunk) { return testing::PatternChunk(snapshot + 6, chunk, kChunk); }

struct S3Volume {
  std::unique_ptr<S3rver> s3;
  std::unique_ptr<TempDir> dir;
  std::string url, credentials;
  std::vector<Pointer> last_chunks;
  std::unique_ptr<Store> store;  // the slow store, opened anew
  uint64_t objects = 0;          // N: every object in it (blobs and refs)
};

// A volume on s3rver with kSnapshots snapshots of 250, 200 and 150 new
// chunks, drained (the slow store holds everything) and closed; null (after
// a SKIP line) without s3rver.
std::unique_ptr<S3Volume> BuildOnS3OrSkip(const char* tag) {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return nullptr;
  auto owned = std::make_unique<S3Volume>();
  S3Volume& v = *owned;
  v.s3 = std::move(s3);
  v.dir = std::make_unique<TempDir>(tag);
  const TempDir& dir = *v.dir;
  v.url = v.s3->Url("fsck");
  v.credentials = dir / "credentials";
  std::ofstream(v.credentials) << "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n";
  auto vol = TestVolume::Create(dir / "vol", kChunks * kChunk, kChunk, 256, v.url, v.credentials);
  REQUIRE_MESSAGE(vol.ok(), vol.status().ToString());
  uint64_t next = 0;
  for (int s = 0; s < kSnapshots; ++s) {
    v.last_chunks.clear();
    for (int i = 0; i < 250 - 50 * s; ++i, ++next) {
      std::vector<uint8_t> data = ChunkData(s, next);
      REQUIRE((*vol)->Write((next % kChunks) * kChunk, data).ok());
      v.last_chunks.push_back(Pointer::Of(data));
    }
    REQUIRE((*vol)->Snapshot("s" + std::to_string(s)).ok());
  }
  REQUIRE((*vol)->Close().ok());
  auto store = OpenStoreUrl(v.url, v.credentials);
  REQUIRE(store.ok());
  v.store = std::move(store).value();
  REQUIRE(v.store->List([&](const Pointer&) {
    ++v.objects;
    return Status::OK();
  }).ok());
  v.objects += v.store->ListRefs("").value().size();
  return owned;
}

FsckReport RunSlowFsck(const std::string& voldir, const std::string& credentials) {
  FsckOptions o;
  o.voldir = voldir;
  o.slow = true;
  o.s3_credentials = credentials;
  auto r = RunFsck(o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("fsck --slow on S3: at most N/100 + snapshots x 10 requests, and a lost blob is found") {
  auto built = BuildOnS3OrSkip("fsck-s3");
  if (!built) return;
  S3Volume& v = *built;
  const uint64_t n = v.objects;
  const uint64_t bound = n / 100 + kSnapshots * 10;
  CHECK(n > 600);

  FsckReport clean = RunSlowFsck(*v.dir / "vol", v.credentials);
  INFO(RenderFsckText(clean, false));
  CHECK(clean.ExitCode(false) == kFsckOk);
  MESSAGE("fsck --slow: " << clean.counts.slow_requests << " requests for " << n << " objects (bound " << bound
                          << ")");
  CHECK(clean.counts.slow_requests > 0);
  CHECK(clean.counts.slow_requests <= bound);
  CHECK(clean.counts.slow_blobs_listed + 10 > n);
  // The pack checks ran within that bound: every index object and pack object.
  CHECK(clean.counts.slow_packs > 0);
  CHECK(clean.counts.slow_pack_objects == clean.counts.slow_packs);
  CHECK(clean.counts.fast_packs == clean.counts.slow_packs);

  // A chunk blob the slow store lost is still found, at the same cost.
  REQUIRE(RemoveSlowBlob(dynamic_cast<SlowPacks&>(*v.store).raw(), v.last_chunks[7], *v.dir / "repack"));
  FsckReport lost = RunSlowFsck(*v.dir / "vol", v.credentials);
  INFO(RenderFsckText(lost, false));
  CHECK(lost.ExitCode(false) == kFsckUncorrected);
  bool named = false;
  for (const FsckProblem& p : lost.problems)
    named = named || (p.cls == FsckClass::kSlowStore && p.object == v.last_chunks[7].Hex());
  CHECK(named);
  CHECK(lost.counts.slow_requests <= bound);
}

TEST_CASE("restore planning on S3: at most N/100 + snapshots x 10 requests") {
  auto built = BuildOnS3OrSkip("restore-s3");
  if (!built) return;
  S3Volume& v = *built;
  const uint64_t n = v.objects;
  CountingStore counting(v.store.get());
  auto plan = PlanRestore(&counting, "", "");
  REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
  CHECK(plan->record.name == "s" + std::to_string(kSnapshots - 1));
  MESSAGE("restore planning: " << counting.S3Requests() << " requests for " << n << " objects");
  CHECK(counting.contains == 0);
  CHECK(counting.S3Requests() <= n / 100 + kSnapshots * 10);
}

TEST_CASE("ListedBlobs: one listing answers every question") {
  TempDir dir("listed");
  auto disk = OpenStoreUrl("file://" + dir.path());
  REQUIRE(disk.ok());
  std::vector<Pointer> keys;
  for (int i = 0; i < 2500; ++i) {
    std::string s = "blob " + std::to_string(i);
    keys.push_back(Pointer::Of(s.data(), s.size()));
    REQUIRE((*disk)->Put(keys.back(), {reinterpret_cast<const uint8_t*>(s.data()), s.size()}).ok());
  }
  CountingStore counting(disk->get());
  auto listed = ListedBlobs::Load(counting);
  REQUIRE(listed.ok());
  CHECK(listed->size() == keys.size());
  for (const Pointer& k : keys) CHECK(listed->Has(k));
  CHECK(!listed->Has(Pointer::Of("absent", 6)));
  CHECK(counting.contains == 0);
  CHECK(counting.S3Requests() == 3);  // 2500 keys: three pages
}

}  // namespace amberfs
