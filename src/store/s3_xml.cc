// S3 XML replies: see s3_xml.h.
#include "store/s3_xml.h"

#include <cstdlib>

namespace amberfs {

namespace {

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

}  // namespace

std::string XmlUnescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out += '&';
    else if (ent == "lt") out += '<';
    else if (ent == "gt") out += '>';
    else if (ent == "quot") out += '"';
    else if (ent == "apos") out += '\'';
    else if (ent.size() > 1 && ent[0] == '#') {
      bool hex = ent[1] == 'x' || ent[1] == 'X';
      std::string digits(ent.substr(hex ? 2 : 1));
      char* end = nullptr;
      unsigned long cp = std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (digits.empty() || *end != '\0' || cp > 0x10FFFF) {
        out.append(s.substr(i, semi - i + 1));
      } else {
        AppendUtf8(cp, &out);
      }
    } else {
      out.append(s.substr(i, semi - i + 1));
    }
    i = semi;
  }
  return out;
}

bool NextXmlElement(std::string_view xml, std::string_view tag, size_t* pos, std::string* text) {
  std::string open = "<" + std::string(tag) + ">";
  std::string close = "</" + std::string(tag) + ">";
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

Result<S3ListPage> ParseListBucketResult(std::string_view xml) {
  if (xml.find("<ListBucketResult") == std::string_view::npos)
    return Status::Error(EIO, "the reply is not a ListBucketResult");
  S3ListPage page;
  size_t pos = 0;
  std::string key;
  while (NextXmlElement(xml, "Key", &pos, &key)) page.keys.push_back(std::move(key));
  if (FirstXmlElement(xml, "IsTruncated") == "true") {
    page.next_token = FirstXmlElement(xml, "NextContinuationToken");
    if (page.next_token.empty()) return Status::Error(EIO, "truncated listing without a continuation token");
  }
  return page;
}

}  // namespace amberfs
