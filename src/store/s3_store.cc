// S3Store: the Store methods as S3 object requests (see s3_store.h); the HTTP
// side is S3Client (s3_client.h), the XML side s3_xml.h.
#include "store/s3_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "amberfs/log.h"
#include "store/pack_objects.h"
#include "store/s3_client.h"
#include "store/s3_xml.h"
#include "store/store_url.h"

namespace amberfs {
namespace {

void EnsureCurlGlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string BlobObject(const Pointer& key) {
  std::string hex = key.Hex();
  return "blobs/" + hex.substr(0, 2) + "/" + hex;
}

// A hint for S3 codes whose fix is not obvious from the code alone.
std::string Hint(const S3Response& r) {
  S3ErrorBody error = ParseS3Error({reinterpret_cast<const char*>(r.body.data()), r.body.size()});
  if (error.code == "InvalidLocationConstraint" || error.code == "IllegalLocationConstraintException")
    return " (the region in the URL must be the store's own; for Ceph RGW that is its zonegroup's api_name, "
           "often \"default\")";
  if (error.code == "InvalidAccessKeyId" || error.code == "SignatureDoesNotMatch")
    return " (check the S3 credentials)";
  return "";
}

}  // namespace

class S3Store::Impl {
 public:
  explicit Impl(S3StoreOptions options)
      : client_(std::move(options)),
        object_prefix_(client_.options().prefix.empty() ? "" : client_.options().prefix + "/") {}

  S3Client& client() { return client_; }
  const S3StoreOptions& options() const { return client_.options(); }
  const std::string& describe() const { return client_.describe(); }

  // The object-level requests every Store method is made of. object is the
  // name under the store's prefix; what names the operation in messages.
  Status PutObject(const std::string& object, std::string what, std::span<const uint8_t> body,
                   std::string payload_sha256) {
    S3Request req;
    req.method = "PUT";
    req.object = object_prefix_ + object;
    req.body = body;
    req.payload_sha256 = std::move(payload_sha256);
    req.what = std::move(what);
    AMBER_ASSIGN_OR_RETURN(S3Response r, client_.Execute(req));
    return S3Client::Success(r) ? Status::OK() : client_.HttpError(req, r);
  }

  // GET or HEAD of at most max_body bytes; a missing object is ENOENT
  // "<describe>: <what>: not found".
  Result<std::vector<uint8_t>> ReadObject(const char* method, const std::string& object, std::string what,
                                          size_t max_body) {
    S3Request req;
    req.method = method;
    req.object = object_prefix_ + object;
    req.what = std::move(what);
    req.max_body = max_body;
    AMBER_ASSIGN_OR_RETURN(S3Response r, client_.Execute(req));
    if (r.http_status == 404) return Status::Error(ENOENT, describe() + ": " + req.what + ": not found");
    if (!S3Client::Success(r)) return client_.HttpError(req, r);
    return std::move(r.body);
  }

  // Bytes [offset, offset + length) of object, or all of it (length 0, at
  // most kMaxPackBytes): store.h's GetObjectRange.
  Result<std::vector<uint8_t>> ReadRange(const std::string& object, uint64_t offset, uint64_t length,
                                         std::vector<uint8_t> body = {}) {
    S3Request req;
    req.object = object_prefix_ + object;
    req.what = "get object " + object;
    req.max_body = length == 0 ? kMaxPackBytes : length;
    if (length > 0) {
      req.range_offset = offset;
      req.range_length = length;
      req.what += " bytes " + std::to_string(offset) + "+" + std::to_string(length);
    }
    AMBER_ASSIGN_OR_RETURN(S3Response r, client_.Execute(req, std::move(body)));
    if (r.http_status == 404) return Status::Error(ENOENT, describe() + ": object " + object + " not found");
    // 416: the object ends before the range starts.
    if (r.http_status == 416 || (S3Client::Success(r) && length > 0 && r.body.size() != length))
      return Status::Error(EBADMSG, describe() + ": " + req.what + ": the object is shorter than the range");
    if (!S3Client::Success(r)) return client_.HttpError(req, r);
    return std::move(r.body);
  }

