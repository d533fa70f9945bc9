#include "base/stats.h"

#include <charconv>
#include <cmath>
#include <cstdio>

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
  SampleText(name, labels, std::to_string(value));
}

void MetricsWriter::SampleReal(std::string_view name, MetricLabels labels, double value) {
  char text[64];
  if (std::isnan(value)) {
    std::snprintf(text, sizeof text, "NaN");
  } else if (std::isinf(value)) {
    std::snprintf(text, sizeof text, value > 0 ? "+Inf" : "-Inf");
  } else {
    // The shortest text that reads back as the same double: a timestamp keeps
    // its fraction, 0.00025 stays 0.00025.
    *std::to_chars(text, text + sizeof text - 1, value).ptr = '\0';
  }
  SampleText(name, labels, text);
}

void MetricsWriter::SampleText(std::string_view name, MetricLabels labels, std::string_view value) {
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
  text_ += value;
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

void MetricsWriter::GaugeReal(std::string_view name, std::string_view help, double value) {
  Family(name, "gauge", help);
  SampleReal(name, {}, value);
}

}  // namespace amberfs
