// phivault key: the key slots of a repository's keystore. `key list` shows them; `key add`,
// `key remove` and `key passwd` change them, each writing a record to the key-operation log
// (keys/key_log.h). Slots wrap the master key only, so no repository object changes.
#include <unistd.h>

#include <iostream>

#include "phivault/cli/app.h"
#include "phivault/keys/key_log.h"
#include "phivault/keys/keystore.h"
#include "phivault/repo/config.h"

namespace phivault::cli {
namespace {

struct KeyFlags {
  std::string label;
  std::string key_file;  // key add: create a key file here and add a key-file slot
  std::string new_password_file;
  uint32_t slot = 0;
  uint32_t kdf_memory_mib = 64;
  uint32_t kdf_iterations = 3;
};

struct OpenKeystore {
  keys::Keystore keystore;
  std::string path;
};

std::string TypeName(keys::SlotType t) { return keys::SlotTypeName(t); }

// Finds the repository's keystore through its config, unlocks it, and checks that it belongs to
// the config as stored.
Result<OpenKeystore> Unlock(const Globals& g) {
  PHV_ASSIGN_OR_RETURN(std::string name, RepositoryPath(g));
  std::string dir = KeystoreDir(g);
  PHV_RETURN_IF_ERROR(CheckKeystorePlacement(dir, name));
  PHV_ASSIGN_OR_RETURN(auto backend, OpenStorage(g, name, /*create=*/false));
  auto raw = backend->ReadAll({storage::ObjectKind::kConfig, ""});
  if (raw.status().code() == StatusCode::kNotFound) {
    return NotFoundError("no phivault repository at " + backend->Location())
        .WithTag(ErrorTag::kRepositoryMissing);
  }
  PHV_RETURN_IF_ERROR(raw.status());
  PHV_ASSIGN_OR_RETURN(repo::RepoConfig config, repo::RepoConfig::Parse(*raw));
  std::string path = keys::KeystorePath(dir, config.id);
  PHV_ASSIGN_OR_RETURN(keys::Keystore keystore, keys::Keystore::Load(path));
  PHV_RETURN_IF_ERROR(UnlockKeystore(g, &keystore));
  if (crypto::Sha256(*raw) != keystore.keys().config_digest) {
    return DataLossError("the repository config does not match the keystore");
  }
  return OpenKeystore{std::move(keystore), std::move(path)};
}

Result<SecretBytes> NewPassphrase(const KeyFlags& flags) {
  return ReadPassphraseFrom(flags.new_password_file, "enter the new passphrase: ", true);
}

crypto::Argon2idParams Kdf(const KeyFlags& flags) {
  return crypto::Argon2idParams{.memory_kib = flags.kdf_memory_mib * 1024,
                                .iterations = flags.kdf_iterations,
                                .parallelism = 2};
}

// Logs `event` and returns the exit code for its outcome; a log that cannot be written is an
// error too, since the record is part of the operation.
int Finish(const Globals& g, const OpenKeystore& ks, keys::KeyEvent event) {
  Status logged = keys::AppendKeyEvent(ks.path, event);
  if (!event.outcome.ok()) return ReportError(g, event.outcome);
  if (!logged.ok()) return ReportError(g, logged);
  return kExitOk;
}

int RunList(const Globals& g) {
  auto ks = Unlock(g);
  if (!ks.ok()) return ReportError(g, ks.status());
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const keys::SlotInfo& s : ks->keystore.slots()) {
      out.push_back({{"slot", s.id},
                     {"type", TypeName(s.type)},
                     {"label", s.label},
                     {"created", repo::FormatUtc(s.created_ns)},
                     {"opened_this_time", s.id == ks->keystore.opened_slot()}});
    }
    PrintJson({{"keystore", ks->path},
               {"current_epoch", ks->keystore.keys().current_epoch},
               {"slots", out}});
    return kExitOk;
  }
  std::cout << "keystore " << ks->path << " (key epoch " << ks->keystore.keys().current_epoch
            << ")\n";
  std::printf("%-5s  %-11s  %-20s  %s\n", "SLOT", "TYPE", "CREATED (UTC)", "LABEL");
  for (const keys::SlotInfo& s : ks->keystore.slots()) {
    std::printf("%-5u  %-11s  %-20s  %s%s\n", s.id, TypeName(s.type).c_str(),
                repo::FormatUtc(s.created_ns).c_str(), s.label.c_str(),
                s.id == ks->keystore.opened_slot() ? "  (opened now)" : "");
  }
  return kExitOk;
}

