// Volume layout: names in VOLDIR and the slow store, the uuid (see volume_layout.h).
#include "snapshot/volume_layout.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

namespace amberfs {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string VolumeRefPrefix(std::string_view uuid) { return "volumes/" + std::string(uuid) + "/"; }

}  // namespace

std::string VolumePath(const std::string& voldir, std::string_view name) { return voldir + "/" + std::string(name); }

std::string VolumeConfigRef(std::string_view uuid) { return VolumeRefPrefix(uuid) + kConfigFile; }
std::string VolumeKeyRef(std::string_view uuid) { return VolumeRefPrefix(uuid) + kKeyFile; }
std::string SnapshotRefPrefix(std::string_view uuid) { return VolumeRefPrefix(uuid) + "snapshots/"; }
std::string SnapshotRef(std::string_view uuid, std::string_view name) {
  return SnapshotRefPrefix(uuid) + std::string(name);
}
std::string BaseRef(std::string_view uuid) { return VolumeRefPrefix(uuid) + "base"; }

Result<std::string> NewVolumeUuid() {
  VolumeUuid b;
  size_t got = 0;
  while (got < b.size()) {
    ssize_t n = ::getrandom(b.data() + got, b.size() - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "getrandom");
    }
    got += static_cast<size_t>(n);
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return FormatVolumeUuid(b);
}

Result<VolumeUuid> ParseVolumeUuid(std::string_view text) {
  VolumeUuid out{};
  static constexpr size_t kDashes[] = {8, 13, 18, 23};
  if (text.size() != 36) return Status::Error(EINVAL, "volume uuid '" + std::string(text) + "' is not 36 characters");
  size_t byte = 0;
  for (size_t i = 0; i < text.size();) {
    if (std::find(std::begin(kDashes), std::end(kDashes), i) != std::end(kDashes)) {
      if (text[i] != '-') break;
      ++i;
      continue;
    }
    int hi = HexDigit(text[i]), lo = i + 1 < text.size() ? HexDigit(text[i + 1]) : -1;
    if (hi < 0 || lo < 0) break;
    out[byte++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  if (byte != out.size()) {
    return Status::Error(EINVAL, "volume uuid '" + std::string(text) + "' is not of the form "
                                 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (lowercase hex)");
  }
  return out;
}

std::string FormatVolumeUuid(const VolumeUuid& uuid) {
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[uuid[i] >> 4];
    s += kHex[uuid[i] & 15];
  }
  return s;
}

}  // namespace amberfs
