// MetricsWriter: renders the mount's `stats` file in the Prometheus text
// exposition format (version 0.0.4).
//
// Each metric family gets one "# HELP" and one "# TYPE" line followed by its
// samples, so a family's samples stay together as the format requires. Label
// values are escaped (backslash, double quote, newline). Names must match
// [a-zA-Z_:][a-zA-Z0-9_:]* and label names [a-zA-Z_][a-zA-Z0-9_]*; they are
// program constants, so a bad one is a bug and is replaced by "invalid_name"
// rather than corrupting the output. Counters end in _total by convention.
//
// The layers above base add their own metric families through it.
//
// Thread-safety: a MetricsWriter belongs to one thread (one open of `stats`).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace amberfs {

using MetricLabels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class MetricsWriter {
 public:
  void Counter(std::string_view name, std::string_view help, uint64_t value);
  void Gauge(std::string_view name, std::string_view help, uint64_t value);
  // A gauge in a base unit that needs a fraction (seconds).
  void GaugeReal(std::string_view name, std::string_view help, double value);
  // A family whose samples carry labels: Family() once, then Sample() for each.
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, MetricLabels labels, uint64_t value);
  void SampleReal(std::string_view name, MetricLabels labels, double value);

  const std::string& text() const { return text_; }

 private:
  void SampleText(std::string_view name, MetricLabels labels, std::string_view value);

  std::string text_;
};

// Label value escaping, exposed for tests.
std::string EscapeLabelValue(std::string_view value);

}  // namespace amberfs
