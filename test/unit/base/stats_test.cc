#include "base/stats.h"
#include "cache/conductor_metrics.h"  // a real producer of families, checked against the format
#include "amberfs/version.h"
#include "volume/volume_metrics.h"

#include <doctest/doctest.h>

#include <cstdlib>
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
      // An integer, or a real in the form Go's ParseFloat reads (the exposition format's rule).
      char* parsed_to = nullptr;
      std::strtod(value.c_str(), &parsed_to);
      CHECK(value.find_first_not_of("0123456789.e+-") == std::string::npos);
      CHECK(parsed_to == value.c_str() + value.size());
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
  CHECK(samples["amberfs_io_backend_info{backend=\"plain\",fallback_reason=\"io_uring_setup: "
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

TEST_CASE("stats: snapshot metrics in seconds, progress per operation, build info") {
  SnapshotterStats s;
  s.last_duration_ns = 1'500'000'000;
  s.last_barrier_ns = 250'000;
  s.last_success_ns = 1'700'000'000'250'000'000;
  s.rollback_progress = OperationProgress::Figures{true, 3, 10};
  s.drain_progress = OperationProgress::Figures{false, 7, 7};
  MetricsWriter w;
  WriteBuildInfo(&w);
  WriteSnapshotMetrics(s, &w);
  std::map<std::string, std::string> samples = CheckExposition(w.text());
  CHECK(samples["amberfs_snapshot_last_duration_seconds"] == "1.5");
  CHECK(samples["amberfs_snapshot_last_barrier_seconds"] == "0.00025");
  CHECK(samples["amberfs_snapshot_last_success_timestamp_seconds"] == "1700000000.25");
  CHECK(samples["amberfs_operation_running{operation=\"rollback\"}"] == "1");
  CHECK(samples["amberfs_operation_done{operation=\"rollback\"}"] == "3");
  CHECK(samples["amberfs_operation_goal{operation=\"rollback\"}"] == "10");
  CHECK(samples["amberfs_operation_running{operation=\"drain\"}"] == "0");
  CHECK(samples["amberfs_operation_done{operation=\"drain\"}"] == "7");
  CHECK(samples["amberfs_operation_running{operation=\"snapshot\"}"] == "0");
  CHECK(samples["amberfs_operation_goal{operation=\"gc\"}"] == "0");
  CHECK(samples[std::string("amberfs_build_info{version=\"") + kVersion + "\",commit=\"" + BuildCommit() + "\"}"] ==
        "1");
  CHECK(std::string(BuildCommit()).size() >= 7);  // the Makefile passes the commit (a checkout builds these tests)
  CHECK(w.text().find("microseconds") == std::string::npos);
}

TEST_CASE("stats: real values are written so they read back") {
  MetricsWriter w;
  w.GaugeReal("amberfs_a", "a", 1e-9);
  w.GaugeReal("amberfs_b", "b", 0);
  std::map<std::string, std::string> samples = CheckExposition(w.text());
  CHECK(std::stod(samples["amberfs_a"]) == 1e-9);
  CHECK(samples["amberfs_b"] == "0");
}
