// S3Store against a damaged or hostile server: response bodies and listings
// are bounded by what the caller expects, errors are clear and name the store
// once; and the XML parser on its own.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "store/s3_store.h"
#include "store/s3_xml.h"
#include "support/s3_test_util.h"
#include "support/s3rver.h"
#include "support/scripted_http_server.h"

namespace amberfs {
namespace {

using testing::S3Error;
using testing::S3rver;
using testing::ScriptedOptions;
using testing::ScriptedServer;

std::vector<uint8_t> Bytes(std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); }

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

bool IsList(const ScriptedServer::Seen& req) { return req.target.find("list-type=2") != std::string::npos; }

std::string ListPage(const std::vector<std::string>& keys) {
  std::string xml = "<ListBucketResult><IsTruncated>false</IsTruncated>";
  for (const std::string& k : keys) xml += "<Contents><Key>" + k + "</Key><Size>1</Size></Contents>";
  return xml + "</ListBucketResult>";
}

}  // namespace

TEST_CASE("S3Store: a GET larger than any blob fails with EBADMSG and is not read further") {
  ScriptedServer server([](const ScriptedServer::Seen& req) -> ScriptedServer::Reply {
    if (req.method == "HEAD") return {200, ""};
    // 4x the largest blob, announced in Content-Length and streamed.
    return {200, "", "", 4 * uint64_t{kMaxBlobBytes}};
  });
  S3StoreOptions o = ScriptedOptions(server, 3);
  o.request_timeout_ms = 300'000;  // reading up to the bound takes long under a sanitizer
  auto store = S3Store::Open(o);
  REQUIRE(store.ok());
  auto got = (*store)->Get(Pointer::Of(Bytes("any")));
  CHECK(got.status().code() == EBADMSG);
  const std::string& msg = got.status().message();
  CHECK(msg.find("larger than " + std::to_string(kMaxBlobBytes) + " bytes") != std::string::npos);
  CHECK(Occurrences(msg, (*store)->Describe()) == 1);
  // Not retried, and abandoned near the bound (socket buffers hold a few MiB more).
  CHECK(server.requests() == 2);
  CHECK(server.body_bytes_sent() < uint64_t{kMaxBlobBytes} + (32 << 20));
}

TEST_CASE("S3Store: an oversized listing page or ref fails; too many keys or refs fail") {
  std::vector<std::string> keys;
  uint64_t page_filler = 0;
  ScriptedServer server([&](const ScriptedServer::Seen& req) -> ScriptedServer::Reply {
    if (req.method == "HEAD") return {200, ""};
    if (IsList(req)) return {200, ListPage(keys), "", page_filler};
    return {200, "", "", kMaxRefBytes + 1};  // a ref one byte too large
  });
  S3StoreOptions o = ScriptedOptions(server, 1);
  o.list_page_size = 4;
  o.max_listed_refs = 3;
  auto store = S3Store::Open(o);
  REQUIRE(store.ok());
  auto count = [](const Pointer&) { return Status::OK(); };

  page_filler = kMaxListPageBytes;
  Status big_page = (*store)->List(count);
  CHECK(big_page.code() == EBADMSG);
  CHECK(big_page.message().find("list blobs/: the response is larger than") != std::string::npos);

  page_filler = 0;
  keys = {"volumes/a", "volumes/b", "volumes/c", "volumes/d", "volumes/e"};  // 5 > max-keys 4
  Status too_many_keys = (*store)->ListRefs("volumes/").status();
  CHECK(too_many_keys.code() == EIO);
  CHECK(too_many_keys.message().find("more than the 4 keys asked for") != std::string::npos);

  keys = {"volumes/a", "volumes/b", "volumes/c", "volumes/d"};  // 4 > max_listed_refs 3
  Status too_many_refs = (*store)->ListRefs("volumes/").status();
  CHECK(too_many_refs.code() == EFBIG);
  CHECK(too_many_refs.message().find("more than 3 refs") != std::string::npos);
  keys.pop_back();
  CHECK((*store)->ListRefs("volumes/").value().size() == 3);

  auto ref = (*store)->GetRef("volumes/a");
  CHECK(ref.status().code() == EBADMSG);
  CHECK(Occurrences(ref.status().message(), (*store)->Describe()) == 1);
}

