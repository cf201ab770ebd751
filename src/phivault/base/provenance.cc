#include "phivault/base/provenance.h"

#include <pwd.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <limits>

namespace phivault {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;

}  // namespace

int64_t WallClockNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatUtc(int64_t ns) {
  const int64_t secs = ns / kNsPerSecond - (ns % kNsPerSecond < 0 ? 1 : 0);
  const time_t t = static_cast<time_t>(secs);
  struct tm tm_utc;
  char buf[64] = "";
  // Every int64 nanosecond count (years 1677 to 2262) fits; the checks are for the compiler.
  if (gmtime_r(&t, &tm_utc) == nullptr) return "";
  if (strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm_utc) == 0) return "";
  return buf;
}

Result<int64_t> ParseUtc(std::string_view text) {
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  auto refuse = [&] {
    return InvalidArgumentError("not a UTC time like 2026-12-04T03:13:55Z: " + std::string(text));
  };
  if (text.size() != kShape.size()) return refuse();
  for (size_t i = 0; i < text.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (kShape[i] == 'd' ? !digit : text[i] != kShape[i]) return refuse();
  }
  struct tm tm = {};
  const std::string copy(text);
  const char* end = strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') return refuse();
  const int64_t secs = static_cast<int64_t>(timegm(&tm));
  // Nanoseconds since the epoch cover the years 1678 to 2261 whole; outside them, refuse rather
  // than overflow.
  constexpr int64_t kLimit = std::numeric_limits<int64_t>::max() / kNsPerSecond - 1;
  if (secs < -kLimit || secs > kLimit) return refuse();
  const int64_t ns = secs * kNsPerSecond;
  // strptime accepts 2026-02-31; only a date that survives the round trip is real.
  if (FormatUtc(ns) != text) return refuse();
  return ns;
}

std::string CurrentUserName() {
  const uid_t uid = geteuid();
  std::string buf(16384, '\0');
  struct passwd pw;
  struct passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr &&
      found->pw_name != nullptr && found->pw_name[0] != '\0') {
    return found->pw_name;
  }
  return std::to_string(uid);
}

std::string CurrentHostName() {
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "unknown";
  return host;
}

}  // namespace phivault
