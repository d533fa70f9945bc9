// The path rule that ref names and S3 key prefixes share: components of
// [A-Za-z0-9._-]+ joined by '/', none starting with '.'. A name that keeps it
// needs no escaping in a path or URL and cannot climb out of the directory or
// prefix it is joined to ("", "." and ".." are no components).
//
// Thread-safety: a pure function.
#pragma once

#include <string_view>

namespace amberfs {

// Why `path` breaks the rule, or null when it keeps it. The components are
// checked in order and the first bad one is reported; the empty path is one
// empty component.
const char* PathComponentsProblem(std::string_view path);

}  // namespace amberfs
