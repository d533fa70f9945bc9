// Logging: leveled, printf-style, to stderr (or syslog once a daemon detaches).
//
// Thread-safe: each message is written with one write(2), so lines from several
// threads never interleave. The level can be changed at run time (the ctl
// command `loglevel`).
#pragma once

#include <string_view>

namespace amberfs {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "error", "warn", "info" or "debug". Returns false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* level);
const char* LogLevelName(LogLevel level);
// Send further messages to syslog(3) instead of stderr (after daemonizing).
void LogToSyslog(const char* ident);

void Log(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace amberfs

#define AMBER_LOG(level, ...)                                                   \
  do {                                                                          \
    if (static_cast<int>(level) <= static_cast<int>(::amberfs::GetLogLevel())) \
      ::amberfs::Log(level, __VA_ARGS__);                                       \
  } while (0)
#define LOG_ERROR(...) AMBER_LOG(::amberfs::LogLevel::kError, __VA_ARGS__)
#define LOG_WARN(...) AMBER_LOG(::amberfs::LogLevel::kWarn, __VA_ARGS__)
#define LOG_INFO(...) AMBER_LOG(::amberfs::LogLevel::kInfo, __VA_ARGS__)
#define LOG_DEBUG(...) AMBER_LOG(::amberfs::LogLevel::kDebug, __VA_ARGS__)