int RunAdd(const Globals& g, const KeyFlags& flags) {
  auto ks = Unlock(g);
  if (!ks.ok()) return ReportError(g, ks.status());
  const bool key_file = !flags.key_file.empty();
  const std::string type = key_file ? "key file" : "passphrase";
  const std::string label = !flags.label.empty() ? flags.label : type;
  keys::KeyEvent event{"key add", std::nullopt, type, label, ks->keystore.keys().current_epoch, {}};
  Result<uint32_t> id = 0u;
  if (key_file) {
    // The new key exists only in the file written here: the file is the credential.
    auto key = keys::CreateKeyFile(flags.key_file);
    if (!key.ok()) return ReportError(g, key.status());
    id = ks->keystore.AddKeyFileSlot(key->span(), label);
  } else {
    auto pass = NewPassphrase(flags);
    if (!pass.ok()) return ReportError(g, pass.status());
    id = ks->keystore.AddPassphraseSlot(pass->span(), Kdf(flags), label);
    pass->Clear();
  }
  event.outcome = id.status();
  if (id.ok()) {
    event.slot = *id;
    event.outcome = ks->keystore.Save(ks->path).WithTag(ErrorTag::kKeystore);
  }
  if (!event.outcome.ok() && key_file) unlink(flags.key_file.c_str());
  int rc = Finish(g, *ks, event);
  if (rc == kExitOk) {
    if (g.json) {
      PrintJson({{"slot", *id}, {"type", type}, {"label", label}});
    } else {
      std::cout << "added " << type << " slot " << *id << " (" << label << ")\n";
      if (key_file) {
        std::cout << "key file: " << flags.key_file << ". Keep it on separate media; whoever "
                  << "holds it and the keystore can read the repository.\n";
      }
    }
  }
  return rc;
}

int RunRemove(const Globals& g, const KeyFlags& flags) {
  auto ks = Unlock(g);
  if (!ks.ok()) return ReportError(g, ks.status());
  keys::KeyEvent event{"key remove", flags.slot, "", "", ks->keystore.keys().current_epoch, {}};
  for (const keys::SlotInfo& s : ks->keystore.slots()) {
    if (s.id == flags.slot) {
      event.slot_type = TypeName(s.type);
      event.label = s.label;
    }
  }
  event.outcome = ks->keystore.RemoveSlot(flags.slot);
  if (event.outcome.ok()) event.outcome = ks->keystore.Save(ks->path).WithTag(ErrorTag::kKeystore);
  int rc = Finish(g, *ks, event);
  if (rc == kExitOk && !g.json) {
    std::cout << "removed slot " << flags.slot << ". Copies of the keystore made before now "
              << "still hold it: destroy them.\n";
  }
  return rc;
}

int RunPasswd(const Globals& g, const KeyFlags& flags) {
  auto ks = Unlock(g);
  if (!ks.ok()) return ReportError(g, ks.status());
  uint32_t slot = flags.slot != 0 ? flags.slot : ks->keystore.opened_slot();
  keys::KeyEvent event{"key passwd", slot, "passphrase", "", ks->keystore.keys().current_epoch, {}};
  auto pass = NewPassphrase(flags);
  if (!pass.ok()) return ReportError(g, pass.status());
  event.outcome = ks->keystore.ChangePassphrase(slot, pass->span(), Kdf(flags));
  pass->Clear();
  if (event.outcome.ok()) event.outcome = ks->keystore.Save(ks->path).WithTag(ErrorTag::kKeystore);
  int rc = Finish(g, *ks, event);
  if (rc == kExitOk && !g.json) std::cout << "changed the passphrase of slot " << slot << "\n";
  return rc;
}

void AddKdfFlags(CLI::App* sub, KeyFlags* flags) {
  sub->add_option("--kdf-memory-mib", flags->kdf_memory_mib,
                  "Argon2id memory for the new passphrase, in MiB (at least 64)")
      ->capture_default_str()
      ->check(CLI::Range(64u, 4096u));
  sub->add_option("--kdf-iterations", flags->kdf_iterations, "Argon2id passes")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100u));
  sub->add_option("--new-password-file", flags->new_password_file,
                  "File holding the new passphrase; otherwise it is asked twice on the terminal");
}

}  // namespace

Command AddKeyCommand(CLI::App& app, Globals& g) {
  auto flags = std::make_shared<KeyFlags>();
  CLI::App* key = app.add_subcommand("key", "Manage the key slots of the repository's keystore");
  key->require_subcommand(1);
  CLI::App* list = key->add_subcommand("list", "List the key slots");
  CLI::App* add = key->add_subcommand("add", "Add a passphrase slot, or a key-file slot");
  add->add_option("--label", flags->label, "A name for the slot, e.g. 'deputy administrator'");
  add->add_option("--new-key-file", flags->key_file,
                  "Create a new key file here (for separate media) and add a slot for it");
  AddKdfFlags(add, flags.get());
  CLI::App* remove = key->add_subcommand("remove", "Remove a key slot (never the last one)");
  remove->add_option("slot", flags->slot, "Slot number (see key list)")->required();
  CLI::App* passwd = key->add_subcommand("passwd", "Change the passphrase of a slot");
  passwd->add_option("--slot", flags->slot, "Slot number (default: the slot that opened)");
  AddKdfFlags(passwd, flags.get());
  return Command{key, [&g, flags, list, add, remove, passwd] {
                   if (list->parsed()) return RunList(g);
                   if (add->parsed()) return RunAdd(g, *flags);
                   if (remove->parsed()) return RunRemove(g, *flags);
                   if (passwd->parsed()) return RunPasswd(g, *flags);
                   return static_cast<int>(kExitUsage);
                 }};
}

}  // namespace phivault::cli
