#include "amberfs/volume_config.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>
#include <vector>

#include "amberfs/size_parse.h"
#include "base/durable_file.h"
#include "snapshot/change_tracker.h"
#include "snapshot/volume_layout.h"
#include "store/store_url.h"

namespace amberfs {
namespace {

constexpr std::string_view kMagic = "amberfs-volume";

// Why an older volume is refused: what changed since, and that nothing
// converts it.
std::string FormatHint(std::string_view version) {
  if (version == "1")
    return "; version 1 keeps one file per blob, this build keeps blobs in packs and does not migrate: "
           "use the amberfs that made the volume, or make a new one";
  return "";
}

constexpr std::string_view kChecksumKey = "checksum xxh3 ";
constexpr uint32_t kMinBlockSize = 512;
constexpr uint32_t kMaxBlockSize = 64 << 10;
constexpr uint32_t kMinChunkSize = 4 << 10;
constexpr uint32_t kMaxChunkSize = 64 << 20;

Status Invalid(std::string message) { return Status::Error(EINVAL, std::move(message)); }

bool HasControlChars(std::string_view s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

std::string ChecksumHex(std::string_view body) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016" PRIx64, static_cast<uint64_t>(XXH3_64bits(body.data(), body.size())));
  return hex;
}

Result<uint64_t> ParseDecimal(std::string_view key, std::string_view value) {
  uint64_t v = 0;
  if (value.empty() || value.size() > 20) return Invalid("config: bad number for " + std::string(key));
  for (char c : value) {
    if (c < '0' || c > '9') return Invalid("config: bad number for " + std::string(key) + ": '" + std::string(value) + "'");
    uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return Invalid("config: number too large for " + std::string(key));
    v = next;
  }
  return v;
}

}  // namespace

std::string DefaultSlowUrl(const std::string& absolute_voldir) {
  return "file://" + VolumePath(absolute_voldir, kDefaultSlowStoreDir);
}

Status ValidateVolumeGeometry(uint64_t size, uint32_t block_size, uint32_t chunk_size) {
  if (!IsPowerOfTwo(block_size) || block_size < kMinBlockSize || block_size > kMaxBlockSize) {
    return Invalid("block size " + FormatSize(block_size) + " must be a power of two from 512 to 64K");
  }
  if (!IsPowerOfTwo(chunk_size) || chunk_size < kMinChunkSize || chunk_size < block_size ||
      chunk_size > kMaxChunkSize) {
    return Invalid("chunk size " + FormatSize(chunk_size) + " must be a power of two from 4K to 64M and at least "
                   "the block size (" + FormatSize(block_size) + ")");
  }
  if (size == 0) return Invalid("volume size must not be zero");
  if (size % chunk_size != 0) {
    return Invalid("volume size " + FormatSize(size) + " is not a multiple of the chunk size " +
                   FormatSize(chunk_size));
  }
  // The snapshot layer's own rule, so that the two can never disagree.
  return ChangeTracker::CheckGeometry(size, chunk_size);
}

Status VolumeConfig::Validate() const {
  if (!ParseVolumeUuid(uuid).ok()) return Invalid("config: bad uuid '" + uuid + "'");
  AMBER_RETURN_IF_ERROR(ValidateVolumeGeometry(size, block_size, chunk_size));
  if (image.empty() || HasControlChars(image)) return Invalid("config: bad image path");
  if (HasControlChars(slow_url)) return Invalid("config: slow store URL contains control characters");
  Result<StoreUrl> url = ParseStoreUrl(slow_url);
  if (!url.ok()) return url.status().Annotate("slow store URL");
  return Status::OK();
}

std::string VolumeConfig::Serialize() const {
  std::string body;
  body += std::string(kMagic) + " " + std::to_string(format) + "\n";
  body += "uuid " + uuid + "\n";
  body += "size " + std::to_string(size) + "\n";
  body += "block_size " + std::to_string(block_size) + "\n";
  body += "chunk_size " + std::to_string(chunk_size) + "\n";
  body += "image " + image + "\n";
  body += "slow " + slow_url + "\n";
  if (format >= 3) {
    body += std::string("compress ") + (compress ? "zstd" : "none") + "\n";
    body += std::string("encryption ") + (encrypted ? "aes-256-gcm" : "none") + "\n";
  }
  return body + std::string(kChecksumKey) + ChecksumHex(body) + "\n";
}

Result<VolumeConfig> VolumeConfig::Parse(std::string_view text) {
  // The checksum line is last; everything before it is what it covers.
  if (text.empty() || text.back() != '\n') return Invalid("config: truncated (no final newline)");
  size_t last_start = text.rfind('\n', text.size() - 2);
  last_start = last_start == std::string_view::npos ? 0 : last_start + 1;
  std::string_view body = text.substr(0, last_start);
  std::string_view last = text.substr(last_start, text.size() - last_start - 1);
  if (!last.starts_with(kChecksumKey)) return Invalid("config: no checksum line (torn or truncated file?)");
  if (last.substr(kChecksumKey.size()) != ChecksumHex(body)) {
    return Invalid("config: checksum mismatch (the file is torn or was edited by hand)");
  }

  VolumeConfig c;
  enum Seen : unsigned {
    kUuid = 1, kSize = 2, kBlock = 4, kChunk = 8, kImage = 16, kSlow = 32, kAll2 = 63,
    kCompress = 64, kEncryption = 128, kAll3 = 255
  };
  unsigned seen = 0;
  bool first = true;
  while (!body.empty()) {
    size_t nl = body.find('\n');
    std::string_view line = body.substr(0, nl);
    body.remove_prefix(nl + 1);
    size_t space = line.find(' ');
    if (space == std::string_view::npos) return Invalid("config: malformed line '" + std::string(line) + "'");
    std::string_view key = line.substr(0, space);
    std::string_view value = line.substr(space + 1);
    if (first) {
      if (key != kMagic) return Invalid("config: not an amberfs volume config (bad magic)");
      if (value == "2") {
        c.format = 2;
        c.compress = false;
      } else if (value != std::to_string(kVolumeFormatVersion)) {
        return Invalid("config: format version " + std::string(value) + " is not supported (this amberfs reads 2 and " +
                       std::to_string(kVolumeFormatVersion) + FormatHint(value) + ")");
      }
      first = false;
      continue;
    }
    auto mark = [&](unsigned bit) -> Status {
      if (seen & bit) return Invalid("config: duplicate key '" + std::string(key) + "'");
      seen |= bit;
      return Status::OK();
    };
    if (key == "uuid") {
      AMBER_RETURN_IF_ERROR(mark(kUuid));
      c.uuid = value;
    } else if (key == "size") {
      AMBER_RETURN_IF_ERROR(mark(kSize));
      AMBER_ASSIGN_OR_RETURN(c.size, ParseDecimal(key, value));
    } else if (key == "block_size" || key == "chunk_size") {
      bool block = key == "block_size";
      AMBER_RETURN_IF_ERROR(mark(block ? kBlock : kChunk));
      AMBER_ASSIGN_OR_RETURN(uint64_t v, ParseDecimal(key, value));
      if (v > UINT32_MAX) return Invalid("config: " + std::string(key) + " too large");
      (block ? c.block_size : c.chunk_size) = static_cast<uint32_t>(v);
    } else if (key == "image") {
      AMBER_RETURN_IF_ERROR(mark(kImage));
      c.image = value;
    } else if (key == "slow") {
      AMBER_RETURN_IF_ERROR(mark(kSlow));
      c.slow_url = value;
    } else if (key == "compress" && c.format >= 3) {
      AMBER_RETURN_IF_ERROR(mark(kCompress));
      if (value != "zstd" && value != "none") return Invalid("config: compress must be zstd or none");
      c.compress = value == "zstd";
    } else if (key == "encryption" && c.format >= 3) {
      AMBER_RETURN_IF_ERROR(mark(kEncryption));
      if (value != "aes-256-gcm" && value != "none") return Invalid("config: encryption must be aes-256-gcm or none");
      c.encrypted = value == "aes-256-gcm";
    } else {
      return Invalid("config: unknown key '" + std::string(key) + "'");
    }
  }
  if (first) return Invalid("config: empty");
  if (seen != (c.format >= 3 ? kAll3 : kAll2)) return Invalid("config: missing keys");
  AMBER_RETURN_IF_ERROR(c.Validate());
  return c;
}

std::string VolumeConfig::ImagePath(const std::string& voldir) const {
  if (!image.empty() && image[0] == '/') return image;
  return VolumePath(voldir, image);
}

Result<VolumeConfig> VolumeConfig::Load(const std::string& voldir) {
  const std::string path = VolumePath(voldir, kConfigFile);
  Result<std::vector<uint8_t>> bytes = ReadSmallFile(path, 64 << 10);
  if (!bytes.ok()) {
    if (bytes.status().code() == ENOENT) {
      return Status::Error(ENOENT, voldir + " is not an amberfs volume (no config file; create one with mkfs.amberfs)");
    }
    return bytes.status();
  }
  Result<VolumeConfig> c = Parse(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()));
  if (!c.ok()) return c.status().Annotate(path);
  return c;
}

Status VolumeConfig::Store(const std::string& voldir) const {
  AMBER_RETURN_IF_ERROR(Validate());
  const std::string text = Serialize();
  return WriteFileAtomic(voldir, kConfigFile,
                         std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()),
                         /*no_replace=*/false);
}

}  // namespace amberfs
