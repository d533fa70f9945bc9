// S3Client: the HTTP side of S3Store. Sends requests for one bucket of one
// endpoint over libcurl: path-style URLs, AWS Signature V4 (libcurl's
// CURLOPT_AWS_SIGV4, over the payload hash in x-amz-content-sha256 and the
// session token), retries with backoff, a pool of keep-alive handles, response
// bodies bounded by what the caller expects, and a count of requests sent.
//
// Retries: network errors, HTTP 5xx, 429 and S3's SlowDown / RequestTimeout
// are retried with exponential backoff and full jitter, at most
// options.max_attempts tries; every other outcome is returned at once.
//
// Ranges: a GET may ask for a byte range (S3Request::range_*); a 206 and a
// 200 with the whole object both come back with just the range as body.
//
// Bounds: a request names the largest success body it can use (max_body: a
// blob's, a ref's, a listing page's). A 2xx body larger than that is not read
// further: the request fails with EBADMSG ("... larger than N bytes ...") and
// is not retried. An error body is kept up to kMaxErrorBody bytes (only its
// Code and Message are read); the rest is read and dropped.
//
// Messages: every Status names the store once, first: "<describe>: <what>:
// <failure>", where describe is the store's URL without credentials.
// Credentials never appear in a message.
//
// Thread-safety: Execute may be called from many threads at once; each call
// borrows an easy handle from the pool (one leaf mutex, held only to take or
// return a handle). requests() is an atomic counter.
#pragma once

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "amberfs/status.h"
#include "store/s3_store.h"

namespace amberfs {

// SHA-256 of the empty string: the payload hash of a request without a body.
inline constexpr const char* kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// What is kept of an error response's body.
inline constexpr size_t kMaxErrorBody = 64 << 10;

struct S3Request {
  const char* method = "GET";     // GET, PUT, HEAD, DELETE
  std::string object;             // full object name under the bucket; "" = the bucket
  std::string query;              // canonical query string (see CanonicalQuery)
  std::span<const uint8_t> body;  // PUT only
  std::string payload_sha256 = kEmptySha256;
  std::string what;               // for messages: "put blob ab12...", "HEAD bucket"
  size_t max_body = kMaxErrorBody;  // the largest 2xx body the caller can use
  // GET only: with range_length > 0, bytes [range_offset, range_offset +
  // range_length) (a Range header; max_body must be range_length). A server
  // that ignores the header and answers 200 with the whole object gets its
  // body cut to that range as it arrives (the rest is not read), so the
  // response body is the range either way.
  uint64_t range_offset = 0;
  uint64_t range_length = 0;
  int attempts = 0;                 // tries at most; 0: options.max_attempts
  long connect_timeout_ms = 0;      // 0: options.connect_timeout_ms
};

struct S3Response {
  long http_status = 0;
  std::vector<uint8_t> body;
  std::string bucket_region;  // the x-amz-bucket-region header, if sent
};

// SigV4's URI encoding: everything but unreserved characters.
std::string S3UriEncode(std::string_view s);
// A canonical query string: sorted by name, names and values URI-encoded, so
// the string curl signs is the string the server canonicalizes.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> params);

class S3Client {
 public:
  // options must be validated (S3Store::Open does).
  explicit S3Client(S3StoreOptions options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3StoreOptions& options() const { return options_; }
  const std::string& describe() const { return options_.description; }
  uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

  // Runs a request with retries. A response that is not retriable, or still
  // failing after the last try, comes back as an S3Response (so the caller
  // can give 404 its own meaning); transport failures are EIO, an oversized
  // body EBADMSG. The response body is received into `body`'s memory (its
  // contents are dropped, its capacity kept): a caller that reads many large
  // ranges passes the same vector back each time and its pages are reused,
  // not fresh ones faulted in for every response.
  Result<S3Response> Execute(const S3Request& req, std::vector<uint8_t> body = {});

  // The Status for a response that is not a success: 404 ENOENT, 403 EACCES,
  // anything else EIO; the message carries the S3 error code and message.
  Status HttpError(const S3Request& req, const S3Response& r) const;
  // "HTTP 403 AccessDenied: Access Denied", for messages.
  static std::string HttpFailure(const S3Response& r);
  static bool Success(const S3Response& r) { return r.http_status >= 200 && r.http_status < 300; }

 private:
  struct Attempt;
  struct EasyDeleter {
    void operator()(CURL* h) const { curl_easy_cleanup(h); }
  };
  using Easy = std::unique_ptr<CURL, EasyDeleter>;

  std::chrono::milliseconds Backoff(int attempt) const;
  Attempt PerformOnce(const S3Request& req, std::vector<uint8_t> body);
  Easy TakeHandle();
  void ReturnHandle(Easy handle);

  S3StoreOptions options_;
  std::string signing_;  // "aws:amz:<region>:s3"
  std::atomic<uint64_t> requests_{0};
  std::mutex pool_mu_;  // guards idle_; a leaf lock
  std::vector<Easy> idle_;
};

}  // namespace amberfs
