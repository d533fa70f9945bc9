// Packs as slow-store objects (pack_objects.h) and the Store object
// primitives under them: a DiskStore slow store (real files, damage on
// purpose), S3Store against s3rver, and S3Store's ranged GET against
// scripted answers (a server that ignores Range, a range past the end).
#include "store/pack_objects.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "base/durable_file.h"
#include "store/disk_store.h"
#include "store/pack_file.h"
#include "store/s3_store.h"
#include "support/s3_test_util.h"
#include "support/s3rver.h"
#include "support/scripted_http_server.h"
#include "support/store_test_util.h"
#include "support/pack_test_util.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::S3rver;
using testing::ScriptedOptions;
using testing::ScriptedServer;
using testing::TempDir;
using testing::TestBlob;

using testing::BuildPack;
using testing::BuiltPack;

Result<std::unique_ptr<DiskStore>> OpenSlowDir(const std::string& root) {
  DiskStoreOptions options;
  options.pack_objects = true;
  return DiskStore::Open(root, options);
}

// A directory slow store and two packs built beside it, not yet stored.
struct DirRig {
  TempDir dir{"packobj"};
  std::unique_ptr<DiskStore> store;
  BuiltPack a, b;

  DirRig(int a_count, int b_count) {
    auto opened = OpenSlowDir(dir / "slow");
    REQUIRE(opened.ok());
    store = std::move(opened).value();
    a = BuildPack(dir.path(), 0, a_count);
    b = BuildPack(dir.path(), 100, b_count);
  }
  void PutBoth() {
    REQUIRE(PutPack(*store, a.sealed.name, a.bytes).ok());
    REQUIRE(PutPack(*store, b.sealed.name, b.bytes).ok());
  }
};

std::vector<Pointer> AllPacks(Store& store) {
  std::vector<Pointer> packs;
  REQUIRE(ListPacks(store, [&](const Pointer& p) {
            packs.push_back(p);
            return Status::OK();
          }).ok());
  return packs;
}

BlobLocation Where(const BuiltPack& pack, size_t i) {
  const PackEntry& e = pack.sealed.entries[i];
  return BlobLocation{pack.sealed.name, static_cast<uint32_t>(e.offset), e.length, e.flags};
}

// Every blob of pack, read by range, is its bytes.
void CheckBlobs(Store& store, const BuiltPack& pack) {
  REQUIRE(pack.sealed.entries.size() == pack.blobs.size());
  for (size_t i = 0; i < pack.blobs.size(); ++i) {
    auto got = GetPackedBlob(store, pack.sealed.entries[i].id, Where(pack, i));
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    CHECK(*got == pack.blobs[i]);
  }
}

