// S3 XML: see s3_xml.h.
#include "store/s3_xml.h"

#include <cstdlib>

namespace amberfs {
namespace {

// Appends code point cp (at most 0x10FFFF) as UTF-8.
void AppendUtf8(unsigned long cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Appends what entity `ent` (the text between '&' and ';') stands for;
// false if it is not one we know.
bool AppendEntity(std::string_view ent, std::string* out) {
  if (ent == "amp") *out += '&';
  else if (ent == "lt") *out += '<';
  else if (ent == "gt") *out += '>';
  else if (ent == "quot") *out += '"';
  else if (ent == "apos") *out += '\'';
  else if (ent.size() > 1 && ent[0] == '#') {
    const bool hex = ent[1] == 'x' || ent[1] == 'X';
    const std::string digits(ent.substr(hex ? 2 : 1));
    if (digits.empty() || digits[0] == '-' || digits[0] == '+' || digits[0] == ' ') return false;
    char* end = nullptr;
    unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
    if (*end != '\0' || cp > 0x10FFFF) return false;
    AppendUtf8(cp, out);
  } else {
    return false;
  }
  return true;
}

}  // namespace

std::string XmlUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    // Entities are short; a lone '&' is kept as it is.
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10 || !AppendEntity(s.substr(i + 1, semi - i - 1), &out)) {
      out += s[i];
      continue;
    }
    i = semi;
  }
  return out;
}

bool NextXmlElement(std::string_view xml, std::string_view tag, size_t* pos, std::string* text) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  if (*pos > xml.size()) return false;
  size_t b = xml.find(open, *pos);
  if (b == std::string_view::npos) return false;
  b += open.size();
  size_t e = xml.find(close, b);
  if (e == std::string_view::npos) return false;
  *text = XmlUnescape(xml.substr(b, e - b));
  *pos = e + close.size();
  return true;
}

std::string FirstXmlElement(std::string_view xml, std::string_view tag) {
  size_t pos = 0;
  std::string text;
  return NextXmlElement(xml, tag, &pos, &text) ? text : std::string();
}

S3ErrorBody ParseS3Error(std::string_view body) {
  if (body.find("<Error") == std::string_view::npos) return {};
  return S3ErrorBody{FirstXmlElement(body, "Code"), FirstXmlElement(body, "Message")};
}

Result<S3ListPage> ParseListObjectsV2(std::string_view body, size_t max_keys) {
  if (body.find("<ListBucketResult") == std::string_view::npos)
    return Status::Error(EBADMSG, "the reply is not a ListBucketResult");
  S3ListPage page;
  size_t pos = 0;
  std::string key;
  while (NextXmlElement(body, "Key", &pos, &key)) {
    if (page.keys.size() == max_keys)
      return Status::Error(EBADMSG, "the reply lists more than the " + std::to_string(max_keys) + " keys asked for");
    page.keys.push_back(std::move(key));
  }
  page.truncated = FirstXmlElement(body, "IsTruncated") == "true";
  if (page.truncated) {
    page.next_token = FirstXmlElement(body, "NextContinuationToken");
    if (page.next_token.empty()) return Status::Error(EBADMSG, "truncated listing without a continuation token");
  }
  return page;
}

}  // namespace amberfs
