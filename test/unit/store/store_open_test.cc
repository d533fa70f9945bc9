// OpenStoreUrl's checks and PrepareSlowStore (mkfs's store check) against
// s3rver and a closed port: a missing bucket is created, a store that cannot
// be used fails with its URL named once, and a mount-style open (kProbe)
// works while the store is down.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <string>

#include "store/s3_store.h"
#include "store/store.h"
#include "support/s3_test_util.h"
#include "support/s3rver.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::ClosedPort;
using testing::S3rver;
using testing::TempDir;

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A credentials file with the given key id (s3rver knows only S3RVER).
std::string CredentialsFile(const TempDir& dir, const std::string& id) {
  std::string path = dir / ("creds-" + id);
  std::ofstream(path) << "[default]\naws_access_key_id = " << id << "\naws_secret_access_key = S3RVER\n";
  return path;
}

std::vector<uint8_t> Bytes(std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

TEST_CASE("PrepareSlowStore: a missing bucket is created, an existing one found") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  TempDir dir("store-open");
  const std::string creds = CredentialsFile(dir, S3rver::kAccessKey);
  const std::string url = "s3://fresh-bucket/vols?endpoint=" + s3->endpoint();

  auto missing = OpenStoreUrl(url, creds);
  CHECK(missing.status().code() == ENOENT);
  CHECK(missing.status().message() ==
        "s3://fresh-bucket/vols?endpoint=" + s3->endpoint() + ": bucket fresh-bucket does not exist");

  CHECK(PrepareSlowStore(url, creds).value() == "bucket fresh-bucket created");
  CHECK(PrepareSlowStore(url, creds).value() == "bucket fresh-bucket exists");
  auto store = OpenStoreUrl(url, creds);
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  CHECK((*store)->PutRef("volumes/x/config", Bytes("c")).ok());
}

TEST_CASE("PrepareSlowStore and OpenStoreUrl: unusable stores fail with the URL named once") {
  TempDir dir("store-open");
  const std::string down = "s3://bkt1?endpoint=http://127.0.0.1:" + std::to_string(ClosedPort());
  const std::string creds = CredentialsFile(dir, S3rver::kAccessKey);
  for (const Status& st : {PrepareSlowStore(down, creds).status(), OpenStoreUrl(down, creds).status(),
                           OpenStoreUrl(down, dir / "no-such-file").status()}) {
    CAPTURE(st.message());
    CHECK(!st.ok());
    CHECK(st.message().rfind(down, 0) == 0);
    CHECK(Occurrences(st.message(), down) == 1);
  }
  CHECK(PrepareSlowStore(down, creds).status().code() == EIO);
  CHECK(OpenStoreUrl(down, dir / "no-such-file").status().code() == ENOENT);

  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  const std::string url = "s3://other-bucket?endpoint=" + s3->endpoint();
  auto denied = PrepareSlowStore(url, CredentialsFile(dir, "NOSUCHKEY"));
  CHECK(denied.status().code() == EACCES);
  CHECK(Occurrences(denied.status().message(), url) == 1);
  CHECK(denied.status().message().find("check the S3 credentials") != std::string::npos);
  CHECK(denied.status().message().find("NOSUCHKEY") == std::string::npos);
}

TEST_CASE("OpenStoreUrl kProbe: a store that is down opens at once and works once it is up") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  TempDir dir("store-open");
  const std::string creds = CredentialsFile(dir, S3rver::kAccessKey);
  REQUIRE(s3->Stop().ok());
  const auto start = std::chrono::steady_clock::now();
  auto store = OpenStoreUrl(s3->Url("probe"), creds, StoreCheck::kProbe);
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(S3Store::kQuickConnectMs / 1000 + 1));
  CHECK(OpenStoreUrl(s3->Url("probe"), creds, StoreCheck::kReachable).status().code() == EIO);
  REQUIRE(s3->Start().ok());
  auto data = Bytes("after the outage");
  REQUIRE((*store)->Put(Pointer::Of(data), data).ok());
  CHECK((*store)->Get(Pointer::Of(data)).value() == data);
}

TEST_CASE("PrepareSlowStore: file:// stores") {
  TempDir dir("store-open");
  CHECK(PrepareSlowStore("file://" + dir.path()).value() == "directory exists");
  CHECK(PrepareSlowStore("file://" + (dir / "new")).value() == "directory to be created at the first mount");
  std::ofstream(dir / "plain") << "x";
  auto file = PrepareSlowStore("file://" + (dir / "plain"));
  CHECK(file.status().code() == ENOTDIR);
  CHECK(Occurrences(file.status().message(), "file://" + (dir / "plain")) == 1);
}

}  // namespace amberfs
