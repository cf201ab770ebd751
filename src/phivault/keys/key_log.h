// The key-operation log: one record for every operation on a repository's keys (slot added,
// removed or re-keyed, and later rotations, re-encryptions and recovery kits), kept beside the
// keystore as `<repository id>.keylog` until the audit trail (issue #5) takes these records
// over. Each record says who (the OS user), where (the host), when (UTC), what (operation, slot
// id, type and label, key epoch) and how it ended (ok, or the error code); never a passphrase,
// key or file content. Format: JSON lines, documented in doc/format/keys.md.
//
// Thread safety: appends are single write(2) calls on an O_APPEND file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "phivault/base/status.h"

namespace phivault::keys {

struct KeyEvent {
  std::string operation;  // "init", "unlock", "key add", "key rotate", … (doc/format/keys.md)
  std::optional<uint32_t> slot;
  std::string slot_type;  // "passphrase"
  std::string label;
  uint32_t epoch = 0;
  Status outcome;
  // Figures of the operation (objects rewritten, epochs retired, a kit's K and N); no secrets.
  nlohmann::ordered_json details = nlohmann::ordered_json::object();
};

// The log file of the keystore at `keystore_path` (".keystore" replaced by ".keylog").
std::string KeyLogPath(const std::string& keystore_path);

// Appends `event` to the log of `keystore_path` (mode 0600, created if missing).
Status AppendKeyEvent(const std::string& keystore_path, const KeyEvent& event);

}  // namespace phivault::keys
