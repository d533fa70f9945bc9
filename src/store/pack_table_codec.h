// PackTableCodec: how an encrypted volume seals the entry table of its packs
// (pack format version 2, pack_format.h; docs/FORMATS.md, "Packs").
//
// A pack's table lists every blob's id, offset, length and kind: in the
// clear it tells an observer of the stores how many chunks, nodes and
// records each snapshot wrote and how large each one is stored. An
// encrypted volume's packs carry the table sealed (AES-256-GCM) instead; the
// store layer knows nothing of keys, so whoever holds the volume's key hands
// its packs, pack readers and the slow store's pack map one of these
// (snapshot/volume_codec.h makes it).
//
// Contract: Seal(binding, table) gives bytes that only Open with the same
// binding and the same key turns back into table; a flipped bit, another
// binding (the pack's clear trailer fields, so those cannot be altered
// either) or a truncation is EBADMSG, a table sealed under another key is
// EACCES (a pack of another volume in a shared store: not ours to read,
// not damage). Open never returns unauthenticated bytes. A sealed table is
// at most kMaxPackTableSealBytes longer than the table.
//
// Thread-safety: implementations are immutable; any number of threads may
// call them at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "amberfs/status.h"

namespace amberfs {

inline constexpr size_t kMaxPackTableSealBytes = 64;

class PackTableCodec {
 public:
  virtual ~PackTableCodec() = default;
  virtual Result<std::vector<uint8_t>> Seal(std::string_view binding, std::span<const uint8_t> table) const = 0;
  // `what` names the pack in errors.
  virtual Result<std::vector<uint8_t>> Open(std::string_view binding, std::span<const uint8_t> sealed,
                                            const std::string& what) const = 0;
};

}  // namespace amberfs
