// S3Store over libcurl. One request = one borrowed easy handle, reset and set
// up from scratch (curl_easy_reset keeps the handle's live connections, so a
// returned handle carries its keep-alive connection to the next caller).
#include "store/s3_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>

#include <unistd.h>

#include "amberfs/log.h"
#include "base/durable_file.h"
#include "store/s3_xml.h"
#include "store/store_url.h"

namespace amberfs {

namespace {

// SHA-256 of the empty string: the payload hash of a request without a body.
constexpr const char* kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr size_t kMaxIdleHandles = 64;

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlHeaders = std::unique_ptr<curl_slist, CurlSlistDeleter>;

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// ---- credentials ------------------------------------------------------------

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

Result<std::string> ReadCredentialsFile(const std::string& path) {
  Result<std::vector<uint8_t>> bytes = ReadSmallFile(path, kNoSizeLimit);
  if (!bytes.ok()) return bytes.status().Annotate("read credentials file");
  return std::string(bytes->begin(), bytes->end());
}

// ---- URL pieces -------------------------------------------------------------

// SigV4's URI encoding: everything but unreserved characters.
std::string UriEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A canonical query string: sorted by name, names and values URI-encoded, so
// the string curl signs is the string the server canonicalizes.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> params) {
  std::sort(params.begin(), params.end());
  std::string q;
  for (const auto& [k, v] : params) {
    if (!q.empty()) q += '&';
    q += UriEncode(k) + "=" + UriEncode(v);
  }
  return q;
}

// ---- requests ---------------------------------------------------------------

struct Request {
  const char* method = "GET";       // GET, PUT, HEAD, DELETE
  std::string object;               // full object name under the bucket; "" = the bucket
  std::string query;                // canonical query string
  std::span<const uint8_t> body;    // PUT only
  std::string payload_sha256 = kEmptySha256;
  std::string what;                 // for messages: "GET blobs/ab/..."
};

struct Response {
  long http_status = 0;
  std::vector<uint8_t> body;
};

// The outcome of one attempt: a response, or a transport failure.
struct Attempt {
  CURLcode curl = CURLE_OK;
  std::string curl_error;
  Response response;
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* userp) {
  auto* body = static_cast<std::vector<uint8_t>*>(userp);
  body->insert(body->end(), data, data + size * nmemb);
  return size * nmemb;
}

bool RetriableCurlError(CURLcode code) {
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_FAILED_INIT:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_UNKNOWN_OPTION:
      return false;
    default:
      return true;
  }
}

bool RetriableHttp(const Response& r) {
  if (r.http_status >= 500 || r.http_status == 429) return true;
  if (r.http_status == 400) {
    std::string_view body(reinterpret_cast<const char*>(r.body.data()), r.body.size());
    std::string code = FirstXmlElement(body, "Code");
    return code == "RequestTimeout" || code == "SlowDown";
  }
  return false;
}

}  // namespace

Result<S3Credentials> ParseS3CredentialsFile(std::string_view text, std::string_view profile,
                                             std::string_view source) {
  S3Credentials creds;
  bool in_profile = false, seen_profile = false;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = Trim(text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos));
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++line_no;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']')
        return Status::Error(EINVAL, std::string(source) + ":" + std::to_string(line_no) + ": malformed section header");
      std::string name = Trim(std::string_view(line).substr(1, line.size() - 2));
      // The config-file spelling "[profile x]" is accepted too.
      if (name.rfind("profile ", 0) == 0) name = Trim(std::string_view(name).substr(8));
      in_profile = name == profile;
      seen_profile = seen_profile || in_profile;
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos)
      return Status::Error(EINVAL, std::string(source) + ":" + std::to_string(line_no) + ": expected key = value");
    if (!in_profile) continue;
    std::string key = Trim(std::string_view(line).substr(0, eq));
    std::string value = Trim(std::string_view(line).substr(eq + 1));
    if (key == "aws_access_key_id") creds.access_key_id = value;
    else if (key == "aws_secret_access_key") creds.secret_access_key = value;
    else if (key == "aws_session_token") creds.session_token = value;
  }
  if (!seen_profile)
    return Status::Error(EINVAL, std::string(source) + ": no [" + std::string(profile) + "] profile");
  if (creds.access_key_id.empty() || creds.secret_access_key.empty())
    return Status::Error(EINVAL, std::string(source) + ": profile [" + std::string(profile) +
                                     "] lacks aws_access_key_id or aws_secret_access_key");
  return creds;
}

