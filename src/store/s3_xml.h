// S3 XML replies: the few elements amberfs reads from the XML bodies an S3
// server sends (a ListObjectsV2 page, an error body). The server is outside
// input: whatever the bytes, these functions return a value or an error and
// never read out of bounds; the cost is linear in the body's size.
//
// This is not a general XML parser. An element is the text between the first
// "<tag>" at or after a position and the next "</tag>"; the text is
// unescaped (the five named entities and &#N; / &#xN; character references
// up to U+10FFFF, written as UTF-8); anything else, an unknown entity
// included, is kept as it is. That is all S3's replies need: keys and tokens
// are escaped by the server and never hold markup.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/status.h"

namespace amberfs {

std::string XmlUnescape(std::string_view text);

// The unescaped text of the first <tag>...</tag> at or after *pos; advances
// *pos past it. False when there is none.
bool NextXmlElement(std::string_view xml, std::string_view tag, size_t* pos, std::string* text);
// The first <tag>'s text, or "" when there is none.
std::string FirstXmlElement(std::string_view xml, std::string_view tag);

// One ListObjectsV2 page: every <Key> in order, and the continuation token
// when the page says it is truncated ("" on the last page). EIO when the body
// is not a ListBucketResult or is truncated without a token.
struct S3ListPage {
  std::vector<std::string> keys;
  std::string next_token;
};
Result<S3ListPage> ParseListBucketResult(std::string_view xml);

}  // namespace amberfs
