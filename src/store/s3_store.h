// S3Store: a Store in a bucket of any S3-compatible object store (AWS S3,
// MinIO, Ceph RGW, Garage, s3rver), spoken to over HTTP(S) with libcurl
// (s3_client.h: signing, retries, bounded bodies).
//
// Addressing is path-style: <endpoint>/<bucket>/<prefix>/<object>, so any
// endpoint works without DNS tricks. Objects follow store.h's layout under the
// prefix: blobs/<ab>/<64 hex>, pack objects (packs/<ab>/<64 hex>,
// index/<ab>/<64 hex>) and refs at their names. Requests are signed
// with AWS Signature V4; the payload hash is sent in x-amz-content-sha256 and
// signed (for a blob it is its key), and a session token goes in
// x-amz-security-token.
//
// Errors: HTTP 404 is ENOENT, 403 is EACCES, any other failure is EIO; the
// message names the store (its URL, once, first), the request and, when the
// server sent one, the S3 error code and message. Network errors, HTTP 5xx,
// 429 and S3's SlowDown / RequestTimeout are retried with exponential backoff
// and full jitter, at most options.max_attempts tries; every other error is
// returned at once. Get verifies the SHA-256 of what it read (EBADMSG on
// mismatch). Credentials never appear in Describe(), in logs or in any Status
// message.
//
// Bounds (a damaged or hostile bucket must not exhaust memory): a GET reads at
// most kMaxBlobBytes for a blob and kMaxRefBytes for a ref, a listing page at
// most kMaxListPageBytes; a larger response is EBADMSG, not read further.
// ListRefs returns at most options.max_listed_refs names (EFBIG beyond).
// List streams its pages: it holds one page at a time.
//
// Open, by options.bucket_at_open: kMustExist checks that the bucket exists
// (ENOENT "bucket X does not exist", EACCES on 403, EIO when the endpoint
// does not answer, with the region to use when the bucket is in another
// one); kCreate also creates a missing bucket (mkfs); kUnchecked sends no
// request at all (a mount, which must work while the store is down).
//
// Thread-safety: every method is safe for concurrent calls. Each call borrows
// a curl handle from an internal pool, so concurrent calls run in parallel and
// idle connections are reused.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/store.h"

namespace amberfs {

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional (temporary credentials)
};

// Where credentials come from, first match wins:
//   1. credentials_file, when not empty (AWS shared-credentials format);
//   2. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
//   3. $AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials, if it exists.
// The profile is $AWS_PROFILE, else "default". None found is EACCES; a file
// that cannot be read is its errno; a file without the keys is EINVAL.
Result<S3Credentials> LoadS3Credentials(const std::string& credentials_file);

// Parses the text of a shared-credentials file ("[profile]" sections of
// "key = value" lines, '#' and ';' comments) for aws_access_key_id,
// aws_secret_access_key and aws_session_token. source names the file in errors.
Result<S3Credentials> ParseS3CredentialsFile(std::string_view text, std::string_view profile,
                                             std::string_view source);

struct S3StoreOptions {
  std::string endpoint;  // "http(s)://host[:port]", required
  std::string region = "us-east-1";
  std::string bucket;    // required; see ValidateBucketName in store_url.h
  std::string prefix;    // "" or ref-name-like components, no leading/trailing '/'
  S3Credentials credentials;
  // What Describe() returns; built from the fields above when empty.
  std::string description;

  long connect_timeout_ms = 10'000;
  long request_timeout_ms = 120'000;  // whole request, per attempt
  int max_attempts = 6;               // tries of a retriable request, >= 1
  int retry_base_delay_ms = 100;      // the first backoff, doubled each retry
  int retry_max_delay_ms = 10'000;
  int list_page_size = 1000;          // max-keys of each ListObjectsV2 page (1..1000)
  size_t max_listed_refs = 1 << 20;   // ListRefs fails (EFBIG) past this many names
  enum class BucketAtOpen { kMustExist, kCreate, kUnchecked };
  BucketAtOpen bucket_at_open = BucketAtOpen::kMustExist;
};

// The most one ListObjectsV2 page of 1000 keys may take: a key is at most
// 1024 bytes, and each comes with a few hundred bytes of metadata.
inline constexpr size_t kMaxListPageBytes = 4 << 20;

class S3Store : public Store {
 public:
  static Result<std::unique_ptr<S3Store>> Open(S3StoreOptions options);
  ~S3Store() override;
  S3Store(const S3Store&) = delete;
  S3Store& operator=(const S3Store&) = delete;

  std::string Describe() const override;

  Status Put(const Pointer& key, std::span<const uint8_t> data) override;
  Result<std::vector<uint8_t>> Get(const Pointer& key) override;
  Result<bool> Contains(const Pointer& key) override;
  Status Delete(const Pointer& key) override;
  Status List(const std::function<Status(const Pointer&)>& fn) override;

  Status PutRef(std::string_view name, std::span<const uint8_t> data) override;
  Result<std::vector<uint8_t>> GetRef(std::string_view name) override;
  Status DeleteRef(std::string_view name) override;
  Result<std::vector<std::string>> ListRefs(std::string_view prefix) override;

  // Pack objects (store.h), at their names under the prefix. GetObjectRange
  // is one GET with a Range header.
  Status PutObject(std::string_view name, std::span<const uint8_t> bytes) override;
  Result<std::vector<uint8_t>> GetObjectRange(std::string_view name, uint64_t offset, uint64_t length) override;
  Status GetObjectRangeInto(std::string_view name, uint64_t offset, uint64_t length,
                            std::vector<uint8_t>* into) override;
  Status ListObjects(std::string_view prefix, const std::function<Status(std::string_view name)>& fn) override;
  Status DeleteObject(std::string_view name) override;

  // HTTP requests sent so far, retries included.
  uint64_t RemoteRequests() const override;

  // HEAD of the bucket: OK, or a Status that says what is wrong (missing
  // bucket, denied, another region, no answer). quick: one attempt, at most
  // kQuickConnectMs to connect (a probe), instead of the configured retries.
  Status CheckBucket(bool quick = false);
  static constexpr long kQuickConnectMs = 3000;
  // Creates the bucket; OK if it exists already and is ours.
  Status CreateBucket();

 private:
  class Impl;
  explicit S3Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace amberfs
