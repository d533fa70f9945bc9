// S3Client over libcurl. One attempt = one borrowed easy handle, reset and set
// up from scratch (curl_easy_reset keeps the handle's live connections, so a
// returned handle carries its keep-alive connection to the next caller).
#include "store/s3_client.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <random>
#include <thread>

#include "amberfs/log.h"
#include "store/s3_xml.h"

namespace amberfs {
namespace {

constexpr size_t kMaxIdleHandles = 64;

struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlHeaders = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// Where one attempt's response goes, with its bounds.
struct BodySink {
  CURL* handle = nullptr;
  std::vector<uint8_t>* body = nullptr;
  std::string* bucket_region = nullptr;
  size_t max_body = 0;
  bool too_large = false;
  // A ranged GET answered 200 (the whole object): bytes still to skip
  // before the range, and whether the range is complete (the transfer is
  // then stopped on purpose).
  bool ranged = false;
  uint64_t skip = 0;
  bool range_done = false;
};

long ResponseCode(CURL* handle) {
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

bool SuccessStatus(CURL* handle) {
  long status = ResponseCode(handle);
  return status >= 200 && status < 300;
}

// A ranged GET's whole-object body (HTTP 200): keeps [skip, skip + max_body)
// of it and stops the transfer once that is in.
size_t WriteRangeOfWhole(BodySink* sink, const uint8_t* data, size_t n) {
  size_t skipped = static_cast<size_t>(std::min<uint64_t>(sink->skip, n));
  sink->skip -= skipped;
  size_t keep = std::min(n - skipped, sink->max_body - sink->body->size());
  sink->body->insert(sink->body->end(), data + skipped, data + skipped + keep);
  if (sink->body->size() < sink->max_body) return n;
  sink->range_done = true;
  return 0;  // curl stops the transfer (CURLE_WRITE_ERROR): the range is in
}

// Room for the whole body at its first bytes, when the response says how
// long it is: a 16 MiB pack grown by doubling was copied twice over. A length
// past max_body is not trusted with memory; the body then grows as it comes
// and is refused at max_body.
void ReserveForContentLength(BodySink* sink) {
  curl_off_t length = -1;
  if (curl_easy_getinfo(sink->handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) != CURLE_OK || length <= 0) return;
  if (static_cast<uint64_t>(length) <= sink->max_body) sink->body->reserve(static_cast<size_t>(length));
}

size_t WriteBody(char* chars, size_t size, size_t nmemb, void* userp) {
  auto* sink = static_cast<BodySink*>(userp);
  const size_t n = size * nmemb;
  // As bytes: inserting a char range into a vector of uint8_t is a
  // converting copy, one byte per instruction (perf: 9% of a restore's CPU),
  // where the same types are one memmove.
  const auto* data = reinterpret_cast<const uint8_t*>(chars);
  if (!SuccessStatus(sink->handle)) {
    // Only an error's Code and Message are read: keep the start, drop the rest.
    size_t keep = std::min(n, kMaxErrorBody - std::min(kMaxErrorBody, sink->body->size()));
    sink->body->insert(sink->body->end(), data, data + keep);
    return n;
  }
  if (sink->ranged && ResponseCode(sink->handle) == 200) return WriteRangeOfWhole(sink, data, n);
  if (n > sink->max_body - std::min(sink->max_body, sink->body->size())) {
    sink->too_large = true;
    return 0;  // curl stops the transfer (CURLE_WRITE_ERROR)
  }
  if (sink->body->empty()) ReserveForContentLength(sink);
  sink->body->insert(sink->body->end(), data, data + n);
  return n;
}

// The value of header `name` in one header line ("Name: value\r\n"), if it is that header.
bool HeaderValue(std::string_view line, std::string_view name, std::string_view* value) {
  if (line.size() <= name.size() || line[name.size()] != ':') return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  }
  std::string_view v = line.substr(name.size() + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
  *value = v;
  return true;
}

size_t ReadHeader(char* data, size_t size, size_t nmemb, void* userp) {
  auto* sink = static_cast<BodySink*>(userp);
  const size_t n = size * nmemb;
  std::string_view line(data, n), value;
  if (HeaderValue(line, "x-amz-bucket-region", &value)) {
    sink->bucket_region->assign(value.substr(0, 64));
  } else if (HeaderValue(line, "content-length", &value) && SuccessStatus(sink->handle)) {
    // Room for the whole body at once, when it is one we will take.
    uint64_t length = 0;
    for (char c : value) {
      if (c < '0' || c > '9' || length > sink->max_body) break;
      length = length * 10 + static_cast<uint64_t>(c - '0');
    }
    if (length <= sink->max_body) sink->body->reserve(length);
  }
  return n;
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

bool RetriableHttp(const S3Response& r) {
  if (r.http_status >= 500 || r.http_status == 429) return true;
  if (r.http_status == 400) {
    std::string code = ParseS3Error({reinterpret_cast<const char*>(r.body.data()), r.body.size()}).code;
    return code == "RequestTimeout" || code == "SlowDown";
  }
  return false;
}

}  // namespace

// The outcome of one attempt: a response, or a transport failure.
struct S3Client::Attempt {
  CURLcode curl = CURLE_OK;
  std::string curl_error;
  bool too_large = false;
  S3Response response;
};

std::string S3UriEncode(std::string_view s) {
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

std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> params) {
  std::sort(params.begin(), params.end());
  std::string q;
  for (const auto& [k, v] : params) {
    if (!q.empty()) q += '&';
    q += S3UriEncode(k) + "=" + S3UriEncode(v);
  }
  return q;
}

S3Client::S3Client(S3StoreOptions options) : options_(std::move(options)) {
  signing_ = "aws:amz:" + options_.region + ":s3";
}

S3Client::~S3Client() = default;

Result<S3Response> S3Client::Execute(const S3Request& req, std::vector<uint8_t> body) {
  const int attempts = std::max(1, req.attempts > 0 ? req.attempts : options_.max_attempts);
  for (int attempt = 1;; ++attempt) {
    Attempt a = PerformOnce(req, std::move(body));
    if (a.too_large) {
      return Status::Error(EBADMSG, describe() + ": " + req.what + ": the response is larger than " +
                                        std::to_string(req.max_body) + " bytes, more than it can hold; not read further");
    }
    std::string failure;
    bool retriable;
    if (a.curl != CURLE_OK) {
      failure = a.curl_error;
      retriable = RetriableCurlError(a.curl);
    } else if (RetriableHttp(a.response)) {
      failure = HttpFailure(a.response);
      retriable = true;
    } else {
      return std::move(a.response);
    }
    if (!retriable || attempt >= attempts) {
      if (a.curl == CURLE_OK) return std::move(a.response);
      return Status::Error(EIO, describe() + ": " + req.what + ": " + failure + " (after " + std::to_string(attempt) +
                                    (attempt == 1 ? " attempt)" : " attempts)"));
    }
    LOG_DEBUG("%s: %s: %s; retrying (%d of %d)", describe().c_str(), req.what.c_str(), failure.c_str(), attempt + 1,
              attempts);
    body = std::move(a.response.body);  // the next try receives into the same memory
    std::this_thread::sleep_for(Backoff(attempt));
  }
}

Status S3Client::HttpError(const S3Request& req, const S3Response& r) const {
  int err = r.http_status == 404 ? ENOENT : r.http_status == 403 ? EACCES : EIO;
  return Status::Error(err, describe() + ": " + req.what + ": " + HttpFailure(r));
}

std::string S3Client::HttpFailure(const S3Response& r) {
  S3ErrorBody error = ParseS3Error({reinterpret_cast<const char*>(r.body.data()), r.body.size()});
  std::string msg = "HTTP " + std::to_string(r.http_status);
  if (!error.code.empty()) msg += " " + error.code;
  if (!error.message.empty()) msg += ": " + error.message;
  return msg;
}

// Full jitter over an exponentially growing window.
std::chrono::milliseconds S3Client::Backoff(int attempt) const {
  thread_local std::mt19937 rng(std::random_device{}());
  long window = options_.retry_base_delay_ms;
  for (int i = 1; i < attempt && window < options_.retry_max_delay_ms; ++i) window *= 2;
  window = std::min<long>(window, options_.retry_max_delay_ms);
  std::uniform_int_distribution<long> pick(window / 2, std::max<long>(window / 2, window));
  return std::chrono::milliseconds(pick(rng));
}

S3Client::Easy S3Client::TakeHandle() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_.empty()) {
      Easy h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return Easy(curl_easy_init());
}

void S3Client::ReturnHandle(Easy h) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (idle_.size() < kMaxIdleHandles) idle_.push_back(std::move(h));
}

S3Client::Attempt S3Client::PerformOnce(const S3Request& req, std::vector<uint8_t> body) {
  Attempt a;
  body.clear();
  a.response.body = std::move(body);
  Easy h = TakeHandle();
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

  BodySink sink{c, &a.response.body, &a.response.bucket_region, req.max_body, false};
  std::string range;
  if (req.range_length > 0) {
    sink.ranged = true;
    sink.skip = req.range_offset;
    range = std::to_string(req.range_offset) + "-" + std::to_string(req.range_offset + req.range_length - 1);
  }
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   req.connect_timeout_ms > 0 ? req.connect_timeout_ms : options_.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options_.request_timeout_ms);
  curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_AWS_SIGV4);
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, signing_.c_str());
  curl_easy_setopt(c, CURLOPT_USERNAME, options_.credentials.access_key_id.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, options_.credentials.secret_access_key.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  // "Range: bytes=a-b", added by curl (outside the signed headers, which S3 allows).
  if (!range.empty()) curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
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

  requests_.fetch_add(1, std::memory_order_relaxed);
  a.curl = curl_easy_perform(c);
  a.too_large = sink.too_large;
  const bool stopped_in_range = a.curl == CURLE_WRITE_ERROR && sink.range_done;
  if (stopped_in_range) a.curl = CURLE_OK;
  if (a.curl != CURLE_OK) {
    a.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(a.curl);
  } else {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.response.http_status);
  }
  // Clear pointers into this frame before the handle goes back to the pool.
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, nullptr);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, nullptr);
  curl_easy_setopt(c, CURLOPT_RANGE, nullptr);
  // An aborted transfer leaves its connection in no state to be reused.
  if (a.too_large || stopped_in_range) return a;
  ReturnHandle(std::move(h));
  return a;
}

}  // namespace amberfs