  Status DeleteObject(const std::string& object, std::string what) {
    S3Request req;
    req.method = "DELETE";
    req.object = object_prefix_ + object;
    req.what = std::move(what);
    AMBER_ASSIGN_OR_RETURN(S3Response r, client_.Execute(req));
    if (S3Client::Success(r) || r.http_status == 404) return Status::OK();  // already gone is gone
    return client_.HttpError(req, r);
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
          {"max-keys", std::to_string(options().list_page_size)}};
      if (!token.empty()) params.emplace_back("continuation-token", token);
      S3Request req;
      req.query = CanonicalQuery(std::move(params));
      req.what = "list " + prefix;
      req.max_body = kMaxListPageBytes;
      AMBER_ASSIGN_OR_RETURN(S3Response r, client_.Execute(req));
      if (!S3Client::Success(r)) return client_.HttpError(req, r);
      Result<S3ListPage> page = ParseListObjectsV2({reinterpret_cast<const char*>(r.body.data()), r.body.size()},
                                                   static_cast<size_t>(options().list_page_size));
      if (!page.ok()) return Status::Error(EIO, describe() + ": " + req.what + ": " + page.status().message());
      for (const std::string& key : page->keys) {
        if (key.compare(0, object_prefix_.size(), object_prefix_) != 0) continue;
        AMBER_RETURN_IF_ERROR(fn(key.substr(object_prefix_.size())));
      }
      token = page->truncated ? page->next_token : std::string();
    } while (!token.empty());
    return Status::OK();
  }

  Status CheckBucket(bool quick) {
    const S3StoreOptions& o = options();
    S3Request req;
    req.method = "HEAD";
    req.what = "HEAD bucket";
    if (quick) {
      req.attempts = 1;
      req.connect_timeout_ms = std::min(options().connect_timeout_ms, S3Store::kQuickConnectMs);
    }
    AMBER_ASSIGN_OR_RETURN(S3Response r, client_.Execute(req));
    if (S3Client::Success(r)) return Status::OK();
    if (!r.bucket_region.empty() && r.bucket_region != o.region) {
      return Status::Error(EINVAL, describe() + ": bucket " + o.bucket + " is in region " + r.bucket_region +
                                       ", not " + o.region + ": put region=" + r.bucket_region + " in the URL");
    }
    if (r.http_status == 404) return Status::Error(ENOENT, describe() + ": bucket " + o.bucket + " does not exist");
    if (r.http_status == 403) {
      return Status::Error(EACCES, describe() + ": access to bucket " + o.bucket +
                                       " denied (HTTP 403): check the S3 credentials");
    }
    return client_.HttpError(req, r);
  }

  Status CreateBucket() {
    const S3StoreOptions& o = options();
    S3Request req;
    req.method = "PUT";
    req.what = "create bucket " + o.bucket;
    std::string config;
    if (o.region != kDefaultS3Region) {
      // Outside us-east-1, AWS wants the region spelled out in the body.
      config = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
               o.region + "</LocationConstraint></CreateBucketConfiguration>";
      req.body = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(config.data()), config.size());
      req.payload_sha256 = Pointer::Of(req.body).Hex();
    }
    AMBER_ASSIGN_OR_RETURN(S3Response r, client_.Execute(req));
    if (S3Client::Success(r)) return Status::OK();
    // "Already exists" is fine if it is ours, which the HEAD proves.
    if (r.http_status == 409 && CheckBucket(false).ok()) return Status::OK();
    Status error = client_.HttpError(req, r);
    return Status::Error(error.code(), error.message() + Hint(r));
  }

 private:
  S3Client client_;
  const std::string object_prefix_;
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
  if (options.description.empty()) {
    StoreUrl url;
    url.kind = StoreUrl::Kind::kS3;
    url.bucket = options.bucket;
    url.prefix = options.prefix;
    url.endpoint = options.endpoint;
    url.region = options.region;
    options.description = CanonicalStoreUrl(url);
  }
  EnsureCurlGlobalInit();
  const S3StoreOptions::BucketAtOpen check = options.bucket_at_open;
  std::unique_ptr<S3Store> store(new S3Store(std::make_unique<Impl>(std::move(options))));
  if (check == S3StoreOptions::BucketAtOpen::kUnchecked) return store;
  Status s = store->CheckBucket(false);
  if (s.code() == ENOENT && check == S3StoreOptions::BucketAtOpen::kCreate) s = store->CreateBucket();
  AMBER_RETURN_IF_ERROR(s);
  return store;
}

std::string S3Store::Describe() const { return impl_->describe(); }

uint64_t S3Store::RemoteRequests() const { return impl_->client().requests(); }

Status S3Store::CheckBucket(bool quick) { return impl_->CheckBucket(quick); }

Status S3Store::CreateBucket() { return impl_->CreateBucket(); }

Status S3Store::Put(const Pointer& key, std::span<const uint8_t> data) {
  AMBER_RETURN_IF_ERROR(impl_->CheckKey(key, "put"));
  if (Pointer::Of(data) != key)
    return Status::Error(EINVAL, Describe() + ": put of blob " + key.Hex() + ": key is not the SHA-256 of the data");
  // The key is the payload hash S3 checks the upload against.
  return impl_->PutObject(BlobObject(key), "put blob " + key.Hex(), data, key.Hex());
}