TEST_CASE("pack objects: names, and what the primitives refuse") {
  Pointer p = Pointer::Of(TestBlob(1, 10));
  std::string hex = p.Hex();
  CHECK(PackObjectName(p) == "packs/" + hex.substr(0, 2) + "/" + hex);
  CHECK(PackIndexObjectName(p) == "index/" + hex.substr(0, 2) + "/" + hex);
  CHECK(ValidateObjectName(PackObjectName(p)).ok());
  CHECK(ValidateObjectName(PackIndexObjectName(p)).ok());
  CHECK(ObjectNamePack(PackIndexObjectName(p)) == p);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string other = hex[0] == '0' ? "11" : "00";
  for (const std::string& bad :
       {std::string("packs/") + hex, "blobs/" + hex.substr(0, 2) + "/" + hex, "packs/" + other + "/" + hex,
        "packs/" + upper.substr(0, 2) + "/" + upper, "packs/" + hex.substr(0, 2) + "/" + hex + "0",
        "packs/" + hex.substr(0, 2) + "/" + hex.substr(1), "index/" + hex.substr(0, 2) + "//" + hex.substr(1),
        std::string("volumes/x/config"), std::string("packs/../../etc/passwd"), std::string()}) {
    CAPTURE(bad);
    CHECK(ValidateObjectName(bad).code() == EINVAL);
  }
  CHECK(ValidateObjectPrefix("packs/").ok());
  CHECK(ValidateObjectPrefix("index/").ok());
  CHECK(ValidateObjectPrefix("blobs/").code() == EINVAL);
  CHECK(ValidateObjectPrefix("packs").code() == EINVAL);

  TempDir dir("packobj");
  auto store = OpenSlowDir(dir.path());
  REQUIRE(store.ok());
  std::vector<uint8_t> b = {1, 2, 3};
  const std::string bad = "packs/../../x" + std::string(60, 'a');
  CHECK((*store)->PutObject(bad, b).code() == EINVAL);
  CHECK((*store)->GetObjectRange(bad, 0, 1).status().code() == EINVAL);
  CHECK((*store)->DeleteObject(bad).code() == EINVAL);
  CHECK((*store)->ListObjects("blobs/", [](std::string_view) { return Status::OK(); }).code() == EINVAL);
  CHECK(!std::filesystem::exists(dir / "x"));

  // A store that keeps no pack objects says so: a DiskStore opened without
  // pack_objects (the fast store's loose part, at a root whose packs/ and
  // index/ are the fast store's own).
  DiskStoreOptions no_objects;
  no_objects.pack_objects = false;
  auto plain = DiskStore::Open(dir / "plain", no_objects);
  REQUIRE(plain.ok());
  Status no = (*plain)->PutObject(PackObjectName(p), b);
  CHECK(no.code() == ENOTSUP);
  CHECK(no.message() == (*plain)->Describe() + " does not store pack objects");
  CHECK((*plain)->GetObjectRange(PackObjectName(p), 0, 0).status().code() == ENOTSUP);
  CHECK((*plain)->ListObjects("packs/", [](std::string_view) { return Status::OK(); }).code() == ENOTSUP);
  CHECK((*plain)->DeleteObject(PackObjectName(p)).code() == ENOTSUP);
  CHECK(!std::filesystem::exists(dir / "plain/packs"));
}

TEST_CASE("pack objects in a directory: put, ranged reads, index, list, delete") {
  DirRig rig(7, 3);
  rig.PutBoth();
  const TempDir& dir = rig.dir;
  const BuiltPack &a = rig.a, &b = rig.b;

  // Where the layout says, byte for byte; the index object is the pack's tail.
  const std::string pack_path = dir / ("slow/" + PackObjectName(a.sealed.name));
  const std::string index_path = dir / ("slow/" + PackIndexObjectName(a.sealed.name));
  CHECK(ReadSmallFile(pack_path, kMaxPackBytes).value() == a.bytes);
  const size_t tail = PackTailSize(a.sealed.entries.size());
  CHECK(ReadSmallFile(index_path, kMaxPackBytes).value() ==
        std::vector<uint8_t>(a.bytes.end() - static_cast<ptrdiff_t>(tail), a.bytes.end()));

  CheckBlobs(*rig.store, a);
  CheckBlobs(*rig.store, b);
  uint64_t size = 0;
  auto index = GetPackIndex(*rig.store, a.sealed.name, nullptr, &size);
  REQUIRE_MESSAGE(index.ok(), index.status().ToString());
  CHECK(*index == a.sealed.entries);
  CHECK(size == a.bytes.size());
  CHECK(rig.store->GetObjectRange(PackObjectName(a.sealed.name), 0, 0).value() == a.bytes);
  // Into a caller's buffer: its memory reused while large enough, exact bytes.
  std::vector<uint8_t> into;
  into.reserve(a.bytes.size());
  const uint8_t* memory = into.data();
  for (uint64_t offset : {uint64_t{0}, uint64_t{100}, uint64_t{5}}) {
    const uint64_t length = a.bytes.size() - 200;
    REQUIRE(rig.store->GetObjectRangeInto(PackObjectName(a.sealed.name), offset, length, &into).ok());
    CHECK(into == std::vector<uint8_t>(a.bytes.begin() + offset, a.bytes.begin() + offset + length));
    CHECK(into.data() == memory);
  }

  std::vector<Pointer> both = {a.sealed.name, b.sealed.name};
  std::sort(both.begin(), both.end());
  CHECK(AllPacks(*rig.store) == both);
  std::vector<std::string> objects;
  REQUIRE(rig.store->ListObjects("packs/", [&](std::string_view n) {
                     objects.emplace_back(n);
                     return Status::OK();
                   }).ok());
  CHECK(objects == std::vector<std::string>{PackObjectName(both[0]), PackObjectName(both[1])});

  // Blobs and refs do not see the pack objects.
  auto blob = TestBlob(7, 100);
  REQUIRE(rig.store->Put(Pointer::Of(blob), blob).ok());
  REQUIRE(rig.store->PutRef("volumes/v/config", blob).ok());
  std::vector<Pointer> loose;
  REQUIRE(rig.store->List([&](const Pointer& k) {
                     loose.push_back(k);
                     return Status::OK();
                   }).ok());
  CHECK(loose == std::vector<Pointer>{Pointer::Of(blob)});
  CHECK(rig.store->ListRefs("").value() == std::vector<std::string>{"volumes/v/config"});

  // A reopened store (a shared one: its temp-file sweep) keeps them.
  rig.store.reset();
  auto reopened = OpenSlowDir(dir / "slow");
  REQUIRE(reopened.ok());
  rig.store = std::move(reopened).value();
  CheckBlobs(*rig.store, a);

  REQUIRE(DeletePack(*rig.store, a.sealed.name).ok());
  CHECK(!std::filesystem::exists(pack_path));
  CHECK(!std::filesystem::exists(index_path));
  CHECK(AllPacks(*rig.store) == std::vector<Pointer>{b.sealed.name});
  CHECK(DeletePack(*rig.store, a.sealed.name).ok());  // absent is OK
  auto gone = GetPackedBlob(*rig.store, a.sealed.entries[0].id, Where(a, 0));
  CHECK(gone.status().code() == ENOENT);
  CHECK(gone.status().message().find(PackObjectName(a.sealed.name)) != std::string::npos);
  CHECK(gone.status().message().find(rig.store->Describe()) != std::string::npos);
  CHECK(GetPackIndex(*rig.store, a.sealed.name, nullptr).status().code() == ENOENT);
  CheckBlobs(*rig.store, b);
}

