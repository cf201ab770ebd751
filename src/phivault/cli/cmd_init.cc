// phivault init: creates a repository and its keystore, which is kept outside the repository.
#include <iostream>

#include "phivault/base/file_util.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"
#include "phivault/keys/key_log.h"
#include "phivault/keys/keystore.h"
#include "phivault/s3/location.h"

namespace phivault::cli {
namespace {

struct InitFlags {
  uint32_t kdf_memory_mib = 64;
  uint32_t kdf_iterations = 3;
  uint32_t object_lock_days = 0;
  std::string object_lock_mode = "compliance";
};

int RunInit(const Globals& g, const InitFlags& flags) {
  auto path = RepositoryPath(g);
  if (!path.ok()) return ReportError(g, path.status());
  std::string keystore_dir = KeystoreDir(g);
  Status outside = CheckKeystorePlacement(keystore_dir, *path);
  if (!outside.ok()) return ReportError(g, outside);

  repo::InitOptions options;
  options.kdf.memory_kib = flags.kdf_memory_mib * 1024;
  options.kdf.iterations = flags.kdf_iterations;
  if (flags.object_lock_days > 0) {
    auto mode = storage::ParseRetentionMode(flags.object_lock_mode);
    if (!mode.ok()) return ReportError(g, mode.status());
    if (!s3::IsS3Name(*path)) {
      return ReportError(g, Status(StatusCode::kFailedPrecondition,
                                   "--object-lock-days needs an S3 repository: a local "
                                   "directory cannot lock its files against deletion",
                                   ErrorTag::kRetention));
    }
    options.object_lock = {flags.object_lock_days, *mode};
  }
  if (options.kdf.memory_kib < keys::kMinArgon2MemoryKib) {
    return ReportError(g, InvalidArgumentError("--kdf-memory-mib must be at least 64"));
  }
  auto passphrase = ReadPassphrase(g, /*confirm=*/true);
  if (!passphrase.ok()) return ReportError(g, passphrase.status());
  Status dir = MakeDirs(keystore_dir, 0700);
  if (!dir.ok()) return ReportError(g, std::move(dir).WithTag(ErrorTag::kKeystore));

  auto backend = OpenStorage(g, *path, /*create=*/true, options.object_lock.enabled());
  if (!backend.ok()) return ReportError(g, backend.status());
  auto repo =
      repo::Repository::Init(std::move(*backend), keystore_dir, passphrase->span(), options);
  passphrase->Clear();
  if (!repo.ok()) return ReportError(g, repo.status());
  Status logged = keys::AppendKeyEvent(
      (*repo)->keystore_path(),
      {"init", 1, "passphrase", options.slot_label, (*repo)->keys().current_epoch(), {}});
  if (!logged.ok()) return ReportError(g, logged);
  NoteRepository((*repo)->config().id);

  const std::string id = (*repo)->config().id.Hex();
  const storage::RetentionPolicy& lock = (*repo)->config().object_lock;
  if (g.json) {
    nlohmann::json out = {
        {"repository_id", id}, {"repository", *path}, {"keystore", (*repo)->keystore_path()}};
    if (lock.enabled()) {
      out["object_lock"] = {{"days", lock.days},
                            {"mode", std::string(storage::RetentionModeName(lock.mode))}};
    }
    PrintJson(out);
  } else {
    std::cout << "created repository " << id.substr(0, 8) << " at " << *path << "\n"
              << "keystore: " << (*repo)->keystore_path() << "\n";
    if (lock.enabled()) {
      std::cout << "object lock: every object is locked (" << storage::RetentionModeName(lock.mode)
                << " mode) for " << lock.days << " days after it is written or last used\n";
    }
    std::cout << "Keep a copy of the keystore on separate media: without it and the "
                 "passphrase the repository cannot be read.\n";
  }
  return kExitOk;
}

}  // namespace

Command AddInitCommand(CLI::App& app, Globals& g) {
  auto flags = std::make_shared<InitFlags>();
  CLI::App* sub = app.add_subcommand("init", "Create a repository and its keystore");
  sub->add_option("--kdf-memory-mib", flags->kdf_memory_mib,
                  "Argon2id memory for the passphrase slot, in MiB (at least 64)")
      ->capture_default_str();
  sub->add_option("--kdf-iterations", flags->kdf_iterations, "Argon2id passes")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  sub->add_option("--object-lock-days", flags->object_lock_days,
                  "Lock every object against deletion for this many days (S3 with Object Lock)")
      ->check(CLI::Range(1u, repo::kMaxObjectLockDays));
  sub->add_option("--object-lock-mode", flags->object_lock_mode,
                  "compliance (nobody can shorten a lock) or governance")
      ->capture_default_str();
  return Command{sub, [&g, flags] {
                   return RunInit(g, *flags);
                 }};
}

}  // namespace phivault::cli
