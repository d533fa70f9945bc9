// Reading a passphrase from a key file (`--key-file FILE`, `-o key_file=FILE`).
//
// The passphrase is the file's whole content with one trailing "\n" dropped
// (so `echo secret > FILE` and `printf secret > FILE` give the same key; a
// second newline, a "\r" or spaces are part of the passphrase). Bytes are
// taken as they are: no encoding is assumed.
//
// Errors name the file: ENOENT/EACCES/... from open (strerror), EISDIR for a
// directory, EFBIG over kMaxKeyFileBytes, EINVAL for an empty passphrase
// (an empty file, or one holding only "\n"). The bytes read are kept only in
// a SecretBytes (wiped when dropped).
//
// Thread-safety: reentrant.
#pragma once

#include <cstddef>
#include <string>

#include "amberfs/status.h"
#include "crypto/secret.h"

namespace amberfs {

inline constexpr size_t kMaxKeyFileBytes = 64 * 1024;

Result<SecretBytes> ReadKeyFile(const std::string& path);

}  // namespace amberfs