Result<S3Credentials> LoadS3Credentials(const std::string& credentials_file) {
  std::string profile = EnvOr("AWS_PROFILE", "default");
  if (!credentials_file.empty()) {
    AMBER_ASSIGN_OR_RETURN(std::string text, ReadCredentialsFile(credentials_file));
    return ParseS3CredentialsFile(text, profile, credentials_file);
  }
  std::string id = EnvOr("AWS_ACCESS_KEY_ID", ""), secret = EnvOr("AWS_SECRET_ACCESS_KEY", "");
  if (!id.empty() || !secret.empty()) {
    if (id.empty() || secret.empty())
      return Status::Error(EINVAL, "S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
    return S3Credentials{id, secret, EnvOr("AWS_SESSION_TOKEN", "")};
  }
  std::string file = EnvOr("AWS_SHARED_CREDENTIALS_FILE", "");
  if (file.empty()) {
    std::string home = EnvOr("HOME", "");
    if (!home.empty()) file = home + "/.aws/credentials";
  }
  if (!file.empty() && ::access(file.c_str(), F_OK) == 0) {
    AMBER_ASSIGN_OR_RETURN(std::string text, ReadCredentialsFile(file));
    return ParseS3CredentialsFile(text, profile, file);
  }
  return Status::Error(EACCES,
                       "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give a "
                       "credentials file");
}

class S3Store::Impl {
 public:
  explicit Impl(S3StoreOptions options) : options_(std::move(options)) {
    signing_ = "aws:amz:" + options_.region + ":s3";
    if (options_.description.empty()) {
      StoreUrl url;
      url.kind = StoreUrl::Kind::kS3;
      url.bucket = options_.bucket;
      url.prefix = options_.prefix;
      url.endpoint = options_.endpoint;
      url.region = options_.region;
      options_.description = CanonicalStoreUrl(url);
    }
    object_prefix_ = options_.prefix.empty() ? "" : options_.prefix + "/";
  }

  const S3StoreOptions& options() const { return options_; }
  const std::string& describe() const { return options_.description; }
  const std::string& object_prefix() const { return object_prefix_; }

  static std::string BlobObject(const Pointer& key) {
    std::string hex = key.Hex();
    return "blobs/" + hex.substr(0, 2) + "/" + hex;
  }

  // Runs a request with retries. A non-2xx response that is not retriable
  // (or still failing after the last try) comes back as a Response, so the
  // caller can give 404 its own meaning; transport failures are EIO here.
  Result<Response> Execute(const Request& req) {
    int attempts = std::max(1, options_.max_attempts);
    std::string last_failure;
    for (int attempt = 1;; ++attempt) {
      Attempt a = PerformOnce(req);
      bool retriable;
      if (a.curl != CURLE_OK) {
        last_failure = a.curl_error;
        retriable = RetriableCurlError(a.curl);
      } else if (RetriableHttp(a.response)) {
        last_failure = HttpFailure(a.response);
        retriable = true;
      } else {
        return std::move(a.response);
      }
      if (!retriable || attempt >= attempts) {
        if (a.curl == CURLE_OK) return std::move(a.response);
        return Status::Error(EIO, describe() + ": " + req.what + ": " + last_failure + " (after " +
                                      std::to_string(attempt) + (attempt == 1 ? " attempt)" : " attempts)"));
      }
      LOG_DEBUG("%s: %s: %s; retrying (%d of %d)", describe().c_str(), req.what.c_str(), last_failure.c_str(),
                attempt + 1, attempts);
      std::this_thread::sleep_for(Backoff(attempt));
    }
  }

  // The Status for a response that is not a success.
  Status HttpError(const Request& req, const Response& r) const {
    int err = r.http_status == 404 ? ENOENT : r.http_status == 403 ? EACCES : EIO;
    return Status::Error(err, describe() + ": " + req.what + ": " + HttpFailure(r));
  }

  static bool Success(const Response& r) { return r.http_status >= 200 && r.http_status < 300; }

  // The object-level requests every Store method is made of. object is the
  // name under the store's prefix; what names the operation in messages.
  Status PutObject(const std::string& object, std::string what, std::span<const uint8_t> body,
                   std::string payload_sha256) {
    Request req;
    req.method = "PUT";
    req.object = object_prefix_ + object;
    req.body = body;
    req.payload_sha256 = std::move(payload_sha256);
    req.what = std::move(what);
    AMBER_ASSIGN_OR_RETURN(Response r, Execute(req));
    return Success(r) ? Status::OK() : HttpError(req, r);
  }

  // GET or HEAD; a missing object is ENOENT "<describe>: <what> not found".
  Result<std::vector<uint8_t>> ReadObject(const char* method, const std::string& object, std::string what) {
    Request req;
    req.method = method;
    req.object = object_prefix_ + object;
    req.what = std::move(what);
    AMBER_ASSIGN_OR_RETURN(Response r, Execute(req));
    if (r.http_status == 404) return Status::Error(ENOENT, describe() + ": " + req.what + ": not found");
    if (!Success(r)) return HttpError(req, r);
    return std::move(r.body);
  }

  Status DeleteObject(const std::string& object, std::string what) {
    Request req;
    req.method = "DELETE";
    req.object = object_prefix_ + object;
    req.what = std::move(what);
    AMBER_ASSIGN_OR_RETURN(Response r, Execute(req));
    if (Success(r) || r.http_status == 404) return Status::OK();  // already gone is gone
    return HttpError(req, r);
  }

  Status CheckKey(const Pointer& key, const char* op) const {
    if (key.IsNull()) return Status::Error(EINVAL, describe() + ": " + op + " of the null pointer");
    return Status::OK();
  }

  // Calls fn with the name (relative to the store's prefix) of every object
  // whose name starts with prefix, one ListObjectsV2 page at a time.
  Status ListObjects(const std::string& prefix, const std::function<Status(const std::string&)>& fn) {
    std::string token;
    do {
      std::vector<std::pair<std::string, std::string>> params = {
          {"list-type", "2"},
          {"prefix", object_prefix_ + prefix},
          {"max-keys", std::to_string(options_.list_page_size)}};
      if (!token.empty()) params.emplace_back("continuation-token", token);
      Request req;
      req.query = CanonicalQuery(std::move(params));
      req.what = "list " + prefix;
      AMBER_ASSIGN_OR_RETURN(Response r, Execute(req));
      if (!Success(r)) return HttpError(req, r);
      std::string_view xml(reinterpret_cast<const char*>(r.body.data()), r.body.size());
      Result<S3ListPage> page = ParseListBucketResult(xml);
      if (!page.ok()) return page.status().Annotate(describe() + ": " + req.what);
      for (const std::string& key : page->keys) {
        if (key.compare(0, object_prefix_.size(), object_prefix_) != 0) continue;
        AMBER_RETURN_IF_ERROR(fn(key.substr(object_prefix_.size())));
      }
      token = std::move(page->next_token);
    } while (!token.empty());
    return Status::OK();
  }

  // HEAD of the bucket: ok, ENOENT (missing) or another error.
  Status CheckBucket() {
    Request req;
    req.method = "HEAD";
    req.what = "HEAD bucket";
    AMBER_ASSIGN_OR_RETURN(Response r, Execute(req));
    if (Success(r)) return Status::OK();
    if (r.http_status == 404)
      return Status::Error(ENOENT, "bucket " + options_.bucket + " does not exist at " + options_.endpoint);
    if (r.http_status == 403)
      return Status::Error(EACCES, "access to bucket " + options_.bucket + " at " + options_.endpoint +
                                       " denied (HTTP 403): check the S3 credentials");
    return HttpError(req, r);
  }

 private:
  // Full jitter over an exponentially growing window.
  std::chrono::milliseconds Backoff(int attempt) const {
    thread_local std::mt19937 rng(std::random_device{}());
    long window = options_.retry_base_delay_ms;
    for (int i = 1; i < attempt && window < options_.retry_max_delay_ms; ++i) window *= 2;
    window = std::min<long>(window, options_.retry_max_delay_ms);
    std::uniform_int_distribution<long> pick(window / 2, std::max<long>(window / 2, window));
    return std::chrono::milliseconds(pick(rng));
  }

  static std::string HttpFailure(const Response& r) {
    std::string_view body(reinterpret_cast<const char*>(r.body.data()), r.body.size());
    std::string msg = "HTTP " + std::to_string(r.http_status);
    std::string code = FirstXmlElement(body, "Code");
    std::string text = FirstXmlElement(body, "Message");
    if (!code.empty()) msg += " " + code;
    if (!text.empty()) msg += ": " + text;
    return msg;
  }

  CurlEasy TakeHandle() {
    {
      std::lock_guard<std::mutex> lock(pool_mu_);
      if (!idle_.empty()) {
        CurlEasy h = std::move(idle_.back());
        idle_.pop_back();
        return h;
      }
    }
    return CurlEasy(curl_easy_init());
  }

  void ReturnHandle(CurlEasy h) {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(h));
  }

  Attempt PerformOnce(const Request& req) {
    Attempt a;
    CurlEasy h = TakeHandle();
    if (!h) {
      a.curl = CURLE_OUT_OF_MEMORY;
      a.curl_error = "curl_easy_init failed";
      return a;
    }
    CURL* c = h.get();
    curl_easy_reset(c);
    std::string url = options_.endpoint + "/" + options_.bucket;
    if (!req.object.empty()) url += "/" + req.object;
    if (!req.query.empty()) url += "?" + req.query;

    CurlHeaders headers;
    bool headers_ok = true;
    auto add_header = [&](const std::string& line) {
      // curl_slist_append returns the list's head, or NULL leaving it intact.
      curl_slist* l = curl_slist_append(headers.get(), line.c_str());
      if (l == nullptr) headers_ok = false;
      else if (headers == nullptr) headers.reset(l);
    };
    // curl signs the headers we set; S3 requires the payload hash to be one.
    add_header("x-amz-content-sha256: " + req.payload_sha256);
    // Sent as post fields (below), a PUT body would otherwise be labelled a form.
    if (std::strcmp(req.method, "PUT") == 0) add_header("Content-Type: application/octet-stream");
    if (!options_.credentials.session_token.empty())
      add_header("x-amz-security-token: " + options_.credentials.session_token);
    if (!headers_ok) {
      a.curl = CURLE_OUT_OF_MEMORY;
      a.curl_error = "out of memory building request headers";
      ReturnHandle(std::move(h));
      return a;
    }

    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options_.request_timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_AWS_SIGV4);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, signing_.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.credentials.access_key_id.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.credentials.secret_access_key.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a.response.body);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (std::strcmp(req.method, "HEAD") == 0) {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (std::strcmp(req.method, "PUT") == 0) {
      // The body goes as "post fields" under the PUT method: curl then sends
      // a body of up to 1 MiB with no "Expect: 100-continue", which would
      // cost the server an interim response for every blob. (Removing the
      // header with "Expect:" instead gets it signed by curl 7.88 and then
      // not sent, which S3 rejects.) A null pointer would mean "use the
      // read callback", so an empty body points at an empty string.
      static const char kEmpty[] = "";
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
      curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                       req.body.empty() ? kEmpty : reinterpret_cast<const char*>(req.body.data()));
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
      // Larger bodies still announce themselves; send them at once anyway.
      curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
    } else if (std::strcmp(req.method, "GET") != 0) {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method);
    }

    a.curl = curl_easy_perform(c);
    if (a.curl != CURLE_OK) {
      a.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(a.curl);
    } else {
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.response.http_status);
    }
    // Clear pointers into this frame before the handle goes back to the pool.
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
    ReturnHandle(std::move(h));
    return a;
  }

  S3StoreOptions options_;
  std::string signing_;
  std::string object_prefix_;
  std::mutex pool_mu_;  // guards idle_; a leaf lock
  std::vector<CurlEasy> idle_;
};

