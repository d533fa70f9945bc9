// Memory limit of this process (see memory_limit.h).
#include "volume/memory_limit.h"

#include <charconv>
#include <string_view>
#include <vector>

#include "amberfs/size_parse.h"
#include "base/durable_file.h"

namespace amberfs {
namespace {

// A cgroup limit at or above this is "no limit" (v1 writes 2^63 rounded down to a page).
constexpr uint64_t kNoLimit = 1ull << 62;

Result<std::string> ReadText(const std::string& path) {
  AMBER_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, ReadSmallFile(path, 1 << 20));
  return std::string(bytes.begin(), bytes.end());
}

bool ParseNumber(std::string_view text, uint64_t* out) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

Result<uint64_t> MemTotal() {
  AMBER_ASSIGN_OR_RETURN(std::string info, ReadText("/proc/meminfo"));
  const size_t at = info.find("MemTotal:");
  if (at == std::string::npos) return Status::Error(EIO, "/proc/meminfo has no MemTotal line");
  size_t p = at + 9;
  while (p < info.size() && info[p] == ' ') ++p;
  size_t e = p;
  while (e < info.size() && info[e] >= '0' && info[e] <= '9') ++e;
  uint64_t kib = 0;
  if (!ParseNumber(std::string_view(info).substr(p, e - p), &kib)) {
    return Status::Error(EIO, "/proc/meminfo: unreadable MemTotal");
  }
  return kib << 10;
}

// The lowest limit in `file` of the cgroup directory `dir` and its ancestors
// up to `root`; kNoLimit when there is none.
void LowestCgroupLimit(const std::string& root, std::string dir, const char* file, MemoryLimit* best) {
  for (;;) {
    const std::string path = root + dir + (dir.empty() || dir.back() == '/' ? "" : "/") + file;
    Result<std::string> text = ReadText(path);
    uint64_t v = 0;
    if (text.ok() && ParseNumber(*text, &v) && v < kNoLimit && v < best->bytes) {
      best->bytes = v;
      best->source = "cgroup limit " + path;
    }
    if (dir.empty() || dir == "/") return;
    const size_t slash = dir.rfind('/');
    dir = slash == 0 || slash == std::string::npos ? "/" : dir.substr(0, slash);
  }
}

}  // namespace

Result<MemoryLimit> ReadMemoryLimit() {
  MemoryLimit limit;
  AMBER_ASSIGN_OR_RETURN(limit.bytes, MemTotal());
  limit.source = "MemTotal";
  Result<std::string> cgroups = ReadText("/proc/self/cgroup");
  if (!cgroups.ok()) return limit;  // no cgroups: the machine's memory is the limit
  std::string_view rest = *cgroups;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    // "hierarchy-id:controllers:path"
    const size_t a = line.find(':'), b = a == std::string_view::npos ? a : line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    const std::string_view controllers = line.substr(a + 1, b - a - 1);
    const std::string path(line.substr(b + 1));
    if (line.substr(0, a) == "0" && controllers.empty()) {
      LowestCgroupLimit("/sys/fs/cgroup", path, "memory.max", &limit);
    } else if (("," + std::string(controllers) + ",").find(",memory,") != std::string::npos) {
      LowestCgroupLimit("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes", &limit);
    }
  }
  return limit;
}

Status CheckCacheFits(const char* option, uint64_t cache_bytes, const MemoryLimit& limit) {
  const uint64_t most = limit.bytes / kCacheShareOfMemory;
  if (cache_bytes <= most) return Status::OK();
  return Status::Error(EINVAL, std::string(option) + "=" + FormatSize(cache_bytes) +
                                   " is more than this machine can hold: at most " + FormatSize(most >> 20 << 20) +
                                   " (half of the " + FormatSize(limit.bytes >> 20 << 20) + " memory limit, " +
                                   limit.source + ")");
}

}  // namespace amberfs
