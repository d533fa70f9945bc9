// Fuzz target: slow-store URLs (ParseStoreUrl, CanonicalStoreUrl), given on
// mkfs's command line, in -o slow= and read back from the volume config.
//
// Invariants: every error is EINVAL; a parsed URL prints (canonically) to a
// URL that parses to the same StoreUrl and prints to the same text again; a
// parsed file path is absolute, and an S3 bucket and prefix pass their own
// validators.
#include <cstdint>
#include <string>

#include "fuzz/fuzz_support.h"
#include "store/store_url.h"

using namespace amberfs;

namespace {

bool Same(const StoreUrl& a, const StoreUrl& b) {
  return a.kind == b.kind && a.path == b.path && a.bucket == b.bucket && a.prefix == b.prefix &&
         a.endpoint == b.endpoint && a.region == b.region;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::QuietLogs();
  const std::string_view text = fuzz::AsText({data, size});

  // The validators also run alone (S3StoreOptions takes a bucket and prefix).
  Status bucket = ValidateBucketName(text);
  FUZZ_CHECK(bucket.ok() || bucket.code() == EINVAL, "ValidateBucketName: " + bucket.ToString());
  Status prefix = ValidateS3Prefix(text);
  FUZZ_CHECK(prefix.ok() || prefix.code() == EINVAL, "ValidateS3Prefix: " + prefix.ToString());

  Result<StoreUrl> url = ParseStoreUrl(text);
  if (!url.ok()) {
    FUZZ_CHECK(url.status().code() == EINVAL, "a URL error is not EINVAL: " + url.status().ToString());
    return 0;
  }
  if (url->kind == StoreUrl::Kind::kFile) {
    FUZZ_CHECK(!url->path.empty() && url->path[0] == '/', "a file URL with a relative path");
  } else {
    FUZZ_CHECK(ValidateBucketName(url->bucket).ok(), "a parsed bucket fails its validator");
    FUZZ_CHECK(ValidateS3Prefix(url->prefix).ok(), "a parsed prefix fails its validator");
    (void)url->EffectiveEndpoint();
    (void)url->EffectiveRegion();
  }
  const std::string canonical = CanonicalStoreUrl(*url);
  Result<StoreUrl> again = ParseStoreUrl(canonical);
  FUZZ_CHECK(again.ok(), "the canonical URL does not parse: " + canonical +
                             (again.ok() ? "" : " (" + again.status().message() + ")"));
  FUZZ_CHECK(Same(*url, *again), "the canonical URL parses to another URL: " + canonical);
  FUZZ_CHECK(CanonicalStoreUrl(*again) == canonical, "printing is not stable: " + canonical);
  return 0;
}
