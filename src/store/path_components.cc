#include "store/path_components.h"

namespace amberfs {

namespace {

bool IsComponentChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '-';
}

}  // namespace

const char* PathComponentsProblem(std::string_view path) {
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string_view part =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty()) return "empty path component";
    if (part[0] == '.') return "a component starts with '.'";
    for (char c : part)
      if (!IsComponentChar(c)) return "a character outside [A-Za-z0-9._-/]";
    if (slash == std::string_view::npos) return nullptr;
    start = slash + 1;
  }
}

}  // namespace amberfs
