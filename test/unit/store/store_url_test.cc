#include "store/store_url.h"

#include <doctest/doctest.h>

#include <string>

#include "store/store.h"

namespace amberfs {

TEST_CASE("ParseStoreUrl: file URLs") {
  auto u = ParseStoreUrl("file:///srv/archive");
  REQUIRE(u.ok());
  CHECK(u->kind == StoreUrl::Kind::kFile);
  CHECK(u->path == "/srv/archive");
  CHECK(CanonicalStoreUrl(*u) == "file:///srv/archive");

  CHECK(ParseStoreUrl("file:///srv//archive///").value().path == "/srv/archive");
  CHECK(ParseStoreUrl("file:///").value().path == "/");
  auto spaced = ParseStoreUrl("file:///mnt/my%20disk/a%25b");
  REQUIRE(spaced.ok());
  CHECK(spaced->path == "/mnt/my disk/a%b");
  CHECK(CanonicalStoreUrl(*spaced) == "file:///mnt/my%20disk/a%25b");
  CHECK(ParseStoreUrl(CanonicalStoreUrl(*spaced)).value().path == spaced->path);
}

TEST_CASE("CanonicalStoreUrl: a file path with DEL prints to a URL that parses back (found by fuzzing)") {
  auto del = ParseStoreUrl("file:///srv/a%7Fb");
  REQUIRE(del.ok());
  CHECK(del->path == "/srv/a\x7f" "b");
  CHECK(CanonicalStoreUrl(*del) == "file:///srv/a%7Fb");
  auto again = ParseStoreUrl(CanonicalStoreUrl(*del));
  REQUIRE(again.ok());
  CHECK(again->path == del->path);
}

TEST_CASE("ParseStoreUrl: s3 URLs") {
  auto u = ParseStoreUrl("s3://my-bucket");
  REQUIRE(u.ok());
  CHECK(u->kind == StoreUrl::Kind::kS3);
  CHECK(u->bucket == "my-bucket");
  CHECK(u->prefix.empty());
  CHECK(u->endpoint.empty());
  CHECK(u->region.empty());
  CHECK(u->EffectiveRegion() == "us-east-1");
  CHECK(u->EffectiveEndpoint() == "https://s3.us-east-1.amazonaws.com");
  CHECK(CanonicalStoreUrl(*u) == "s3://my-bucket");

  auto full = ParseStoreUrl("s3://b.example-1/team/vol1/?endpoint=http%3A%2F%2F127.0.0.1%3A9000&region=eu-west-1");
  REQUIRE_MESSAGE(full.ok(), full.status().ToString());
  CHECK(full->bucket == "b.example-1");
  CHECK(full->prefix == "team/vol1");
  CHECK(full->endpoint == "http://127.0.0.1:9000");
  CHECK(full->region == "eu-west-1");
  CHECK(full->EffectiveEndpoint() == "http://127.0.0.1:9000");
  std::string canonical = CanonicalStoreUrl(*full);
  CHECK(canonical == "s3://b.example-1/team/vol1?endpoint=http://127.0.0.1:9000&region=eu-west-1");
  auto again = ParseStoreUrl(canonical);
  REQUIRE(again.ok());
  CHECK(CanonicalStoreUrl(*again) == canonical);

  // Endpoint normalization: scheme and host lowercase, no trailing slash, port kept.
  auto upper = ParseStoreUrl("s3://bkt?endpoint=HTTPS://S3.Example.COM:8443/");
  REQUIRE(upper.ok());
  CHECK(upper->endpoint == "https://s3.example.com:8443");
  CHECK(ParseStoreUrl("s3://bkt?endpoint=http://[::1]:9000").value().endpoint == "http://[::1]:9000");
  CHECK(ParseStoreUrl("s3://bkt?region=ap-south-2").value().EffectiveEndpoint() ==
        "https://s3.ap-south-2.amazonaws.com");
  // Query order does not matter.
  CHECK(CanonicalStoreUrl(ParseStoreUrl("s3://bkt?region=r1&endpoint=http://h").value()) ==
        "s3://bkt?endpoint=http://h&region=r1");
}

TEST_CASE("ParseStoreUrl: every malformed URL is EINVAL with a reason") {
  const char* bad[] = {
      "",                                          // empty
      "/srv/archive",                              // no scheme
      "srv/archive",                               // no scheme
      "file:/srv/archive",                         // no "//"
      "ftp://host/x",                              // unknown scheme
      "S3://bucket",                               // schemes are lowercase
      "file://",                                   // no path
      "file://relative/path",                      // a host, not a path
      "file://localhost/srv",                      // hosts are not supported
      "file:///srv/a?x=1",                         // query on a file URL
      "file:///srv/a%2",                           // truncated escape
      "file:///srv/a%zz",                          // non-hex escape
      "file:///srv/a%00b",                         // NUL
      "file:///srv/a b",                           // raw space
      "file:///srv/a#frag",                        // fragment
      "s3://",                                     // empty bucket
      "s3:///prefix",                              // empty bucket
      "s3://?endpoint=http://h",                   // empty bucket
      "s3://ab",                                   // too short
      "s3://Bucket",                               // uppercase
      "s3://b_c_d",                                // underscore
      "s3://-abc",                                 // must start with alnum
      "s3://abc-",                                 // must end with alnum
      "s3://a..b",                                 // double dot
      "s3://192.168.1.10",                         // IP-like
      "s3://bucket/a//b",                          // empty prefix component
      "s3://bucket/../x",                          // dot component
      "s3://bucket/.hidden",                       // dot component
      "s3://bucket/a%20b",                         // prefix characters are plain
      "s3://bucket?foo=1",                         // unknown key
      "s3://bucket?Endpoint=http://h",             // keys are case-sensitive
      "s3://bucket?region",                        // no '='
      "s3://bucket?&",                             // empty parameter
      "s3://bucket?region=us-east-1&",             // trailing empty parameter
      "s3://bucket?region=",                       // empty region
      "s3://bucket?region=US-EAST-1",              // region charset
      "s3://bucket?region=a&region=b",             // repeated
      "s3://bucket?endpoint=http://a&endpoint=http://b",
      "s3://bucket?endpoint=127.0.0.1:9000",       // endpoint without scheme
      "s3://bucket?endpoint=ftp://h",              // bad endpoint scheme
      "s3://bucket?endpoint=http://",              // no host
      "s3://bucket?endpoint=http://:9000",         // no host
      "s3://bucket?endpoint=http://h:",            // empty port
      "s3://bucket?endpoint=http://h:0",           // port range
      "s3://bucket?endpoint=http://h:65536",       // port range
      "s3://bucket?endpoint=http://h:9x",          // port digits
      "s3://bucket?endpoint=http://h/sub",         // path
      "s3://bucket?endpoint=http%3A%2F%2Fh%3Fq",   // decoded query in endpoint
      "s3://bucket?endpoint=http://h%2",           // bad escape
      "s3://bucket?endpoint=http://ho%20st",       // space in host
      "s3://bucket#x",                             // fragment
  };
  for (const char* url_text : bad) {
    std::string url = url_text;
    CAPTURE(url);
    auto r = ParseStoreUrl(url);
    CHECK(r.status().code() == EINVAL);
    CHECK(r.status().message().rfind("invalid store URL: ", 0) == 0);
    CHECK(r.status().message().size() > std::string("invalid store URL: ").size());
    // Nothing is opened for a bad URL either.
    CHECK(OpenStoreUrl(url).status().code() == EINVAL);
  }
}

TEST_CASE("ParseStoreUrl: credentials in an endpoint are refused and not echoed") {
  auto r = ParseStoreUrl("s3://bucket?endpoint=http://AKIAEXAMPLE:hunter2secret@127.0.0.1:9000");
  CHECK(r.status().code() == EINVAL);
  CHECK(r.status().message().find("hunter2secret") == std::string::npos);
  CHECK(r.status().message().find("AKIAEXAMPLE") == std::string::npos);
  CHECK(r.status().message().find("credentials") != std::string::npos);
}

TEST_CASE("ValidateS3Prefix") {
  CHECK(ValidateS3Prefix("").ok());
  CHECK(ValidateS3Prefix("blobs").ok());  // only refs reserve "blobs"
  CHECK(ValidateS3Prefix("team-1/vol_2.x").ok());
  CHECK(ValidateS3Prefix(std::string(256, 'p')).ok());
  CHECK(ValidateS3Prefix(std::string(257, 'p')).code() == EINVAL);
  for (const char* bad : {"/a", "a/", "a//b", ".a", "a/..", "a b", "a%2F", "a\\b"}) {
    CAPTURE(bad);
    CHECK(ValidateS3Prefix(bad).code() == EINVAL);
  }
  CHECK(ParseStoreUrl("s3://bkt/blobs/x").value().prefix == "blobs/x");
}

TEST_CASE("ValidateBucketName") {
  CHECK(ValidateBucketName("abc").ok());
  CHECK(ValidateBucketName("my.bucket-1").ok());
  CHECK(ValidateBucketName(std::string(63, 'a')).ok());
  CHECK(ValidateBucketName(std::string(64, 'a')).code() == EINVAL);
  CHECK(ValidateBucketName("1.2.3.4").code() == EINVAL);
  CHECK(ValidateBucketName("1.2.3.4a").ok());
}

}  // namespace amberfs
