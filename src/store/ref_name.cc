// ValidateRefName: the one gate every ref name passes before a path or URL is
// built from it (see store.h for the grammar).
#include <string>
#include <string_view>

#include "store/store.h"

namespace amberfs {

namespace {

constexpr size_t kMaxRefName = 512;

bool IsRefChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

Status ValidateRefName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    // Quote at most a bounded prefix: the name is untrusted and may be huge.
    std::string shown(name.substr(0, 80));
    return Status::Error(EINVAL, "invalid ref name \"" + shown + (name.size() > 80 ? "..." : "") + "\": " + why);
  };
  if (name.empty()) return bad("empty");
  if (name.size() > kMaxRefName) return bad("longer than 512 characters");
  size_t start = 0;
  bool first = true;
  while (true) {
    size_t slash = name.find('/', start);
    std::string_view part = name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return bad("empty path component");
    if (part[0] == '.') return bad("a component starts with '.'");
    for (char c : part)
      if (!IsRefChar(c)) return bad("a character outside [A-Za-z0-9._-/]");
    // Blobs live under blobs/ in the same namespace; a ref there could shadow one.
    if (first && part == "blobs") return bad("\"blobs\" is reserved for blobs");
    first = false;
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::OK();
}

Status ValidateRefPrefix(std::string_view prefix) {
  if (prefix.empty()) return Status::OK();
  std::string probe(prefix);
  // A partial or trailing-slash prefix is valid if completing it makes a valid name.
  if (probe.back() == '/') probe += 'x';
  Status s = ValidateRefName(probe);
  if (!s.ok()) return Status::Error(EINVAL, "invalid ref prefix: " + s.message());
  return Status::OK();
}

}  // namespace amberfs
