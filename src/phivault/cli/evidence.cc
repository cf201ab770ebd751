#include "phivault/cli/evidence.h"

#include <iostream>

#include "phivault/audit/audit_log.h"
#include "phivault/base/file_util.h"
#include "phivault/base/log.h"
#include "phivault/base/provenance.h"
#include "phivault/catalog/policy.h"
#include "phivault/catalog/status.h"
#include "phivault/crypto/ed25519.h"
#include "phivault/keys/key_log.h"
#include "phivault/repo/config.h"
#include "phivault/repo/sealed.h"

namespace phivault::cli {

std::string StateDir(const Globals& g) {
  if (!g.state_dir.empty()) return g.state_dir;
  if (const char* env = Env("PHIVAULT_STATE_DIR")) return env;
  const char* xdg = Env("XDG_STATE_HOME");
  std::string base =
      (xdg != nullptr && xdg[0] == '/') ? xdg : JoinPath(HomeDirectory(), ".local/state");
  return JoinPath(base, "phivault");
}

std::string CatalogPath(const Globals& g, const Id& repository_id) {
  return JoinPath(StateDir(g), repository_id.Hex() + ".catalog");
}

std::string AuditLogPath(const Globals& g, const Id& repository_id) {
  return JoinPath(StateDir(g), repository_id.Hex() + ".audit");
}

Result<catalog::Catalog> OpenCatalog(const Globals& g, const Id& repository_id) {
  PHV_RETURN_IF_ERROR(MakeDirs(StateDir(g), 0700));
  PHV_ASSIGN_OR_RETURN(catalog::Catalog c, catalog::Catalog::Open(CatalogPath(g, repository_id)));
  PHV_ASSIGN_OR_RETURN(auto id, c.Meta("repository_id"));
  if (!id) {
    PHV_RETURN_IF_ERROR(c.SetMeta("repository_id", repository_id.Hex()));
  } else if (*id != repository_id.Hex()) {
    return FailedPreconditionError("catalog " + c.path() + " belongs to repository " + *id);
  }
  return c;
}

Result<catalog::Policy> LoadPolicy(const Globals& g, const std::string& file) {
  std::string path = file;
  if (path.empty() && Env("PHIVAULT_POLICY") != nullptr) path = Env("PHIVAULT_POLICY");
  bool required = !path.empty();
  if (path.empty()) path = JoinPath(StateDir(g), "policy.json");
  std::vector<std::string> warnings;
  auto policy = catalog::Policy::Load(path, &warnings);
  if (!policy.ok() && policy.status().code() == StatusCode::kNotFound && !required) {
    return catalog::Policy::Defaults();
  }
  for (const std::string& w : warnings)
    std::cerr << "phivault: policy " << path << ": " << w << "\n";
  return policy;
}

Result<catalog::Catalog> OpenRepositoryCatalog(const Globals& g) {
  PHV_ASSIGN_OR_RETURN(Id id, RepositoryIdOf(g));
  return OpenCatalog(g, id);
}

Result<Id> RepositoryIdOf(const Globals& g) {
  PHV_ASSIGN_OR_RETURN(std::string name, RepositoryPath(g));
  PHV_ASSIGN_OR_RETURN(auto backend, OpenStorage(g, name, /*create=*/false));
  PHV_ASSIGN_OR_RETURN(repo::StoredConfig stored, repo::ReadConfig(backend.get()));
  NoteRepository(stored.config.id);
  return stored.config.id;
}

AuditContext& Audit() {
  static AuditContext context;
  return context;
}

namespace {

// The trail of `repository_id`, when the command noted that repository.
AuditContext* FindTrail(const Id& repository_id) {
  AuditContext& a = Audit();
  if (a.repository_id == repository_id) return &a;
  if (a.second && a.second->repository_id == repository_id) return a.second.get();
  return nullptr;
}

}  // namespace

void NoteRepository(const Id& repository_id) {
  AuditContext& a = Audit();
  if (FindTrail(repository_id) != nullptr) return;
  if (!a.repository_id) {
    a.repository_id = repository_id;
  } else if (!a.second) {
    a.second = std::make_unique<AuditContext>();
    a.second->repository_id = repository_id;
  }
}

void NoteEpoch(const keys::Keystore& keystore) {
  const SecretBytes* key = keystore.keys().EpochKeyFor(keystore.keys().current_epoch);
  if (key == nullptr) return;
  Audit().epoch = keystore.keys().current_epoch;
  Audit().epoch_key = key->Clone();
}

namespace {

// The event of the current command, without its outcome, as the trail `t` records it.
audit::Event CommandEvent(const AuditContext& t) {
  const AuditContext& a = Audit();
  audit::Event event;
  event.actor = CurrentUserName();
  event.host = CurrentHostName();
  event.command = a.command;
  event.objects = a.objects;
  event.details = a.details;
  if (&t != &a) event.details["role"] = "target";
  return event;
}

Result<audit::AuditLog> OpenAuditLog(const Globals& g, const Id& repository_id) {
  PHV_RETURN_IF_ERROR(MakeDirs(StateDir(g), 0700));
  return audit::AuditLog::Open(AuditLogPath(g, repository_id), repository_id);
}

// Records that the command is starting. A failure does not stop the command: its final event
// fails the same way, which turns its exit code into 1.
void RecordStart(const Globals& g, AuditContext& t) {
  if (t.started_seq != 0 || !t.repository_id || Audit().command.empty()) return;
  Status s = [&]() -> Status {
    PHV_ASSIGN_OR_RETURN(audit::AuditLog log, OpenAuditLog(g, *t.repository_id));
    audit::Event event = CommandEvent(t);
    event.started = true;
    PHV_ASSIGN_OR_RETURN(t.started_seq, log.Append(event));
    return OkStatus();
  }();
  if (!s.ok())
    PHV_LOG(kWarning, "audit trail: the command's start was not recorded: {}", s.message());
}

// NoteUnlocked without the start record, for the trail `t`.
Status KeepCheckpointKeys(const Globals& g, const std::string& name,
                          repo::UnlockedKeystore* unlocked, AuditContext& t) {
  keys::Keystore& ks = unlocked->keystore;
  if (ks.keys().signing_seed.empty()) {
    // Keystores made before drill records and checkpoints existed get their key on first use.
    PHV_ASSIGN_OR_RETURN(SecretBytes seed, crypto::Ed25519NewSeed());
    PHV_RETURN_IF_ERROR(ks.SetSigningSeed(std::move(seed)));
    keys::KeyEvent event{"key signing-key", std::nullopt, "", "", ks.keys().current_epoch, {}};
    event.outcome = ks.Save(unlocked->path).WithTag(ErrorTag::kKeystore);
    Status logged = keys::AppendKeyEvent(unlocked->path, event);
    PHV_RETURN_IF_ERROR(event.outcome);
    PHV_RETURN_IF_ERROR(logged);
  }
  t.signing_seed = ks.keys().signing_seed.Clone();
  t.epoch = ks.keys().current_epoch;
  t.epoch_key = ks.keys().EpochKeyFor(t.epoch)->Clone();
  auto store = OpenStorage(g, name, /*create=*/false);
  if (!store.ok()) return store.status();
  if (unlocked->config.object_lock.enabled()) {
    Status s = (*store)->EnableRetention(unlocked->config.object_lock);
    if (!s.ok()) {
      // Read-only here (see Repository::Open): checkpoints stay local until the next writable run.
      PHV_LOG(kWarning, "audit checkpoints are not stored in the repository: {}", s.message());
      return OkStatus();
    }
  }
  t.store = std::move(*store);
  return OkStatus();
}

}  // namespace

Status NoteUnlocked(const Globals& g, const std::string& name, repo::UnlockedKeystore* unlocked) {
  NoteRepository(unlocked->config.id);
  AuditContext* trail = FindTrail(unlocked->config.id);
  if (trail == nullptr) return OkStatus();
  PHV_RETURN_IF_ERROR(KeepCheckpointKeys(g, name, unlocked, *trail));
  RecordStart(g, *trail);
  return OkStatus();
}

namespace {

// Appends the command's final event to the trail `t`, with a checkpoint when its keystore was
// unlocked, stored in the catalog and sealed in the repository.
Status AppendFinalEvent(const Globals& g, AuditContext& t, int exit_code) {
  const AuditContext& a = Audit();
  PHV_ASSIGN_OR_RETURN(audit::AuditLog log, OpenAuditLog(g, *t.repository_id));
  audit::Event event = CommandEvent(t);
  event.details["exit_code"] = exit_code;
  if (t.started_seq != 0) event.details["started_seq"] = t.started_seq;
  // 30 and 31 are findings (status, a drill's RTO), not failures of the command: the verdict is
  // in the details.
  if (exit_code != kExitOk && exit_code != kExitPartial &&
      exit_code != catalog::kExitStatusWarning && exit_code != catalog::kExitStatusBreached) {
    event.outcome = a.last_error.ok() ? Status(StatusCode::kAborted, "failed") : a.last_error;
  }
  PHV_RETURN_IF_ERROR(log.Append(event).status());
  if (t.signing_seed.empty()) return OkStatus();
  PHV_ASSIGN_OR_RETURN(audit::Checkpoint cp, log.AppendCheckpoint(t.signing_seed));
  std::string line = cp.Encode();
  auto cat = OpenCatalog(g, *t.repository_id);
  if (cat.ok()) {
    Status rc = cat->RecordCheckpoint(cp.seq, cp.time, line);
    if (!rc.ok()) PHV_LOG(kWarning, "catalog: {}", rc.ToString());
  }
  if (!t.store) return OkStatus();
  PHV_ASSIGN_OR_RETURN(Id id, crypto::RandomId());
  repo::Envelope env{repo::ObjectType::kAuditCheckpoint, t.epoch, id};
  const uint32_t epoch = t.epoch;
  const SecretBytes* key = &t.epoch_key;
  repo::EpochKeyLookup lookup = [epoch, key](uint32_t e) {
    return e == epoch ? key : nullptr;
  };
  PHV_ASSIGN_OR_RETURN(Bytes sealed, repo::SealBody(env, lookup, AsBytes(line), false));
  return t.store->Save({storage::ObjectKind::kAuditCheckpoint, id.Hex()}, sealed);
}

}  // namespace

int FinishAudit(const Globals& g, int exit_code) {
  AuditContext& a = Audit();
  if (!a.repository_id || a.command.empty()) return exit_code;
  Status s = AppendFinalEvent(g, a, exit_code);
  if (a.second) {
    // Written even when the first trail failed: each trail is evidence on its own.
    Status second = AppendFinalEvent(g, *a.second, exit_code);
    if (s.ok() && !second.ok()) s = second.WithContext("the target repository's trail");
  }
  if (s.ok()) return exit_code;
  WithStderrLock([&] {
    std::cerr << "phivault: audit trail not written: " << s.message() << "\n";
    if (s.code() == StatusCode::kDataLoss) {
      std::cerr << "phivault: see `phivault audit verify`; if its only finding is an "
                   "incomplete last line, `phivault audit repair` cuts it off\n";
    }
  });
  return exit_code == kExitOk ? kExitError : exit_code;
}

Result<int64_t> NowNs() {
  if (const char* now = Env("PHIVAULT_NOW")) return ParseUtc(now);
  return WallClockNs();
}

}  // namespace phivault::cli
