#include "amberfs/stats.h"

#include <doctest/doctest.h>

#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace amberfs;

namespace {

// Checks the exposition format line by line: every sample belongs to the
// family whose HELP and TYPE came just before it, and each family is declared
// once. Returns sample line -> value.
std::map<std::string, std::string> CheckExposition(const std::string& text) {
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+)");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge))");
  static const std::regex kSample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? ([0-9]+))");
  std::map<std::string, std::string> samples;
  std::set<std::string> families;
  std::string current;
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    CAPTURE(line);
    if (std::regex_match(line, m, kHelp)) {
      CHECK(families.insert(m[1]).second);
      current = m[1];
    } else if (std::regex_match(line, m, kType)) {
      CHECK(m[1] == current);
    } else {
      REQUIRE(std::regex_match(line, m, kSample));
      CHECK(m[1] == current);
      samples[line.substr(0, line.rfind(' '))] = m[5];
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
