#include "phivault/keys/key_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "phivault/base/file_util.h"
#include "phivault/base/provenance.h"

namespace phivault::keys {

std::string KeyLogPath(const std::string& keystore_path) {
  const std::string suffix = ".keystore";
  if (keystore_path.size() > suffix.size() && keystore_path.ends_with(suffix)) {
    return keystore_path.substr(0, keystore_path.size() - suffix.size()) + ".keylog";
  }
  return keystore_path + ".keylog";
}

Status AppendKeyEvent(const std::string& keystore_path, const KeyEvent& event) {
  nlohmann::ordered_json j;
  j["time"] = FormatUtc(WallClockNs());
  j["actor"] = CurrentUserName();
  j["host"] = CurrentHostName();
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
