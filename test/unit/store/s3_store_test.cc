// S3Store beyond the shared contract: bucket checks, credentials, retries,
// error mapping, secrecy, and listings longer than one page.
#include "store/s3_store.h"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/store_url.h"
#include "support/s3rver.h"
#include "support/s3_test_util.h"
#include "support/scripted_http_server.h"
#include "support/temp_dir.h"

namespace amberfs {
namespace {

using testing::S3rver;
using testing::ClosedPort;
using testing::S3Error;
using testing::ScriptedOptions;
using testing::ScriptedServer;
using testing::TempDir;

std::vector<uint8_t> Bytes(std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// Sets (or unsets, with nullptr) environment variables for one scope.
class EnvGuard {
 public:
  void Set(const char* name, const char* value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~EnvGuard() {
    for (auto& [name, value] : saved_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

// ---- an independent SigV4 check of what curl sent --------------------------

std::string HexOf(const unsigned char* p, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Sha256Hex(std::string_view data) { return Pointer::Of(data.data(), data.size()).Hex(); }

// The value of a request header (name matched case-insensitively), trimmed.
std::string HeaderValue(const std::string& head, std::string name) {
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    size_t start = pos + 2, end = head.find("\r\n", start);
    std::string line = head.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t colon = line.find(':');
    std::string key = line.substr(0, colon);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (colon != std::string::npos && key == name) {
      size_t b = line.find_first_not_of(' ', colon + 1);
      return b == std::string::npos ? "" : line.substr(b);
    }
    pos = end;
  }
  return "";
}

// Recomputes the SigV4 signature of a received request the way S3 does;
// returns "" when it matches, else what differs.
std::string CheckSigV4(const ScriptedServer::Seen& req, const std::string& secret, const std::string& region) {
  std::string auth = HeaderValue(req.head, "Authorization");
  auto field = [&](const std::string& name) {
    size_t at = auth.find(name + "=");
    if (at == std::string::npos) return std::string();
    at += name.size() + 1;
    return auth.substr(at, auth.find(',', at) - at);
  };
  std::string credential = field("Credential"), signed_headers = field("SignedHeaders"), signature = field("Signature");
  if (auth.rfind("AWS4-HMAC-SHA256 ", 0) != 0 || credential.empty() || signature.empty()) return "no SigV4: " + auth;
  std::string scope = credential.substr(credential.find('/') + 1);
  std::string date = scope.substr(0, scope.find('/'));
  if (scope != date + "/" + region + "/s3/aws4_request") return "scope " + scope;
  std::string payload = HeaderValue(req.head, "x-amz-content-sha256");
  if (payload != Sha256Hex(req.body)) return "x-amz-content-sha256 " + payload + " is not the body's hash";

  std::string path = req.target.substr(0, req.target.find('?'));
  std::string query = req.target.size() > path.size() ? req.target.substr(path.size() + 1) : "";
  std::vector<std::string> params;
  for (size_t b = 0; !query.empty() && b <= query.size();) {
    size_t e = query.find('&', b);
    params.push_back(query.substr(b, e == std::string::npos ? std::string::npos : e - b));
    b = e == std::string::npos ? query.size() + 1 : e + 1;
  }
  std::sort(params.begin(), params.end());
  std::string canonical_query;
  for (const auto& p : params) canonical_query += (canonical_query.empty() ? "" : "&") + p;
  std::string canonical_headers;
  for (size_t b = 0; b <= signed_headers.size();) {
    size_t e = signed_headers.find(';', b);
    std::string name = signed_headers.substr(b, e == std::string::npos ? std::string::npos : e - b);
    canonical_headers += name + ":" + HeaderValue(req.head, name) + "\n";
    b = e == std::string::npos ? signed_headers.size() + 1 : e + 1;
  }
  std::string canonical = req.method + "\n" + path + "\n" + canonical_query + "\n" + canonical_headers + "\n" +
                          signed_headers + "\n" + payload;
  std::string to_sign = "AWS4-HMAC-SHA256\n" + HeaderValue(req.head, "x-amz-date") + "\n" + scope + "\n" +
                        Sha256Hex(canonical);
  std::string key = HmacSha256("AWS4" + secret, date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, "s3");
  key = HmacSha256(key, "aws4_request");
  std::string expected = HmacSha256(key, to_sign);
  std::string expected_hex = HexOf(reinterpret_cast<const unsigned char*>(expected.data()), expected.size());
  if (expected_hex != signature) return "signature mismatch; canonical request:\n" + canonical;
  return "";
}

}  // namespace

TEST_CASE("S3Store: a missing bucket is a clear ENOENT, kCreate makes it") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  S3StoreOptions o = s3->Options();
  o.bucket = "no-such-bucket";
  auto missing = S3Store::Open(o);
  CHECK(missing.status().code() == ENOENT);
  CHECK(missing.status().message() ==
        "s3://no-such-bucket?endpoint=" + s3->endpoint() + "&region=us-east-1: bucket no-such-bucket does not exist");

  o.bucket_at_open = S3StoreOptions::BucketAtOpen::kCreate;
  auto created = S3Store::Open(o);
  REQUIRE_MESSAGE(created.ok(), created.status().ToString());
  CHECK((*created)->CreateBucket().ok());  // already ours: fine
  o.bucket_at_open = S3StoreOptions::BucketAtOpen::kMustExist;
  CHECK(S3Store::Open(o).ok());
}

TEST_CASE("S3Store: bad credentials are EACCES and never shown") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  S3StoreOptions o = s3->Options();
  o.credentials = {"NOTAKEYID42", "hunter2-very-secret", ""};
  auto opened = S3Store::Open(o);
  CHECK(opened.status().code() == EACCES);
  CHECK(opened.status().message().find("hunter2-very-secret") == std::string::npos);
  CHECK(opened.status().message().find("NOTAKEYID42") == std::string::npos);

  // Missing credentials are refused before any request.
  o.credentials = {};
  CHECK(S3Store::Open(o).status().code() == EACCES);
}

TEST_CASE("S3Store: Describe never holds credentials") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  S3StoreOptions o = s3->Options("p");
  auto store = S3Store::Open(o);
  REQUIRE(store.ok());
  CHECK((*store)->Describe() == "s3://amberfs-test/p?endpoint=" + s3->endpoint() + "&region=us-east-1");
  CHECK((*store)->Describe().find("S3RVER") == std::string::npos);
}

TEST_CASE("S3Store: endpoint down means bounded retries, a clear error, then recovery") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  auto store = S3Store::Open(s3->Options("down"));
  REQUIRE(store.ok());
  auto data = Bytes("survives an outage");
  Pointer key = Pointer::Of(data);

  REQUIRE(s3->Stop().ok());
  Status put = (*store)->Put(key, data);
  CHECK(put.code() == EIO);
  CHECK(put.message().find("after 3 attempts") != std::string::npos);
  // The message names the store once, first.
  CHECK(put.message().rfind((*store)->Describe() + ": put blob ", 0) == 0);
  CHECK(put.message().find((*store)->Describe(), 1) == std::string::npos);
  CHECK((*store)->Get(key).status().code() == EIO);
  CHECK((*store)->Contains(key).status().code() == EIO);

  REQUIRE(s3->Start().ok());  // same port, same data; pooled connections are stale
  REQUIRE((*store)->Put(key, data).ok());
  CHECK((*store)->Get(key).value() == data);
}

TEST_CASE("S3Store: an endpoint that never answers fails Open after max_attempts") {
  S3StoreOptions o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(ClosedPort());
  o.bucket = "bkt";
  o.credentials = {"id", "secret-value", ""};
  o.max_attempts = 2;
  o.retry_base_delay_ms = 5;
  o.connect_timeout_ms = 1000;
  auto opened = S3Store::Open(o);
  CHECK(opened.status().code() == EIO);
  CHECK(opened.status().message().find("after 2 attempts") != std::string::npos);
  CHECK(opened.status().message().find("secret-value") == std::string::npos);
}

TEST_CASE("S3Store: 5xx, 429 and SlowDown are retried; other errors are not") {
  auto data = Bytes("retried blob");
  Pointer key = Pointer::Of(data);
  std::mutex mu;
  int failures_left = 0;
  ScriptedServer::Reply failure;
  ScriptedServer server([&](const ScriptedServer::Seen& req) -> ScriptedServer::Reply {
    std::lock_guard<std::mutex> lock(mu);
    if (req.method == "HEAD") return {200, ""};  // the bucket check at Open
    if (failures_left > 0) {
      --failures_left;
      return failure;
    }
    return {200, std::string(data.begin(), data.end())};
  });

  auto store = S3Store::Open(ScriptedOptions(server, 3));
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  const ScriptedServer::Reply retriable[] = {{503, S3Error("SlowDown", "Please reduce your request rate.")},
                                             {500, S3Error("InternalError", "oops")},
                                             {429, ""},
                                             {400, S3Error("RequestTimeout", "idle too long")}};
  for (const auto& reply : retriable) {
    CAPTURE(reply.status);
    {
      std::lock_guard<std::mutex> lock(mu);
      failure = reply;
      failures_left = 2;  // two failures, then success on the third try
    }
    int before = server.requests();
    auto got = (*store)->Get(key);
    REQUIRE_MESSAGE(got.ok(), got.status().ToString());
    CHECK(*got == data);
    CHECK(server.requests() - before == 3);
    {
      std::lock_guard<std::mutex> lock(mu);
      failures_left = 3;  // one more than the store tries
    }
    before = server.requests();
    auto failed = (*store)->Get(key);
    CHECK(failed.status().code() == EIO);
    CHECK(failed.status().message().find("HTTP " + std::to_string(reply.status)) != std::string::npos);
    CHECK(server.requests() - before == 3);
    std::lock_guard<std::mutex> lock(mu);
    failures_left = 0;
  }

  // Not retried, and the S3 code and (unescaped) message reach the Status.
  {
    std::lock_guard<std::mutex> lock(mu);
    failure = {400, S3Error("InvalidArgument", "a &lt;bad&gt; &amp; &quot;odd&quot; thing&#33;")};
    failures_left = 1;
  }
  int before = server.requests();
  auto invalid = (*store)->Get(key);
  CHECK(invalid.status().code() == EIO);
  CHECK(invalid.status().message().find("HTTP 400 InvalidArgument: a <bad> & \"odd\" thing!") != std::string::npos);
  CHECK(server.requests() - before == 1);

  {
    std::lock_guard<std::mutex> lock(mu);
    failure = {403, S3Error("AccessDenied", "Access Denied")};
    failures_left = 1;
  }
  CHECK((*store)->Get(key).status().code() == EACCES);
  {
    std::lock_guard<std::mutex> lock(mu);
    failure = {404, S3Error("NoSuchKey", "gone")};
    failures_left = 1;
  }
  CHECK((*store)->Get(key).status().code() == ENOENT);
  // A 200 whose bytes do not hash to the key is corruption, not success.
  CHECK((*store)->Get(Pointer::Of(Bytes("other"))).status().code() == EBADMSG);
}

TEST_CASE("S3Store: listings span many pages of 1000") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  auto opened = S3Store::Open(s3->Options("many"));
  REQUIRE(opened.ok());
  S3Store& store = **opened;
  constexpr int kBlobs = 1003, kThreads = 16;
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < kBlobs; i = next++) {
        std::string s = "blob " + std::to_string(i);
        if (!store.Put(Pointer::Of(s.data(), s.size()), Bytes(s)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures.load() == 0);
  REQUIRE(store.PutRef("volumes/v/config", Bytes("c")).ok());

  std::set<Pointer> listed;
  REQUIRE(store.List([&](const Pointer& p) {
    listed.insert(p);
    return Status::OK();
  }).ok());
  CHECK(listed.size() == kBlobs);
  for (int i = 0; i < kBlobs; i += 97) {
    std::string s = "blob " + std::to_string(i);
    CHECK(listed.count(Pointer::Of(s.data(), s.size())) == 1);
  }
  // ListRefs("") walks the blobs' pages too, and must skip them all.
  CHECK(store.ListRefs("").value() == std::vector<std::string>{"volumes/v/config"});
}

TEST_CASE("S3Store: List skips stray objects under blobs/") {
  auto s3 = S3rver::StartOrSkip();
  if (!s3) return;
  auto opened = S3Store::Open(s3->Options("stray"));
  REQUIRE(opened.ok());
  auto data = Bytes("real");
  Pointer key = Pointer::Of(data);
  REQUIRE((*opened)->Put(key, data).ok());
  std::string hex = key.Hex();
  std::string wrong_dir = hex[0] == 'a' ? "bb" : "aa";
  REQUIRE(s3->RawPut("stray/blobs/zz/not-a-pointer", "x").ok());
  REQUIRE(s3->RawPut("stray/blobs/" + wrong_dir + "/" + hex, "x").ok());
  REQUIRE(s3->RawPut("stray/blobs/" + hex.substr(0, 2) + "/" + hex + ".tmp", "x").ok());
  std::vector<Pointer> listed;
  REQUIRE((*opened)->List([&](const Pointer& p) {
    listed.push_back(p);
    return Status::OK();
  }).ok());
  CHECK(listed == std::vector<Pointer>{key});
}

TEST_CASE("S3 credentials: file parsing") {
  auto c = ParseS3CredentialsFile(
      "# comment\n[other]\naws_access_key_id = OTHER\naws_secret_access_key = nope\n\n"
      "[default]\n  aws_access_key_id=AKID \r\n; another comment\naws_secret_access_key = se/cr+et=\n"
      "aws_session_token = tok\nregion = eu-west-1\n",
      "default", "f");
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  CHECK(c->access_key_id == "AKID");
  CHECK(c->secret_access_key == "se/cr+et=");
  CHECK(c->session_token == "tok");
  auto other = ParseS3CredentialsFile("[profile other]\naws_access_key_id=O\naws_secret_access_key=S\n", "other", "f");
  REQUIRE(other.ok());
  CHECK(other->access_key_id == "O");

  CHECK(ParseS3CredentialsFile("[default]\naws_access_key_id = A\n", "default", "f").status().code() == EINVAL);
  CHECK(ParseS3CredentialsFile("[x]\naws_access_key_id=A\naws_secret_access_key=S\n", "default", "f").status().code() ==
        EINVAL);
  auto malformed = ParseS3CredentialsFile("[default]\naws_secret_access_key S3CRET\n", "default", "creds.ini");
  CHECK(malformed.status().code() == EINVAL);
  CHECK(malformed.status().message().find("creds.ini:2") != std::string::npos);
  CHECK(malformed.status().message().find("S3CRET") == std::string::npos);
  CHECK(ParseS3CredentialsFile("[default\n", "default", "f").status().code() == EINVAL);
}

TEST_CASE("S3 credentials: file, then environment, then ~/.aws/credentials") {
  TempDir dir("s3-creds");
  EnvGuard env;
  env.Set("AWS_ACCESS_KEY_ID", nullptr);
  env.Set("AWS_SECRET_ACCESS_KEY", nullptr);
  env.Set("AWS_SESSION_TOKEN", nullptr);
  env.Set("AWS_PROFILE", nullptr);
  env.Set("AWS_SHARED_CREDENTIALS_FILE", nullptr);
  env.Set("HOME", dir.path().c_str());

  auto none = LoadS3Credentials("");
  CHECK(none.status().code() == EACCES);
  CHECK(none.status().message().find("AWS_ACCESS_KEY_ID") != std::string::npos);
  CHECK(LoadS3Credentials(dir / "missing").status().code() == ENOENT);

  std::filesystem::create_directories(dir / ".aws");
  std::ofstream(dir / ".aws/credentials") << "[default]\naws_access_key_id=HOMEID\naws_secret_access_key=HOMESECRET\n"
                                          << "[work]\naws_access_key_id=WORKID\naws_secret_access_key=WORKSECRET\n";
  CHECK(LoadS3Credentials("").value().access_key_id == "HOMEID");
  env.Set("AWS_PROFILE", "work");
  CHECK(LoadS3Credentials("").value().access_key_id == "WORKID");
  env.Set("AWS_PROFILE", nullptr);

  env.Set("AWS_ACCESS_KEY_ID", "ENVID");
  CHECK(LoadS3Credentials("").status().code() == EINVAL);  // half a pair
  env.Set("AWS_SECRET_ACCESS_KEY", "ENVSECRET");
  env.Set("AWS_SESSION_TOKEN", "ENVTOKEN");
  auto from_env = LoadS3Credentials("");
  REQUIRE(from_env.ok());
  CHECK(from_env->access_key_id == "ENVID");
  CHECK(from_env->secret_access_key == "ENVSECRET");
  CHECK(from_env->session_token == "ENVTOKEN");

  std::ofstream(dir / "explicit") << "[default]\naws_access_key_id=FILEID\naws_secret_access_key=FILESECRET\n";
  CHECK(LoadS3Credentials(dir / "explicit").value().access_key_id == "FILEID");
}

TEST_CASE("S3Store: requests are path-style, signed over the payload hash and the session token") {
  std::mutex mu;
  std::vector<ScriptedServer::Seen> seen;
  ScriptedServer server([&](const ScriptedServer::Seen& req) -> ScriptedServer::Reply {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(req);
    return {200, ""};
  });
  S3StoreOptions o = ScriptedOptions(server, 1);
  o.credentials.session_token = "SESSIONTOKEN";
  o.prefix = "pre/fix";
  o.region = "eu-central-1";
  auto store = S3Store::Open(o);
  REQUIRE(store.ok());
  CHECK((*store)->Describe().find("SESSIONTOKEN") == std::string::npos);
  auto body = Bytes("ref body");
  REQUIRE((*store)->PutRef("volumes/x", body).ok());
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].method == "HEAD");
  CHECK(seen[0].target == "/bkt");
  const auto& put = seen[1];
  CHECK(put.method == "PUT");
  CHECK(put.target == "/bkt/pre/fix/volumes/x");
  CHECK(put.body == "ref body");
  CHECK(put.head.find("x-amz-content-sha256: " + Pointer::Of(body).Hex()) != std::string::npos);
  CHECK(put.head.find("x-amz-security-token: SESSIONTOKEN") != std::string::npos);
  CHECK(put.head.find("Credential=AKIDEXAMPLE/") != std::string::npos);
  CHECK(put.head.find("/eu-central-1/s3/aws4_request") != std::string::npos);
  // The payload hash and the token are signed, not just sent.
  size_t signed_at = put.head.find("SignedHeaders=");
  REQUIRE(signed_at != std::string::npos);
  std::string signed_headers = put.head.substr(signed_at, put.head.find(',', signed_at) - signed_at);
  CHECK(signed_headers.find("x-amz-content-sha256") != std::string::npos);
  CHECK(signed_headers.find("x-amz-security-token") != std::string::npos);
  CHECK(put.head.find("wJalrXUtnFEMI-secret") == std::string::npos);
}

