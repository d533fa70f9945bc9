#include "base/stats.h"
#include "cache/conductor_metrics.h"  // a real producer of families, checked against the format

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>

using namespace amberfs;

namespace {

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

// Length of the metric name at the start of `s` (0 if none).
size_t NameLength(const std::string& s) {
  size_t i = 0;
  while (i < s.size() && IsNameChar(s[i], i == 0)) ++i;
  return i;
}

// Checks a {k="v",...} label set starting at s[0] == '{'; returns its length or 0.
size_t LabelsLength(const std::string& s) {
  size_t i = 1;
  while (i < s.size() && s[i] != '}') {
    size_t key = i;
    while (i < s.size() && s[i] != '=') {
      if (!IsNameChar(s[i], i == key) || s[i] == ':') return 0;
      ++i;
    }
    if (i == key || i + 1 >= s.size() || s[i + 1] != '"') return 0;
    for (i += 2; i < s.size() && s[i] != '"'; ++i) {
      if (s[i] == '\\') {
        if (i + 1 >= s.size() || std::string("\\\"n").find(s[i + 1]) == std::string::npos) return 0;
        ++i;
      } else if (s[i] == '\n') {
        return 0;
      }
    }
    if (i >= s.size()) return 0;
    ++i;  // closing quote
    if (i < s.size() && s[i] == ',') ++i;
  }
  return i < s.size() ? i + 1 : 0;
}

// Checks the exposition format line by line: every sample belongs to the
// family whose HELP and TYPE came just before it, and each family is declared
// once. Returns sample (name and labels) -> value.
std::map<std::string, std::string> CheckExposition(const std::string& text) {
  std::map<std::string, std::string> samples;
  std::set<std::string> families;
  std::string current;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    CAPTURE(line);
    if (line.starts_with("# HELP ")) {
      std::string rest = line.substr(7);
      size_t n = NameLength(rest);
      REQUIRE(n > 0);
      REQUIRE(rest.size() > n + 1);
      CHECK(rest[n] == ' ');
      current = rest.substr(0, n);
      CHECK(families.insert(current).second);
    } else if (line.starts_with("# TYPE ")) {
      CHECK((line == "# TYPE " + current + " counter" || line == "# TYPE " + current + " gauge"));
    } else {
      size_t n = NameLength(line);
      REQUIRE(n > 0);
      CHECK(line.substr(0, n) == current);
      size_t end = n;
      if (line[n] == '{') {
        size_t l = LabelsLength(line.substr(n));
        REQUIRE(l > 0);
        end += l;
      }
      REQUIRE(end < line.size());
      REQUIRE(line[end] == ' ');
      std::string value = line.substr(end + 1);
      REQUIRE(!value.empty());
      CHECK(value.find_first_not_of("0123456789") == std::string::npos);
      samples[line.substr(0, end)] = value;
    }
  }
  CHECK(text.back() == '\n');
  return samples;
}

}  // namespace

TEST_CASE("stats: conductor metrics in Prometheus text format") {
  ConductorStats s;
  s.read_hits = 11;
  s.read_misses = 7;
  s.cached_bytes = 4096 * 3;
  s.dirty_bytes = 8192;
  s.writeback_bytes = 123456;
  s.fsyncs = 5;
  s.write_errors = 2;
  s.fsync_errors = 1;
  s.backend = "plain";
  s.backend_fallback_reason = "io_uring_setup: \"Operation not permitted\"\nsecond line \\";
  MetricsWriter w;
  WriteConductorMetrics(s, &w);
  std::map<std::string, std::string> samples = CheckExposition(w.text());
  CHECK(samples["amberfs_cache_hits_total"] == "11");
  CHECK(samples["amberfs_cache_misses_total"] == "7");
  CHECK(samples["amberfs_cache_bytes"] == "12288");
  CHECK(samples["amberfs_dirty_bytes"] == "8192");
  CHECK(samples["amberfs_writeback_bytes_total"] == "123456");
  CHECK(samples["amberfs_fsyncs_total"] == "5");
  CHECK(samples["amberfs_errors_total{kind=\"writeback\"}"] == "2");
  CHECK(samples["amberfs_errors_total{kind=\"fsync\"}"] == "1");
  CHECK(samples["amberfs_io_backend{backend=\"plain\",fallback_reason=\"io_uring_setup: "
                "\\\"Operation not permitted\\\"\\nsecond line \\\\\"}"] == "1");
}

TEST_CASE("stats: a bad metric name never corrupts the output") {
  MetricsWriter w;
  w.Counter("bad name{", "help with \\ and\nnewline", 3);
  w.Gauge("amberfs_ok", "fine", 4);
  std::map<std::string, std::string> samples = CheckExposition(w.text());
  CHECK(samples["invalid_name"] == "3");
  CHECK(samples["amberfs_ok"] == "4");
  CHECK(w.text().find("help with \\\\ and\\nnewline") != std::string::npos);
}