TEST_CASE("pack objects in a directory: damage is EBADMSG, wrong bytes are EINVAL") {
  DirRig rig(5, 4);
  const TempDir& dir = rig.dir;
  const BuiltPack &a = rig.a, &b = rig.b;

  SUBCASE("bytes that are not the named pack are refused before anything is stored") {
    CHECK(PutPack(*rig.store, b.sealed.name, a.bytes).code() == EINVAL);
    std::vector<uint8_t> cut(a.bytes.begin(), a.bytes.end() - 1);
    Status s = PutPack(*rig.store, a.sealed.name, cut);
    CHECK(s.code() == EINVAL);
    CHECK(s.message().find(rig.store->Describe()) != std::string::npos);
    CHECK(AllPacks(*rig.store).empty());
    CHECK(!std::filesystem::exists(dir / ("slow/" + PackObjectName(a.sealed.name))));
  }
  rig.PutBoth();
  const std::string slow = dir / "slow/";

  SUBCASE("a flipped bit in a blob") {
    REQUIRE(testing::FlipByte(slow + PackObjectName(a.sealed.name), static_cast<off_t>(a.sealed.entries[2].offset + 9)));
    auto got = GetPackedBlob(*rig.store, a.sealed.entries[2].id, Where(a, 2));
    CHECK(got.status().code() == EBADMSG);
    CHECK(got.status().message().find(a.sealed.entries[2].id.Hex()) != std::string::npos);
    CHECK(got.status().message().find(a.sealed.name.Hex()) != std::string::npos);
    CHECK(GetPackedBlob(*rig.store, a.sealed.entries[1].id, Where(a, 1)).ok());
  }
  SUBCASE("a tampered index object") {
    REQUIRE(testing::FlipByte(slow + PackIndexObjectName(a.sealed.name), 3));
    CHECK(GetPackIndex(*rig.store, a.sealed.name, nullptr).status().code() == EBADMSG);
  }
  SUBCASE("a tampered trailer") {
    const std::string path = slow + PackIndexObjectName(a.sealed.name);
    REQUIRE(testing::FlipByte(path, static_cast<off_t>(std::filesystem::file_size(path) - 40)));
    CHECK(GetPackIndex(*rig.store, a.sealed.name, nullptr).status().code() == EBADMSG);
  }
  SUBCASE("another pack's index object under this name") {
    std::filesystem::copy_file(slow + PackIndexObjectName(b.sealed.name), slow + PackIndexObjectName(a.sealed.name),
                               std::filesystem::copy_options::overwrite_existing);
    auto got = GetPackIndex(*rig.store, a.sealed.name, nullptr);
    CHECK(got.status().code() == EBADMSG);
    CHECK(got.status().message().find("swapped") != std::string::npos);
  }
  SUBCASE("another pack under this name") {
    std::filesystem::copy_file(slow + PackObjectName(b.sealed.name), slow + PackObjectName(a.sealed.name),
                               std::filesystem::copy_options::overwrite_existing);
    for (size_t i = 0; i < a.blobs.size(); ++i) {
      auto got = GetPackedBlob(*rig.store, a.sealed.entries[i].id, Where(a, i));
      CHECK(got.status().code() == EBADMSG);  // wrong bytes, or past b's end
    }
  }
  SUBCASE("an index object that is no tail at all") {
    REQUIRE(rig.store->PutObject(PackIndexObjectName(a.sealed.name), std::vector<uint8_t>(10, 0)).ok());
    CHECK(GetPackIndex(*rig.store, a.sealed.name, nullptr).status().code() == EBADMSG);
  }
  SUBCASE("a short object") {
    const std::string name = PackObjectName(a.sealed.name);
    const uint64_t size = a.bytes.size();
    CHECK(rig.store->GetObjectRange(name, size - 10, 10).ok());
    CHECK(rig.store->GetObjectRange(name, size - 10, 11).status().code() == EBADMSG);
    CHECK(rig.store->GetObjectRange(name, size + 5, 1).status().code() == EBADMSG);
    std::filesystem::resize_file(slow + name, a.sealed.entries.back().offset);
    auto got = GetPackedBlob(*rig.store, a.sealed.entries.back().id, Where(a, a.blobs.size() - 1));
    CHECK(got.status().code() == EBADMSG);
    CHECK(rig.store->GetObjectRange(name, 0, kMaxPackBytes + 1).status().code() == EINVAL);
  }
}

