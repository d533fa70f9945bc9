// Fuzz target: the XML an S3 server sends (ParseListObjectsV2 for
// ListObjectsV2 pages; ParseS3Error and FirstXmlElement for error bodies;
// XmlUnescape). The server is outside input: a hostile or broken bucket
// endpoint may send anything.
//
// Input: one flags byte. Without bit 0 the rest is a reply body. With it the
// rest builds a listing (keys, a truncation flag, a token) that is escaped
// the way S3 escapes, and the parse must give exactly those keys and token.
//
// Invariants: no crash and no unbounded growth (unescaping never makes text
// longer); a parsed page that is truncated has a token; every key is the
// unescaped text of a <Key> element; escaped keys round-trip.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "store/s3_xml.h"

using namespace amberfs;

namespace {

constexpr size_t kMaxKeys = 1000;

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

void RoundTrip(FuzzedDataProvider& in) {
  std::vector<std::string> keys(in.ConsumeIntegralInRange(0, 20));
  for (std::string& k : keys) k = in.ConsumeRandomLengthString(100);
  const bool truncated = in.ConsumeBool();
  const std::string token = in.ConsumeRandomLengthString(60);
  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>";
  for (const std::string& k : keys) xml += "<Contents><Key>" + Escape(k) + "</Key><Size>1</Size></Contents>";
  xml += std::string("<IsTruncated>") + (truncated ? "true" : "false") + "</IsTruncated>";
  if (truncated) xml += "<NextContinuationToken>" + Escape(token) + "</NextContinuationToken>";
  xml += "</ListBucketResult>";
  Result<S3ListPage> page = ParseListObjectsV2(xml, kMaxKeys);
  if (truncated && token.empty()) {
    FUZZ_CHECK(!page.ok() && page.status().code() == EBADMSG, "a truncated page without a token was accepted");
    return;
  }
  FUZZ_CHECK(page.ok(), "a well-formed listing was refused: " + page.status().ToString());
  FUZZ_CHECK(page->keys == keys, "the keys did not round-trip");
  FUZZ_CHECK(page->truncated == truncated, "the truncation flag did not round-trip");
  FUZZ_CHECK(page->next_token == (truncated ? token : ""), "the token did not round-trip");
}

void ParseBody(uint8_t /*flags*/, std::span<const uint8_t> input) {
  const std::string_view body = fuzz::AsText(input);
  FUZZ_CHECK(XmlUnescape(body).size() <= body.size(), "unescaping made the text longer");
  for (const char* tag : {"Code", "Message", "Key"}) FUZZ_CHECK(FirstXmlElement(body, tag).size() <= body.size(), tag);
  const S3ErrorBody error = ParseS3Error(body);
  // Each field on its own: the elements are found one by one, so a hostile
  // body may make them overlap (<Message><Code>..</Message>..</Code>).
  FUZZ_CHECK(error.code.size() <= body.size() && error.message.size() <= body.size(),
             "an error field holds more than the body");
  Result<S3ListPage> page = ParseListObjectsV2(body, kMaxKeys);
  if (!page.ok()) {
    FUZZ_CHECK(page.status().code() == EBADMSG, "a listing error is not EBADMSG: " + page.status().ToString());
    return;
  }
  FUZZ_CHECK(page->keys.size() <= kMaxKeys, "a page held more keys than asked for");
  size_t total = 0;
  for (const std::string& k : page->keys) total += k.size() + 11;  // each came from <Key>...</Key>
  FUZZ_CHECK(total <= body.size(), "the keys hold more text than the body");
  if (FirstXmlElement(body, "IsTruncated") == "true") FUZZ_CHECK(!page->next_token.empty(), "truncated without a token");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return fuzz::FlaggedInput(data, size, 1, RoundTrip, ParseBody);
}