S3Store::S3Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
S3Store::~S3Store() = default;

Result<std::unique_ptr<S3Store>> S3Store::Open(S3StoreOptions options) {
  AMBER_RETURN_IF_ERROR(ValidateBucketName(options.bucket));
  if (options.endpoint.rfind("http://", 0) != 0 && options.endpoint.rfind("https://", 0) != 0)
    return Status::Error(EINVAL, "S3 endpoint must start with http:// or https://");
  while (!options.endpoint.empty() && options.endpoint.back() == '/') options.endpoint.pop_back();
  AMBER_RETURN_IF_ERROR(ValidateS3Prefix(options.prefix));
  if (options.region.empty()) return Status::Error(EINVAL, "S3 region is empty");
  if (options.credentials.access_key_id.empty() || options.credentials.secret_access_key.empty())
    return Status::Error(EACCES, "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give a "
                                 "credentials file");
  if (options.list_page_size < 1 || options.list_page_size > 1000)
    return Status::Error(EINVAL, "S3 list page size must be 1..1000");
  EnsureCurlGlobalInit();
  bool create = options.create_bucket;
  std::unique_ptr<S3Store> store(new S3Store(std::make_unique<Impl>(std::move(options))));
  Status s = store->impl_->CheckBucket();
  if (s.code() == ENOENT && create) s = store->CreateBucket();
  AMBER_RETURN_IF_ERROR(s);
  return store;
}