// The S3 half: the same layout in a bucket, one ranged GET a blob.
TEST_CASE("pack objects in S3 (s3rver): put, ranged reads, list, delete") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  auto store = S3Store::Open(s3->Options("packs-test"));
  REQUIRE(store.ok());
  TempDir dir("packobj");
  BuiltPack a = BuildPack(dir.path(), 0, 6);
  BuiltPack b = BuildPack(dir.path(), 20, 2);
  REQUIRE(PutPack(**store, a.sealed.name, a.bytes).ok());
  REQUIRE(PutPack(**store, b.sealed.name, b.bytes).ok());

  const uint64_t before = (*store)->RemoteRequests();
  CheckBlobs(**store, a);
  CHECK((*store)->RemoteRequests() - before == a.blobs.size());  // one GET a blob
  CheckBlobs(**store, b);
  CHECK(GetPackIndex(**store, a.sealed.name, nullptr).value() == a.sealed.entries);
  CHECK((*store)->GetObjectRange(PackObjectName(a.sealed.name), 0, 0).value() == a.bytes);
  std::vector<Pointer> both = {a.sealed.name, b.sealed.name};
  std::sort(both.begin(), both.end());
  CHECK(AllPacks(**store) == both);
  // Blobs and refs do not see them.
  CHECK((*store)->ListRefs("").value().empty());
  int blobs = 0;
  REQUIRE((*store)->List([&](const Pointer&) {
                     ++blobs;
                     return Status::OK();
                   }).ok());
  CHECK(blobs == 0);

  const std::string name = PackObjectName(a.sealed.name);
  CHECK((*store)->GetObjectRange(name, a.bytes.size() - 4, 8).status().code() == EBADMSG);
  CHECK((*store)->GetObjectRange(name, a.bytes.size() + 4, 8).status().code() == EBADMSG);
  CHECK((*store)->GetObjectRange("packs/zz", 0, 1).status().code() == EINVAL);

  REQUIRE(DeletePack(**store, a.sealed.name).ok());
  CHECK(AllPacks(**store) == std::vector<Pointer>{b.sealed.name});
  auto gone = GetPackedBlob(**store, a.sealed.entries[0].id, Where(a, 0));
  CHECK(gone.status().code() == ENOENT);
  CHECK(gone.status().message().find(name) != std::string::npos);
  CHECK(gone.status().message().find((*store)->Describe()) != std::string::npos);
  REQUIRE(DeletePack(**store, b.sealed.name).ok());
  CHECK(AllPacks(**store).empty());
}

