// ValidateRefName: the one gate every ref name passes before a path or URL is
// built from it (see store.h for the grammar).
#include <string>
#include <string_view>

#include "store/path_components.h"
#include "store/store.h"

namespace amberfs {

namespace {

constexpr size_t kMaxRefName = 512;

}  // namespace

Status ValidateRefName(std::string_view name) {
  auto bad = [&](const std::string& why) {
    // Quote at most a bounded prefix: the name is untrusted and may be huge.
    std::string shown(name.substr(0, 80));
    return Status::Error(EINVAL, "invalid ref name \"" + shown + (name.size() > 80 ? "..." : "") + "\": " + why);
  };
  if (name.empty()) return bad("empty");
  if (name.size() > kMaxRefName) return bad("longer than 512 characters");
  // The first component alone first: a bad one is reported before it is
  // found reserved, and a reserved one before the rest is looked at.
  const std::string_view first = name.substr(0, name.find('/'));
  if (const char* problem = PathComponentsProblem(first)) return bad(problem);
  // Blobs live under blobs/ in the same namespace, packs and the blob index
  // under packs/ and index/; a ref there could shadow one.
  if (first == "blobs" || first == "packs" || first == "index")
    return bad("\"" + std::string(first) + "\" is reserved for blobs");
  if (const char* problem = PathComponentsProblem(name)) return bad(problem);
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