std::string S3Store::Describe() const { return impl_->describe(); }

Status S3Store::CreateBucket() {
  Request req;
  req.method = "PUT";
  req.what = "create bucket " + impl_->options().bucket;
  std::string config;
  if (impl_->options().region != kDefaultS3Region) {
    // Outside us-east-1, AWS wants the region spelled out in the body.
    config = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
             impl_->options().region + "</LocationConstraint></CreateBucketConfiguration>";
    req.body = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(config.data()), config.size());
    req.payload_sha256 = Pointer::Of(req.body).Hex();
  }
  AMBER_ASSIGN_OR_RETURN(Response r, impl_->Execute(req));
  if (Impl::Success(r)) return Status::OK();
  // "Already exists" is fine if it is ours, which the HEAD proves.
  if (r.http_status == 409 && impl_->CheckBucket().ok()) return Status::OK();
  return impl_->HttpError(req, r);
}

Status S3Store::Put(const Pointer& key, std::span<const uint8_t> data) {
  AMBER_RETURN_IF_ERROR(impl_->CheckKey(key, "put"));
  if (Pointer::Of(data) != key)
    return Status::Error(EINVAL, Describe() + ": put of blob " + key.Hex() + ": key is not the SHA-256 of the data");
  // The key is the payload hash S3 checks the upload against.
  return impl_->PutObject(Impl::BlobObject(key), "put blob " + key.Hex(), data, key.Hex());
}