TEST_CASE("S3Store GetObjectRange: a Range header; a 200 with the whole object; 416") {
  const std::vector<uint8_t> object = TestBlob(3, 100'000);
  const std::string whole(object.begin(), object.end());
  std::string range_seen;
  int status = 200;
  ScriptedServer server([&](const ScriptedServer::Seen& req) -> ScriptedServer::Reply {
    if (req.method == "HEAD") return {200, ""};
    size_t at = req.head.find("Range: bytes=");
    range_seen = at == std::string::npos ? "" : req.head.substr(at + 13, req.head.find('\r', at) - at - 13);
    if (status == 416) return {416, testing::S3Error("InvalidRange", "The requested range is not satisfiable")};
    return {200, whole};  // a server that ignores Range
  });
  auto store = S3Store::Open(ScriptedOptions(server, 1));
  REQUIRE(store.ok());
  const std::string name = PackObjectName(Pointer::Of(object));

  auto got = (*store)->GetObjectRange(name, 1000, 5000);
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CHECK(range_seen == "1000-5999");
  CHECK(*got == std::vector<uint8_t>(object.begin() + 1000, object.begin() + 6000));
  got = (*store)->GetObjectRange(name, 99'000, 1000);  // the range ends with the object
  REQUIRE(got.ok());
  CHECK(*got == std::vector<uint8_t>(object.end() - 1000, object.end()));
  CHECK((*store)->GetObjectRange(name, 99'500, 1000).status().code() == EBADMSG);
  got = (*store)->GetObjectRange(name, 0, 0);
  CHECK(range_seen.empty());
  CHECK(got.value() == object);
  status = 416;
  auto past = (*store)->GetObjectRange(name, 200'000, 10);
  CHECK(past.status().code() == EBADMSG);
  CHECK(past.status().message().find((*store)->Describe()) == 0);
}

// A restore's threads read range after range into one vector each: the
// response body must land in that vector's memory (no fresh pages a range),
// on a retried request too, and the bytes must be the range's.
TEST_CASE("S3Store GetObjectRangeInto: the body lands in the caller's memory, range after range and on a retry") {
  const std::vector<uint8_t> object = TestBlob(4, 300'000);
  int failures_left = 0;
  ScriptedServer server([&](const ScriptedServer::Seen& req) -> ScriptedServer::Reply {
    if (req.method == "HEAD") return {200, ""};
    if (failures_left > 0) {
      --failures_left;
      return {503, testing::S3Error("SlowDown", "Please reduce your request rate.")};
    }
    size_t at = req.head.find("Range: bytes=");
    REQUIRE(at != std::string::npos);
    const uint64_t first = std::stoull(req.head.substr(at + 13));
    const uint64_t last = std::stoull(req.head.substr(req.head.find('-', at) + 1));
    return {206, std::string(object.begin() + first, object.begin() + last + 1)};
  });
  auto store = S3Store::Open(ScriptedOptions(server, 3));
  REQUIRE(store.ok());
  const std::string name = PackObjectName(Pointer::Of(object));
  std::vector<uint8_t> buffer;
  buffer.reserve(200'000);
  const uint8_t* memory = buffer.data();
  for (auto [offset, length] : {std::pair<uint64_t, uint64_t>{0, 200'000}, {100'000, 150'000}, {7, 1}}) {
    CAPTURE(offset);
    failures_left = offset == 100'000 ? 2 : 0;
    REQUIRE((*store)->GetObjectRangeInto(name, offset, length, &buffer).ok());
    CHECK(buffer == std::vector<uint8_t>(object.begin() + offset, object.begin() + offset + length));
    CHECK(buffer.data() == memory);
  }
  CHECK(server.requests() == 1 + 3 + 2);  // the bucket check, three ranges, two failed tries
}

}  // namespace
}  // namespace amberfs