Result<std::vector<uint8_t>> S3Store::Get(const Pointer& key) {
  AMBER_RETURN_IF_ERROR(impl_->CheckKey(key, "get"));
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> data,
                         impl_->ReadObject("GET", BlobObject(key), "blob " + key.Hex(), kMaxBlobBytes));
  if (Pointer::Of(data) != key) return Status::Error(EBADMSG, Describe() + ": blob " + key.Hex() + " is corrupt");
  return data;
}

Result<bool> S3Store::Contains(const Pointer& key) {
  AMBER_RETURN_IF_ERROR(impl_->CheckKey(key, "contains"));
  auto head = impl_->ReadObject("HEAD", BlobObject(key), "head blob " + key.Hex(), 0);
  if (head.ok()) return true;
  if (head.status().code() == ENOENT) return false;
  return head.status();
}

Status S3Store::Delete(const Pointer& key) {
  AMBER_RETURN_IF_ERROR(impl_->CheckKey(key, "delete"));
  return impl_->DeleteObject(BlobObject(key), "delete blob " + key.Hex());
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
  return impl_->ReadObject("GET", std::string(name), "ref " + std::string(name), kMaxRefBytes);
}

Status S3Store::DeleteRef(std::string_view name) {
  AMBER_RETURN_IF_ERROR(ValidateRefName(name));
  return impl_->DeleteObject(std::string(name), "delete ref " + std::string(name));
}

Result<std::vector<std::string>> S3Store::ListRefs(std::string_view prefix) {
  AMBER_RETURN_IF_ERROR(ValidateRefPrefix(prefix));
  std::vector<std::string> names;
  const size_t limit = impl_->options().max_listed_refs;
  AMBER_RETURN_IF_ERROR(impl_->ListObjects(std::string(prefix), [&](const std::string& name) -> Status {
    // Blobs share the namespace; anything that is not a valid ref name is not a ref.
    if (name.rfind("blobs/", 0) == 0 || !ValidateRefName(name).ok()) return Status::OK();
    if (names.size() == limit) {
      return Status::Error(EFBIG, Describe() + ": more than " + std::to_string(limit) + " refs under \"" +
                                      std::string(prefix) + "\"; not listing further");
    }
    names.push_back(name);
    return Status::OK();
  }));
  std::sort(names.begin(), names.end());
  return names;
}

Status S3Store::PutObject(std::string_view name, std::span<const uint8_t> bytes) {
  AMBER_RETURN_IF_ERROR(ValidateObjectName(name));
  if (bytes.size() > kMaxPackBytes)
    return Status::Error(EINVAL, Describe() + ": put object " + std::string(name) + ": " +
                                     std::to_string(bytes.size()) + " bytes, more than a pack may have");
  // One PUT replaces the object whole: S3 never shows a partial one.
  return impl_->PutObject(std::string(name), "put object " + std::string(name), bytes, Pointer::Of(bytes).Hex());
}

Result<std::vector<uint8_t>> S3Store::GetObjectRange(std::string_view name, uint64_t offset, uint64_t length) {
  std::vector<uint8_t> bytes;
  AMBER_RETURN_IF_ERROR(GetObjectRangeInto(name, offset, length, &bytes));
  return bytes;
}

Status S3Store::GetObjectRangeInto(std::string_view name, uint64_t offset, uint64_t length,
                                   std::vector<uint8_t>* into) {
  AMBER_RETURN_IF_ERROR(ValidateObjectName(name));
  if (length > kMaxPackBytes)
    return Status::Error(EINVAL, Describe() + ": get object " + std::string(name) + ": a read of " +
                                     std::to_string(length) + " bytes, more than a pack has");
  AMBER_ASSIGN_OR_RETURN(*into, impl_->ReadRange(std::string(name), offset, length, std::move(*into)));
  return Status::OK();
}

Status S3Store::ListObjects(std::string_view prefix, const std::function<Status(std::string_view)>& fn) {
  AMBER_RETURN_IF_ERROR(ValidateObjectPrefix(prefix));
  // S3 lists keys in binary order, which is the sorted order asked for.
  return impl_->ListObjects(std::string(prefix), [&](const std::string& name) -> Status {
    if (!ValidateObjectName(name).ok()) {
      LOG_WARN("%s: ignoring stray object %s under %s", Describe().c_str(), name.c_str(), std::string(prefix).c_str());
      return Status::OK();
    }
    return fn(name);
  });
}

Status S3Store::DeleteObject(std::string_view name) {
  AMBER_RETURN_IF_ERROR(ValidateObjectName(name));
  return impl_->DeleteObject(std::string(name), "delete object " + std::string(name));
}

}  // namespace amberfs