Result<std::vector<uint8_t>> S3Store::Get(const Pointer& key) {
  AMBER_RETURN_IF_ERROR(impl_->CheckKey(key, "get"));
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> data, impl_->ReadObject("GET", Impl::BlobObject(key), "blob " + key.Hex()));
  if (Pointer::Of(data) != key) return Status::Error(EBADMSG, Describe() + ": blob " + key.Hex() + " is corrupt");
  return data;
}

Result<bool> S3Store::Contains(const Pointer& key) {
  AMBER_RETURN_IF_ERROR(impl_->CheckKey(key, "contains"));
  auto head = impl_->ReadObject("HEAD", Impl::BlobObject(key), "head blob " + key.Hex());
  if (head.ok()) return true;
  if (head.status().code() == ENOENT) return false;
  return head.status();
}

Status S3Store::Delete(const Pointer& key) {
  AMBER_RETURN_IF_ERROR(impl_->CheckKey(key, "delete"));
  return impl_->DeleteObject(Impl::BlobObject(key), "delete blob " + key.Hex());
}

Status S3Store::List(const std::function<Status(const Pointer&)>& fn) {
  return impl_->ListObjects("blobs/", [&](const std::string& name) -> Status {
    // blobs/ab/<hex>: anything else there is not ours to report.
    auto key = Pointer::FromHex(name.size() == 6 + 3 + 64 ? std::string_view(name).substr(9) : "");
    if (!key.ok() || name.compare(6, 2, key->Hex(), 0, 2) != 0 || name[8] != '/') {
      LOG_WARN("%s: ignoring stray object %s under blobs/", Describe().c_str(), name.c_str());
      return Status::OK();
    }
    return fn(*key);
  });
}

Status S3Store::PutRef(std::string_view name, std::span<const uint8_t> data) {
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  return impl_->PutObject(std::string(name), "put ref " + std::string(name), data, Pointer::Of(data).Hex());
}

Result<std::vector<uint8_t>> S3Store::GetRef(std::string_view name) {
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  return impl_->ReadObject("GET", std::string(name), "ref " + std::string(name));
}

Status S3Store::DeleteRef(std::string_view name) {
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  return impl_->DeleteObject(std::string(name), "delete ref " + std::string(name));
}

Result<std::vector<std::string>> S3Store::ListRefs(std::string_view prefix) {
  AMBER_RETURN_IF_ERROR(ValidateRefPrefix(prefix));
  std::vector<std::string> names;
  AMBER_RETURN_IF_ERROR(impl_->ListObjects(std::string(prefix), [&](const std::string& name) -> Status {
    // Blobs share the namespace; anything that is not a valid ref name is not a ref.
    if (name.rfind("blobs/", 0) == 0 || !ValidateRefName(name).ok()) return Status::OK();
    names.push_back(name);
    return Status::OK();
  }));
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace amberfs
