// StoreUrl: parsing and printing slow-store URLs, without opening anything.
//
// The accepted forms (the same wherever a URL is taken: mkfs --slow,
// --restore, -o slow=):
//   file:///absolute/path          a DiskStore at that path
//   s3://bucket[/prefix][?endpoint=URL&region=R]
//
// Parsing is strict: every malformed URL is EINVAL with a message naming the
// problem (no scheme, unknown scheme, relative or host-qualified file path,
// empty or invalid bucket, bad prefix component, unknown or repeated query
// key, bad percent-escape, endpoint that is not http(s)://host[:port], invalid
// region, a fragment, credentials in the endpoint). Query values are
// percent-decoded. A URL never carries credentials; an endpoint with
// user:password@ is refused, and the message does not repeat it.
//
// CanonicalStoreUrl prints the parsed form back: normalized (no trailing
// slashes, lowercase endpoint scheme and host, only the query keys that were
// given), safe for logs and config files, and ParseStoreUrl of it gives the
// same StoreUrl.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "amberfs/status.h"

namespace amberfs {

struct StoreUrl {
  enum class Kind { kFile, kS3 };
  Kind kind = Kind::kFile;

  // kFile: an absolute path without a trailing slash ("/" stays "/").
  std::string path;

  // kS3:
  std::string bucket;
  std::string prefix;        // "" or components joined by '/', no leading or trailing '/'
  std::string endpoint;      // "http(s)://host[:port]" as given (normalized), or "" for AWS
  std::string region;        // as given, or "" for the default
  // The endpoint and region to use: the given ones, else AWS in kDefaultRegion.
  std::string EffectiveEndpoint() const;
  std::string EffectiveRegion() const;
};

inline constexpr std::string_view kDefaultS3Region = "us-east-1";

Result<StoreUrl> ParseStoreUrl(std::string_view url);
std::string CanonicalStoreUrl(const StoreUrl& url);

// Checks an S3 bucket name (3-63 of [a-z0-9.-], starting and ending with a
// letter or digit, no "..", not an IPv4 address).
Status ValidateBucketName(std::string_view bucket);

// Checks an S3 key prefix: "" or components of [A-Za-z0-9._-]+ joined by '/',
// none starting with '.', at most 256 characters (so no name built from it
// needs escaping and none can climb out of it).
Status ValidateS3Prefix(std::string_view prefix);

}  // namespace amberfs
