#include "store/s3_xml.h"

#include <doctest/doctest.h>

namespace amberfs {

TEST_CASE("s3_xml: a listing page gives its keys, unescaped, and its continuation token") {
  auto page = ParseListObjectsV2(
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><IsTruncated>true</IsTruncated>"
      "<Contents><Key>p/a&amp;b&#x20;&#233;</Key></Contents><Contents><Key>p/c</Key></Contents>"
      "<NextContinuationToken>tok/en=</NextContinuationToken></ListBucketResult>",
      1000);
  REQUIRE(page.ok());
  CHECK(page->keys == std::vector<std::string>{"p/a&b \xc3\xa9", "p/c"});
  CHECK(page->truncated);
  CHECK(page->next_token == "tok/en=");

  auto last = ParseListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", 1000);
  REQUIRE(last.ok());
  CHECK(last->keys.empty());
  CHECK(last->next_token.empty());
}

TEST_CASE("s3_xml: a body that is no listing, or a truncated one without a token, is EBADMSG") {
  auto error = ParseListObjectsV2("<Error><Code>AccessDenied</Code></Error>", 1000);
  REQUIRE_FALSE(error.ok());
  CHECK(error.status().code() == EBADMSG);
  auto tokenless = ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>", 1000);
  REQUIRE_FALSE(tokenless.ok());
  CHECK(tokenless.status().code() == EBADMSG);
}

TEST_CASE("s3_xml: error bodies and odd entities") {
  const std::string body = "<Error><Code>SlowDown</Code><Message>a &lt;b&gt; &unknown; &#xZZ; &#99999999;</Message></Error>";
  CHECK(FirstXmlElement(body, "Code") == "SlowDown");
  CHECK(FirstXmlElement(body, "Message") == "a <b> &unknown; &#xZZ; &#99999999;");
  CHECK(FirstXmlElement(body, "Missing").empty());
  CHECK(ParseS3Error(body).code == "SlowDown");
  CHECK(FirstXmlElement("<Code>unterminated", "Code").empty());
  CHECK(XmlUnescape("&#128512;") == "\xf0\x9f\x98\x80");
}

}  // namespace amberfs
