// Naming stores in messages: a line names each store once.
//
// Every Store's errors name their store (S3Store starts them with its URL,
// DiskStore names the files it touched), so a message that quotes a store's
// error adds the store's name (its Describe()) only when the quote does not
// carry it already. These helpers make that choice at each such place.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "amberfs/status.h"

namespace amberfs {

// Whether `text` names the store whose Describe() is `store_name`.
inline bool NamesStore(std::string_view text, std::string_view store_name) {
  return !store_name.empty() && text.find(store_name) != std::string_view::npos;
}

// `lead` + `store_name` (e.g. " to " + URL), or "" when `quoted` names the
// store already.
inline std::string StoreNameUnlessQuoted(std::string_view lead, std::string_view store_name, std::string_view quoted) {
  if (NamesStore(quoted, store_name)) return "";
  return std::string(lead) + std::string(store_name);
}

// `text`, after "`prefix`: " unless `text` names the store already (the
// prefix being a name that contains it, such as a PairedStore's).
inline std::string PrefixUnlessNamed(std::string_view prefix, std::string_view store_name, std::string text) {
  if (NamesStore(text, store_name)) return text;
  return std::string(prefix) + ": " + text;
}

// `error` annotated with `context` (which names the store), or with
// `unnamed_context` when the error names the store already.
inline Status AnnotateNamingOnce(const Status& error, std::string_view store_name, std::string_view context,
                                 std::string_view unnamed_context) {
  return error.Annotate(NamesStore(error.message(), store_name) ? unnamed_context : context);
}

}  // namespace amberfs