TEST_CASE("S3Store: a huge error body keeps the status and the S3 code") {
  ScriptedServer server([](const ScriptedServer::Seen& req) -> ScriptedServer::Reply {
    if (req.method == "HEAD") return {200, ""};
    return {403, S3Error("AccessDenied", "no"), "", 16 << 20};
  });
  auto store = S3Store::Open(ScriptedOptions(server, 1));
  REQUIRE(store.ok());
  auto got = (*store)->Get(Pointer::Of(Bytes("x")));
  CHECK(got.status().code() == EACCES);
  CHECK(got.status().message().find("HTTP 403 AccessDenied: no") != std::string::npos);
}

TEST_CASE("S3Store: a bucket in another region is named with the region to use") {
  ScriptedServer server([](const ScriptedServer::Seen&) -> ScriptedServer::Reply {
    return {301, "", "x-amz-bucket-region: eu-west-1\r\n"};
  });
  S3StoreOptions o = ScriptedOptions(server, 1);
  auto store = S3Store::Open(o);
  CHECK(store.status().code() == EINVAL);
  CHECK(store.status().message().find("bucket bkt is in region eu-west-1, not us-east-1: put region=eu-west-1 in the URL") !=
        std::string::npos);
}

TEST_CASE("S3Store: RemoteRequests counts every HTTP request, retries included") {
  int fail = 0;
  ScriptedServer server([&](const ScriptedServer::Seen& req) -> ScriptedServer::Reply {
    if (req.method == "HEAD") return {200, ""};
    if (fail > 0) {
      --fail;
      return {503, S3Error("SlowDown", "later")};
    }
    return {200, "x"};
  });
  auto store = S3Store::Open(ScriptedOptions(server, 3));
  REQUIRE(store.ok());
  CHECK((*store)->RemoteRequests() == 1);
  fail = 2;
  CHECK((*store)->GetRef("volumes/r").ok());
  CHECK((*store)->RemoteRequests() == 4);
  CHECK((*store)->RemoteRequests() == static_cast<uint64_t>(server.requests()));
}

TEST_CASE("S3Store: with s3rver, a ref larger than a ref can be is refused; one at the bound is read") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  auto store = S3Store::Open(s3->Options("big"));
  REQUIRE(store.ok());
  REQUIRE(s3->RawPut("big/volumes/too-big", std::string(kMaxRefBytes + 1, 'r')).ok());
  REQUIRE(s3->RawPut("big/volumes/at-bound", std::string(kMaxRefBytes, 'r')).ok());
  auto too_big = (*store)->GetRef("volumes/too-big");
  CHECK(too_big.status().code() == EBADMSG);
  CHECK(too_big.status().message().find("ref volumes/too-big: the response is larger than") != std::string::npos);
  auto at_bound = (*store)->GetRef("volumes/at-bound");
  REQUIRE(at_bound.ok());
  CHECK(at_bound->size() == kMaxRefBytes);
}

TEST_CASE("S3 XML: listing pages and error documents") {
  auto page = ParseListObjectsV2(
      "<?xml version=\"1.0\"?><ListBucketResult><IsTruncated>true</IsTruncated>"
      "<Contents><Key>a&amp;b</Key></Contents><Contents><Key>&#x41;&#66;&lt;</Key></Contents>"
      "<NextContinuationToken>t&amp;1</NextContinuationToken></ListBucketResult>",
      10);
  REQUIRE(page.ok());
  CHECK(page->keys == std::vector<std::string>{"a&b", "AB<"});
  CHECK(page->truncated);
  CHECK(page->next_token == "t&1");
  CHECK(ParseListObjectsV2("<Error><Code>NoSuchBucket</Code></Error>", 10).status().code() == EBADMSG);
  CHECK(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", 10)
            .status()
            .code() == EBADMSG);
  CHECK(ParseListObjectsV2("<ListBucketResult><Key>a</Key><Key>b</Key></ListBucketResult>", 1).status().code() ==
        EBADMSG);
  // Unknown or malformed entities are kept as they are; an unclosed element is no element.
  CHECK(XmlUnescape("&bogus; &#-5; &#x110000; & &amp") == "&bogus; &#-5; &#x110000; & &amp");
  CHECK(ParseListObjectsV2("<ListBucketResult><Key>never closed", 10)->keys.empty());

  S3ErrorBody error = ParseS3Error(S3Error("SlowDown", "reduce &quot;rate&quot;"));
  CHECK(error.code == "SlowDown");
  CHECK(error.message == "reduce \"rate\"");
  CHECK(ParseS3Error("").code.empty());
  CHECK(ParseS3Error("<Code>NotAnError</Code>").code.empty());
}

}  // namespace amberfs
