#include "base/stats.h"

namespace amberfs {
namespace {

bool ValidName(std::string_view name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string_view CheckedName(std::string_view name, bool allow_colon = true) {
  return ValidName(name, allow_colon) ? name : std::string_view("invalid_name");
}

// HELP text escapes only backslash and newline.
std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void MetricsWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
  std::string_view n = CheckedName(name);
  text_ += "# HELP ";
  text_ += n;
  text_ += ' ';
  text_ += EscapeHelp(help);
  text_ += "\n# TYPE ";
  text_ += n;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void MetricsWriter::Sample(std::string_view name, MetricLabels labels, uint64_t value) {
  text_ += CheckedName(name);
  if (labels.size() != 0) {
    text_ += '{';
    bool first = true;
    for (const auto& [key, val] : labels) {
      if (!first) text_ += ',';
      first = false;
      text_ += CheckedName(key, false);
      text_ += "=\"";
      text_ += EscapeLabelValue(val);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  text_ += std::to_string(value);
  text_ += '\n';
}

void MetricsWriter::Counter(std::string_view name, std::string_view help, uint64_t value) {
  Family(name, "counter", help);
  Sample(name, {}, value);
}

void MetricsWriter::Gauge(std::string_view name, std::string_view help, uint64_t value) {
  Family(name, "gauge", help);
  Sample(name, {}, value);
}

void WriteConductorMetrics(const ConductorStats& s, MetricsWriter* out) {
  out->Counter("amberfs_cache_hits_total", "Blocks served from the cache.", s.read_hits);
  out->Counter("amberfs_cache_misses_total", "Blocks read from the image.", s.read_misses);
  out->Gauge("amberfs_cache_bytes", "Bytes of block data held in the cache.", s.cached_bytes);
  out->Gauge("amberfs_cache_budget_bytes", "The cache's byte budget (cache_size).", s.cache_budget_bytes);
  out->Gauge("amberfs_dirty_bytes", "Bytes written but not yet written back to the image.", s.dirty_bytes);
  out->Gauge("amberfs_dirty_max_bytes", "The dirty cap (dirty_max).", s.dirty_max_bytes);
  out->Counter("amberfs_writeback_bytes_total", "Bytes written back to the image.", s.writeback_bytes);
  out->Counter("amberfs_writeback_requests_total", "Coalesced write requests to the image.",
               s.writeback_requests);
  out->Counter("amberfs_fsyncs_total", "fdatasync calls on the image.", s.fsyncs);
  out->Counter("amberfs_flushes_total", "Flush calls (fsync of the volume, ctl flush).", s.flushes);
  out->Counter("amberfs_discards_total", "Discards (hole punches) of volume ranges.", s.discards);
  out->Counter("amberfs_throttled_writes_total", "Writes that waited for the dirty cap.", s.throttled_writes);
  out->Counter("amberfs_evictions_total", "Blocks evicted from the cache.", s.evictions);
  out->Family("amberfs_errors_total", "counter", "I/O errors on the image, by kind.");
  out->Sample("amberfs_errors_total", {{"kind", "writeback"}}, s.write_errors);
  out->Sample("amberfs_errors_total", {{"kind", "fsync"}}, s.fsync_errors);
  out->Family("amberfs_io_backend", "gauge",
              "The I/O backend in use (value 1); fallback_reason says why io_uring is not.");
  out->Sample("amberfs_io_backend",
              {{"backend", s.backend}, {"fallback_reason", s.backend_fallback_reason}}, 1);
}

}  // namespace amberfs
