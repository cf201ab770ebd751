#include "phivault/base/log.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace phivault {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kWarning};
std::atomic<bool> g_json{false};
std::mutex g_stderr_mu;
int g_fd = STDERR_FILENO;
std::function<void()> g_clear_hook;

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarning: return "WARNING";
    case LogLevel::kError: return "ERROR";
    case LogLevel::kOff: return "OFF";
  }
  return "?";
}

std::string UtcTimestamp() {
  auto now = std::chrono::system_clock::now();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(us / 1000000);
  struct tm tm_utc;
  gmtime_r(&secs, &tm_utc);
  char buf[40];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm_utc);
  return fmt::format("{}.{:06d}Z", buf, us % 1000000);
}

std::string_view BaseName(const char* path) {
  std::string_view p(path);
  size_t slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

void AppendJsonString(std::string* out, std::string_view s) {
  out->push_back('"');
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(c);
    } else if (u < 0x20) {
      *out += fmt::format("\\u{:04x}", u);
    } else {
      out->push_back(c);
    }
  }
  out->push_back('"');
}

void WriteAll(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

Status ConfigureLogging(const LogOptions& options) {
  std::lock_guard<std::mutex> lock(g_stderr_mu);
  if (!options.file.empty()) {
    int fd = open(options.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return ErrnoToStatus(errno, "open log file");
    if (g_fd != STDERR_FILENO) close(g_fd);
    g_fd = fd;
  }
  g_level.store(options.level);
  g_json.store(options.json);
  return OkStatus();
}

bool LogEnabled(LogLevel level) {
  return level != LogLevel::kOff && level >= g_level.load(std::memory_order_relaxed);
}

void LogMessage(LogLevel level, const char* file, int line, std::string_view message) {
  long tid = syscall(SYS_gettid);
  std::string out;
  if (g_json.load()) {
    out = "{\"time\":\"" + UtcTimestamp() + "\",\"level\":\"" + std::string(LevelName(level)) +
          "\",\"thread\":" + std::to_string(tid) + ",\"source\":";
    AppendJsonString(&out, fmt::format("{}:{}", BaseName(file), line));
    out += ",\"message\":";
    AppendJsonString(&out, message);
    out += "}\n";
  } else {
    out = fmt::format("{} {} [{}] {}:{}] {}\n", UtcTimestamp(), LevelName(level), tid,
                      BaseName(file), line, message);
  }
  std::lock_guard<std::mutex> lock(g_stderr_mu);
  if (g_fd == STDERR_FILENO && g_clear_hook) g_clear_hook();
  WriteAll(g_fd, out);
}

void WithStderrLock(const std::function<void()>& fn) {
  std::lock_guard<std::mutex> lock(g_stderr_mu);
  fn();
}

void SetStderrClearHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(g_stderr_mu);
  g_clear_hook = std::move(hook);
}

}  // namespace phivault
