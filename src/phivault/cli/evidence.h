// The evidence a command leaves behind: the local catalog (sources, backups, drills), the audit
// trail and its signed checkpoints (doc/format/catalog.md, doc/format/audit-log.md).
//
// Every command that names a repository appends one audit event when it ends: the command, the
// OS user and host, the object ids it reported (snapshots, drill records, key slots; never file
// names) and its outcome. When the command unlocked the keystore, a checkpoint signed with the
// repository's Ed25519 key follows the event and a sealed copy of it is stored in the repository,
// so that a deleted or rolled-back local log is detected by `audit verify`.
//
// Thread safety: the audit context belongs to the main thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "phivault/base/id.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"
#include "phivault/catalog/catalog.h"
#include "phivault/catalog/policy.h"
#include "phivault/cli/app.h"
#include "phivault/repo/repository.h"

namespace phivault::cli {

// Where the catalog, the audit trail, drill records and drill sandboxes live: --state-dir, else
// $PHIVAULT_STATE_DIR, else $XDG_STATE_HOME/phivault, else ~/.local/state/phivault.
std::string StateDir(const Globals& g);
std::string CatalogPath(const Globals& g, const Id& repository_id);
std::string AuditLogPath(const Globals& g, const Id& repository_id);
Result<catalog::Catalog> OpenCatalog(const Globals& g, const Id& repository_id);
// The catalog of the repository named by the globals (read from its config; no unlock).
Result<catalog::Catalog> OpenRepositoryCatalog(const Globals& g);
// The policy: `file` if given, else $PHIVAULT_POLICY, else <state dir>/policy.json when it
// exists, else the defaults. Warnings (a limit looser than the defaults) go to stderr.
Result<catalog::Policy> LoadPolicy(const Globals& g, const std::string& file);
// The id in the plaintext config of the repository named by the globals (no unlock needed).
Result<Id> RepositoryIdOf(const Globals& g);

// What the audit event of this command will say.
struct AuditContext {
  std::string command;
  std::optional<Id> repository_id;
  std::vector<std::string> objects;
  nlohmann::ordered_json details = nlohmann::ordered_json::object();
  Status last_error;
  // Set once the keystore was unlocked: what a checkpoint needs.
  SecretBytes signing_seed;
  std::unique_ptr<storage::Backend> store;
  uint32_t epoch = 0;
  SecretBytes epoch_key;
  // The seq of the event that recorded the command's start (0: none was written).
  uint64_t started_seq = 0;
  // A second repository that the command writes to (copy's target). Its trail gets the same
  // events, with details.role "target"; only the repository fields above are used.
  std::unique_ptr<AuditContext> second;
};
AuditContext& Audit();

// Records that the command works on `repository_id` (events are written for it at the end). A
// second repository (copy's target) gets the same events in its own trail.
void NoteRepository(const Id& repository_id);
// After the keystore of repository `name` was unlocked: makes sure it has a signing key (creating
// and saving one the first time), keeps what a checkpoint needs, and records in the audit trail
// that the command is starting, before it reads or writes any data: a command killed later still
// leaves that event (outcome "started"), and its final event names it (details.started_seq).
Status NoteUnlocked(const Globals& g, const std::string& name, repo::UnlockedKeystore* unlocked);
// After the command changed the keystore's current epoch: seal the checkpoint under the new one.
void NoteEpoch(const keys::Keystore& keystore);

// Appends the command's event (and a checkpoint when the keystore was unlocked). `exit_code` is
// the command's. Returns the exit code to use: an audit trail that cannot be written turns
// success into exit 1.
int FinishAudit(const Globals& g, int exit_code);

// The time `status` evaluates at: $PHIVAULT_NOW (RFC 3339, for tests and what-if questions) or
// the clock. Evidence (drill records, verification times) always takes the clock: WallClockNs.
Result<int64_t> NowNs();

}  // namespace phivault::cli
