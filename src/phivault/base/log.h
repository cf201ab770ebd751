// The diagnostic log: what phivault did and why, for the person debugging it.
//
// It is one of three output channels that never mix: user output (results, progress, --json)
// belongs to the command line, and the audit trail is data. Log lines carry an RFC 3339 UTC
// timestamp with microseconds, the level, the thread and the source location, as text or as one
// JSON object per line. Messages name objects by id and operations by name; they never contain
// secrets, file contents or file names (file names are ePHI), so a log file may be kept and
// shipped without exposing patient data.
//
// Whether a message is logged is decided before it is formatted.
//
// Thread safety: all functions are safe to call from any thread. ConfigureLogging should be
// called once, before other threads start.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <fmt/core.h>

#include "phivault/base/status.h"

namespace phivault {

enum class LogLevel : uint8_t { kDebug = 0, kInfo, kWarning, kError, kOff };

struct LogOptions {
  LogLevel level = LogLevel::kWarning;
  bool json = false;
  // When non-empty, log lines are appended to this file (created with mode 0600) instead of
  // being written to standard error.
  std::string file;
};

// Applies `options`. Fails if the log file cannot be opened.
Status ConfigureLogging(const LogOptions& options);

bool LogEnabled(LogLevel level);
void LogMessage(LogLevel level, const char* file, int line, std::string_view message);

// Runs `fn` while holding the lock that serialises writes to standard error, so a progress line
// and a log line never interleave.
void WithStderrLock(const std::function<void()>& fn);

// Registers a function, run under the stderr lock before a log line is written to standard
// error, that clears a progress line. Pass nullptr to remove it.
void SetStderrClearHook(std::function<void()> hook);

}  // namespace phivault

#define PHV_LOG(level, ...)                                                   \
  do {                                                                        \
    if (::phivault::LogEnabled(::phivault::LogLevel::level)) {                \
      ::phivault::LogMessage(::phivault::LogLevel::level, __FILE__, __LINE__, \
                             ::fmt::format(__VA_ARGS__));                     \
    }                                                                         \
  } while (false)
