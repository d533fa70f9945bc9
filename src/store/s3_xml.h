// S3 XML: the few S3 response documents amberfs reads, parsed without an XML
// library: ListObjectsV2 pages and error documents.
//
// The parser looks for the elements it needs by their literal tags
// (<Key>...</Key>) and unescapes their text (the five named entities and
// numeric character references &#N; / &#xN;; anything else is kept as it
// is). It never allocates more than the input's size per element, never
// recurses, and accepts any order of elements, so no input makes it crash,
// hang or grow: every byte string is either a page or EBADMSG.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "amberfs/status.h"

namespace amberfs {

// Unescapes XML character data.
std::string XmlUnescape(std::string_view text);

// The unescaped text of the first <tag>...</tag> at or after *pos, advancing
// *pos past it. False (and *pos unchanged) when there is none.
bool NextXmlElement(std::string_view xml, std::string_view tag, size_t* pos, std::string* text);

// The unescaped text of the first <tag>...</tag>, or "" when there is none.
std::string FirstXmlElement(std::string_view xml, std::string_view tag);

// An S3 error document: <Error><Code>..</Code><Message>..</Message></Error>.
// Empty fields when the body is not one (a HEAD has no body at all).
struct S3ErrorBody {
  std::string code;
  std::string message;
};
S3ErrorBody ParseS3Error(std::string_view body);

// One ListObjectsV2 page: the object keys in order, and whether (and with
// which token) the listing goes on. EBADMSG when the body is not a
// ListBucketResult, when it is truncated without a continuation token, or
// when it holds more than max_keys keys (a server may send fewer than asked,
// never more).
struct S3ListPage {
  std::vector<std::string> keys;
  bool truncated = false;
  std::string next_token;
};
Result<S3ListPage> ParseListObjectsV2(std::string_view body, size_t max_keys);

}  // namespace amberfs
