#include "phivault/keys/key_log.h"

#include <fcntl.h>
#include <pwd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <nlohmann/json.hpp>

#include "phivault/base/file_util.h"

namespace phivault::keys {

std::string KeyLogPath(const std::string& keystore_path) {
  const std::string suffix = ".keystore";
  if (keystore_path.size() > suffix.size() && keystore_path.ends_with(suffix)) {
    return keystore_path.substr(0, keystore_path.size() - suffix.size()) + ".keylog";
  }
  return keystore_path + ".keylog";
}

Status AppendKeyEvent(const std::string& keystore_path, const KeyEvent& event) {
  auto now = std::chrono::system_clock::now();
  time_t secs = std::chrono::system_clock::to_time_t(now);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char when[32];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  std::string actor = std::to_string(geteuid());
  if (struct passwd* pw = getpwuid(geteuid())) actor = pw->pw_name;

  nlohmann::ordered_json j;
  j["time"] = when;
  j["actor"] = actor;
  j["host"] = host;
  j["operation"] = event.operation;
  if (event.slot) j["slot"] = *event.slot;
  if (!event.slot_type.empty()) j["slot_type"] = event.slot_type;
  if (!event.label.empty()) j["label"] = event.label;
  if (event.epoch != 0) j["epoch"] = event.epoch;
  j["outcome"] = event.outcome.ok() ? "ok" : "failed";
  if (!event.outcome.ok()) j["error"] = std::string(StatusCodeName(event.outcome.code()));
  if (!event.details.empty()) j["details"] = event.details;
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";

  std::string path = KeyLogPath(keystore_path);
  int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoToStatus(errno, "open key log " + path);
  UniqueFd owner(fd);
  ssize_t n = write(fd, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) return ErrnoToStatus(errno, "write key log " + path);
  if (fsync(fd) != 0) return ErrnoToStatus(errno, "sync key log " + path);
  return OkStatus();
}

}  // namespace phivault::keys