TEST_CASE("S3Store: every request carries a valid SigV4 signature over its payload") {
  std::mutex mu;
  std::vector<ScriptedServer::Seen> seen;
  auto blob = Bytes("signed blob bytes");
  Pointer key = Pointer::Of(blob);
  ScriptedServer server([&](const ScriptedServer::Seen& req) -> ScriptedServer::Reply {
    std::lock_guard<std::mutex> lock(mu);
    seen.push_back(req);
    if (req.method == "GET" && req.target.find("list-type=2") != std::string::npos) {
      std::string hex = key.Hex();
      if (req.target.find("continuation-token=") == std::string::npos)
        return {200, "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>pfx/blobs/" + hex.substr(0, 2) +
                         "/" + hex + "</Key></Contents><NextContinuationToken>1/a+b=c&amp;d</NextContinuationToken>"
                         "</ListBucketResult>"};
      return {200, "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"};
    }
    if (req.method == "GET") return {200, std::string(blob.begin(), blob.end())};
    return {200, ""};
  });
  S3StoreOptions o = ScriptedOptions(server, 1);
  o.region = "eu-west-3";
  o.prefix = "pfx";
  o.credentials.session_token = "TOKEN/with+chars";
  auto store = S3Store::Open(o);
  REQUIRE(store.ok());
  REQUIRE((*store)->Put(key, blob).ok());
  CHECK((*store)->Get(key).value() == blob);
  std::vector<Pointer> listed;
  REQUIRE((*store)->List([&](const Pointer& p) {
    listed.push_back(p);
    return Status::OK();
  }).ok());
  CHECK(listed == std::vector<Pointer>{key});
  REQUIRE((*store)->DeleteRef("volumes/v/snapshots/s1").ok());

  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(seen.size() == 6);  // HEAD bucket, PUT, GET, two list pages, DELETE
  CHECK(server.connections() == 1);  // one keep-alive connection, reused by every request
  for (const auto& req : seen) {
    CAPTURE(req.head);
    CHECK(CheckSigV4(req, o.credentials.secret_access_key, o.region) == "");
    std::string signed_headers = HeaderValue(req.head, "Authorization");
    CHECK(signed_headers.find("x-amz-security-token") != std::string::npos);
    CHECK(signed_headers.find("expect") == std::string::npos);  // curl sends its own, unsigned
  }
  CHECK(HeaderValue(seen[1].head, "x-amz-content-sha256") == key.Hex());
  // The continuation token went back encoded, so what was signed is what S3 sees.
  CHECK(seen[4].target.find("continuation-token=1%2Fa%2Bb%3Dc%26d") != std::string::npos);
}

}  // namespace amberfs
