// phivault key: the keys of a repository (doc/format/keys.md).
//
// `key list` shows the slots; `key add`, `key remove` and `key passwd` change them (slots wrap the
// master key only, so no repository object changes). `key rotate` starts a new data-key epoch and
// with --reencrypt moves every object onto it and drops the old keys. `key recovery-kit` splits a
// recovery secret into Shamir shares and adds a slot for it; `key recover` uses K of them to set a
// new passphrase. Every operation writes a record to the key-operation log (keys/key_log.h).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "phivault/backup/files_cache.h"
#include "phivault/base/file_util.h"
#include "phivault/base/log.h"
#include "phivault/base/provenance.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"
#include "phivault/keys/key_log.h"
#include "phivault/keys/keystore.h"
#include "phivault/keys/token_slot.h"
#include "phivault/recovery/qr.h"
#include "phivault/recovery/shamir.h"
#include "phivault/recovery/share_code.h"
#include "phivault/repo/config.h"
#include "phivault/repo/rekey.h"

namespace phivault::cli {
namespace {

struct KeyFlags {
  std::string label;
  std::string key_file;      // key add: create a key file here and add a key-file slot
  std::string pkcs11_token;  // key add: add a PKCS#11 slot for this token …
  std::string pkcs11_key;    // … and the AES key with this label on it
  std::string new_password_file;
  uint32_t slot = 0;
  uint32_t kdf_memory_mib = 64;
  uint32_t kdf_iterations = 3;
  bool reencrypt = false;
  int shares = 0;
  int threshold = 0;
  std::string out_dir;
  uint32_t revoke = 0;
  std::vector<std::string> share_files;
};

using OpenKeystore = repo::UnlockedKeystore;

std::string TypeName(keys::SlotType t) { return keys::SlotTypeName(t); }

// A kit is named by the first 8 bytes of its id, which every share carries.
std::string KitHex(const recovery::KitId& id) { return ToHex(ByteSpan(id.data(), 8)); }

// Finds the repository's keystore through its config, unlocks it with `unlock` (by default the
// credential the global flags name), and checks that it belongs to the config as stored.
Result<OpenKeystore> Unlock(const Globals& g, repo::KeystoreUnlocker unlock = nullptr,
                            std::unique_ptr<storage::Backend>* storage = nullptr) {
  PHV_ASSIGN_OR_RETURN(std::string name, RepositoryPath(g));
  std::string dir = KeystoreDir(g);
  PHV_RETURN_IF_ERROR(CheckKeystorePlacement(dir, name));
  PHV_ASSIGN_OR_RETURN(auto backend, OpenStorage(g, name, /*create=*/false));
  if (!unlock)
    unlock = [&g](keys::Keystore* ks) {
      return UnlockKeystore(g, ks);
    };
  PHV_ASSIGN_OR_RETURN(repo::StoredConfig stored, repo::ReadConfig(backend.get()));
  NoteRepository(stored.config.id);
  PHV_ASSIGN_OR_RETURN(OpenKeystore ks, repo::UnlockRepositoryKeystore(
                                            backend.get(), std::move(stored), dir, unlock));
  PHV_RETURN_IF_ERROR(NoteUnlocked(g, name, &ks));
  if (storage != nullptr) *storage = std::move(backend);
  return ks;
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
  // The checkpoint at the end is sealed under whatever epoch is current by then.
  NoteEpoch(ks.keystore);
  // The audit event of the command carries the same figures.
  for (const auto& [k, v] : event.details.items()) Audit().details[k] = v;
  if (event.slot) Audit().objects.push_back("slot:" + std::to_string(*event.slot));
  if (event.epoch != 0) Audit().details["epoch"] = event.epoch;
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
      nlohmann::json slot = {{"slot", s.id},
                             {"type", TypeName(s.type)},
                             {"label", s.label},
                             {"created", FormatUtc(s.created_ns)},
                             {"opened_this_time", s.id == ks->keystore.opened_slot()}};
      if (s.type == keys::SlotType::kPkcs11) {
        slot["pkcs11"] = {
            {"module", s.token_module}, {"token", s.token_label}, {"key", s.token_key_label}};
      }
      if (s.type == keys::SlotType::kRecoveryKit) {
        slot["recovery_kit"] = {
            {"kit", KitHex(s.kit_id)}, {"threshold", s.kit_threshold}, {"shares", s.kit_count}};
      }
      out.push_back(std::move(slot));
    }
    nlohmann::json epochs = nlohmann::json::array();
    for (const keys::EpochKey& e : ks->keystore.keys().epochs) {
      epochs.push_back({{"epoch", e.epoch}, {"retiring", e.retiring}});
    }
    PrintJson({{"keystore", ks->path},
               {"current_epoch", ks->keystore.keys().current_epoch},
               {"epochs", epochs},
               {"reencryption_in_progress", ks->keystore.keys().reencryption_in_progress()},
               {"slots", out}});
    return kExitOk;
  }
  std::cout << "keystore " << ks->path << " (key epoch " << ks->keystore.keys().current_epoch
            << ")\n";
  if (ks->keystore.keys().reencryption_in_progress()) {
    std::cout << "a re-encryption is in progress: run key rotate --reencrypt to finish it\n";
  }
  std::printf("%-5s  %-12s  %-20s  %s\n", "SLOT", "TYPE", "CREATED (UTC)", "LABEL");
  for (const keys::SlotInfo& s : ks->keystore.slots()) {
    std::string detail;
    if (s.type == keys::SlotType::kPkcs11) {
      detail = "  [token '" + s.token_label + "', key '" + s.token_key_label + "']";
    }
    if (s.type == keys::SlotType::kRecoveryKit) {
      detail = "  [kit " + KitHex(s.kit_id) + ", " + std::to_string(s.kit_threshold) + " of " +
               std::to_string(s.kit_count) + "]";
    }
    std::printf("%-5u  %-12s  %-20s  %s%s%s\n", s.id, TypeName(s.type).c_str(),
                FormatUtc(s.created_ns).c_str(), s.label.c_str(), detail.c_str(),
                s.id == ks->keystore.opened_slot() ? "  (opened now)" : "");
  }
  return kExitOk;
}

int RunAdd(const Globals& g, const KeyFlags& flags) {
  auto ks = Unlock(g);
  if (!ks.ok()) return ReportError(g, ks.status());
  const bool key_file = !flags.key_file.empty();
  const bool token = !flags.pkcs11_token.empty();
  const std::string type = key_file ? "key file" : token ? "pkcs11" : "passphrase";
  const std::string label = !flags.label.empty() ? flags.label : type;
  keys::KeyEvent event{"key add", std::nullopt, type, label, ks->keystore.keys().current_epoch, {}};
  Result<uint32_t> id = 0u;
  if (token) {
    pkcs11::KeyRef ref{Pkcs11Module(g), flags.pkcs11_token, flags.pkcs11_key};
    if (ref.module.empty() || ref.key_label.empty()) {
      return ReportError(g, InvalidArgumentError("a PKCS#11 slot needs --pkcs11-module (or "
                                                 "PHIVAULT_PKCS11_MODULE) and --pkcs11-key"));
    }
    auto pin = ReadPkcs11Pin(g, ref.token_label);
    if (!pin.ok()) return ReportError(g, pin.status());
    id = keys::AddPkcs11Slot(&ks->keystore, ref, pin->span(), label);
    event.details["token"] = ref.token_label;
    event.details["token_key"] = ref.key_label;
  } else if (key_file) {
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
      if (token) {
        std::cout << "the slot opens with token '" << flags.pkcs11_token << "' and its PIN "
                  << "(--pkcs11); the wrapping key never leaves the token.\n";
      }
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

// key rotate [--reencrypt]: a new epoch for new data, and optionally every object moved onto it.
int RunRotate(const Globals& g, const KeyFlags& flags) {
  std::unique_ptr<storage::Backend> backend;
  auto ks = Unlock(g, nullptr, &backend);
  if (!ks.ok()) return ReportError(g, ks.status());
  const keys::KeyBundle& bundle = ks->keystore.keys();
  if (!flags.reencrypt) {
    keys::KeyEvent event{"key rotate", std::nullopt, "", "", 0, {}};
    auto epoch = ks->keystore.StartEpoch(/*retire_others=*/false);
    event.outcome = epoch.status();
    if (epoch.ok()) {
      event.epoch = *epoch;
      event.outcome = ks->keystore.Save(ks->path).WithTag(ErrorTag::kKeystore);
    }
    int rc = Finish(g, *ks, event);
    if (rc != kExitOk) return rc;
    if (g.json) {
      PrintJson({{"epoch", *epoch}, {"reencrypted", false}});
    } else {
      std::cout << "key epoch " << *epoch << " is current: new data is sealed under it; older "
                << "objects stay readable under their epochs. Run key rotate --reencrypt to "
                << "rewrite them and drop the old keys.\n";
    }
    return kExitOk;
  }

  keys::KeyEvent event{"key reencrypt", std::nullopt, "", "", bundle.current_epoch, {}};
  if (ks->config.object_lock.enabled()) {
    event.outcome = FailedPreconditionError(
                        "this repository uses Object Lock: objects sealed under the old keys stay "
                        "locked and cannot be removed, so re-encryption is refused; rotate without "
                        "--reencrypt")
                        .WithTag(ErrorTag::kRetention);
    return Finish(g, *ks, event);
  }
  const bool resuming = bundle.reencryption_in_progress();
  if (!resuming) {
    // The keystore change comes first and is atomic: once it is saved, every later run knows a
    // re-encryption is under way and which epochs it retires.
    auto epoch = ks->keystore.StartEpoch(/*retire_others=*/true);
    Status s = epoch.status();
    if (s.ok()) s = ks->keystore.Save(ks->path).WithTag(ErrorTag::kKeystore);
    keys::KeyEvent started{"key rotate", std::nullopt, "", "", epoch.ok() ? *epoch : 0, s};
    started.details["reencrypt"] = true;
    int rc = Finish(g, *ks, started);
    if (rc != kExitOk) return rc;
  }
  event.epoch = ks->keystore.keys().current_epoch;
  nlohmann::ordered_json retiring = nlohmann::ordered_json::array();
  for (const keys::EpochKey& e : ks->keystore.keys().epochs) {
    if (e.retiring) retiring.push_back(e.epoch);
  }
  event.details["resumed"] = resuming;
  event.details["retiring_epochs"] = retiring;
  if (!g.quiet && !g.json) {
    std::cerr << (resuming ? "resuming the re-encryption to key epoch "
                           : "re-encrypting every object under key epoch ")
              << event.epoch << "\n";
  }

  auto repo = repo::Repository::Open(std::move(backend), *ks);
  if (!repo.ok()) return ReportError(g, repo.status());
  Status loaded = (*repo)->LoadIndex(/*adopt=*/true);
  if (!loaded.ok()) return ReportError(g, loaded);
  repo::ReencryptOptions options;
  options.interrupted = [] {
    return g_interrupted.load();
  };
  if (!g.quiet && !g.json) {
    options.progress = [](const std::string& line) {
      std::cerr << "  " << line << "\n";
    };
  }
  // Crash tests: PHIVAULT_TEST_CRASH_AT=STEP:N kills the process with SIGKILL at that checkpoint
  // (see repo::ReencryptOptions::checkpoint; "done:1" is after the objects, before the keystore
  // drops the old keys).
  std::string crash_at =
      Env("PHIVAULT_TEST_CRASH_AT") != nullptr ? Env("PHIVAULT_TEST_CRASH_AT") : "";
  auto checkpoint = [crash_at](std::string_view step, size_t n) {
    if (!crash_at.empty() && crash_at == std::string(step) + ":" + std::to_string(n)) {
      raise(SIGKILL);
    }
  };
  if (!crash_at.empty()) options.checkpoint = checkpoint;
  auto stats = repo::Reencrypt(repo->get(), options);
  event.outcome = stats.status();
  std::vector<uint32_t> dropped;
  if (stats.ok()) {
    event.details["packs_resealed"] = stats->packs_resealed;
    event.details["packs_already_resealed"] = stats->packs_already_resealed;
    event.details["bytes_resealed"] = stats->bytes_resealed;
    event.details["snapshots_resealed"] =
        stats->snapshots_resealed + stats->snapshots_already_resealed;
    event.details["objects_removed"] = stats->objects_removed;
    event.details["objects_verified"] = stats->objects_verified;
    event.details["foreign_objects"] = stats->foreign_objects.size();
    for (const storage::ObjectName& n : stats->foreign_objects) {
      std::cerr << "phivault: " << n.Path()
                << " is sealed under a key epoch this keystore does not hold (written with an old "
                   "copy of the keystore?); it cannot be read here and was left alone\n";
    }
    // The files cache is sealed too; move it over before its old key goes away.
    std::string cache_dir = g.cache_dir.empty() ? backup::FilesCache::DefaultDir() : g.cache_dir;
    auto cache = backup::FilesCache::Load(repo->get(), cache_dir);
    if (cache.ok() && cache->size() > 0) {
      Status saved = cache->Save(repo->get());
      if (!saved.ok()) PHV_LOG(kWarning, "files cache not re-sealed: {}", saved.ToString());
    }
    checkpoint("done", 1);
    dropped = ks->keystore.DropRetiringEpochs();
    event.outcome = ks->keystore.Save(ks->path).WithTag(ErrorTag::kKeystore);
    nlohmann::ordered_json d = nlohmann::ordered_json::array();
    for (uint32_t e : dropped) d.push_back(e);
    event.details["retired_epochs"] = d;
  }
  int rc = Finish(g, *ks, event);
  if (rc != kExitOk) return rc;
  if (g.json) {
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& [from, to] : stats->snapshot_ids) {
      ids.push_back({{"old", from.Hex()}, {"new", to.Hex()}});
    }
    PrintJson({{"epoch", stats->epoch},
               {"reencrypted", true},
               {"resumed", resuming},
               {"packs_resealed", stats->packs_resealed},
               {"packs_already_resealed", stats->packs_already_resealed},
               {"bytes_resealed", stats->bytes_resealed},
               {"snapshots", ids},
               {"objects_removed", stats->objects_removed},
               {"objects_verified", stats->objects_verified},
               {"retired_epochs", dropped}});
  } else {
    std::cout << "re-encrypted " << stats->packs_resealed << " packs (" << stats->bytes_resealed
              << " bytes) and " << stats->snapshots_resealed + stats->snapshots_already_resealed
              << " snapshots under key epoch " << stats->epoch << "; " << stats->objects_verified
              << " objects checked, none under an older epoch; retired epochs";
    for (uint32_t e : dropped) std::cout << " " << e;
    std::cout << ".\nSnapshots have new ids:\n";
    for (const auto& [from, to] : stats->snapshot_ids) {
      std::cout << "  " << from.ShortHex() << " -> " << to.ShortHex() << "\n";
    }
    std::cout << "Copies of the keystore made before now hold only retired keys and open "
              << "nothing in the repository.\n";
  }
  return kExitOk;
}

// Writes `text` to a new file `path` with mode 0600; never over an existing file.
Status WriteSecretFile(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoToStatus(errno, "create " + path);
  UniqueFd owner(fd);
  if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) || fsync(fd) != 0) {
    return ErrnoToStatus(errno, "write " + path);
  }
  return OkStatus();
}

// key recovery-kit --shares N --threshold K [--out-dir DIR]: a new recovery slot and its shares.
int RunRecoveryKit(const Globals& g, const KeyFlags& flags) {
  auto ks = Unlock(g);
  if (!ks.ok()) return ReportError(g, ks.status());
  if (flags.revoke != 0) {
    keys::KeyEvent event{"key recovery-kit revoke",
                         flags.revoke,
                         "recovery kit",
                         "",
                         ks->keystore.keys().current_epoch,
                         {}};
    const keys::SlotInfo* slot = nullptr;
    for (const keys::SlotInfo& s : ks->keystore.slots()) {
      if (s.id == flags.revoke) slot = &s;
    }
    if (slot == nullptr || slot->type != keys::SlotType::kRecoveryKit) {
      event.outcome = NotFoundError("slot " + std::to_string(flags.revoke) +
                                    " is not a recovery kit (see key list)");
      return Finish(g, *ks, event);
    }
    event.label = slot->label;
    event.details["kit"] = KitHex(slot->kit_id);
    event.outcome = ks->keystore.RemoveSlot(flags.revoke);
    if (event.outcome.ok()) {
      event.outcome = ks->keystore.Save(ks->path).WithTag(ErrorTag::kKeystore);
    }
    int rc = Finish(g, *ks, event);
    if (rc == kExitOk && !g.json) {
      std::cout << "revoked recovery kit " << event.details["kit"].get<std::string>() << " (slot "
                << flags.revoke << "): its shares open nothing in this keystore.\n";
    }
    return rc;
  }
  if (flags.threshold < 2 || flags.shares < flags.threshold || flags.shares > 255) {
    return ReportError(g, InvalidArgumentError("a recovery kit needs 2 <= --threshold <= "
                                               "--shares <= 255"));
  }
  const std::string label = !flags.label.empty()
                                ? flags.label
                                : "recovery kit " + std::to_string(flags.threshold) + " of " +
                                      std::to_string(flags.shares);
  keys::KeyEvent event{"key recovery-kit",
                       std::nullopt,
                       "recovery kit",
                       label,
                       ks->keystore.keys().current_epoch,
                       {}};
  event.details["threshold"] = flags.threshold;
  event.details["shares"] = flags.shares;
  std::vector<std::string> written;
  auto cleanup = [&] {
    for (const std::string& f : written) unlink(f.c_str());
  };
  auto shares = [&]() -> Result<std::vector<recovery::Share>> {
    PHV_ASSIGN_OR_RETURN(SecretBytes secret, crypto::RandomKey());
    recovery::KitId kit;
    PHV_RETURN_IF_ERROR(crypto::RandomBytes(MutableByteSpan(kit.data(), kit.size())));
    PHV_ASSIGN_OR_RETURN(auto split,
                         recovery::Split(secret.span(), kit, flags.threshold, flags.shares));
    keys::SlotInfo info;
    info.label = label;
    info.kit_id = kit;
    info.kit_threshold = static_cast<uint8_t>(flags.threshold);
    info.kit_count = static_cast<uint8_t>(flags.shares);
    PHV_ASSIGN_OR_RETURN(uint32_t id, ks->keystore.AddRecoverySlot(secret.span(), info));
    event.slot = id;
    event.details["kit"] = KitHex(kit);
    // Shares go to disk before the keystore names the kit: a failure leaves no slot whose
    // shares were never handed out.
    if (!flags.out_dir.empty()) {
      PHV_RETURN_IF_ERROR(MakeDirs(flags.out_dir, 0700));
      for (const recovery::Share& sh : split) {
        std::string base =
            JoinPath(flags.out_dir, "share-" + KitHex(kit) + "-" + std::to_string(sh.x));
        std::string text = recovery::EncodeShare(sh);
        PHV_RETURN_IF_ERROR(WriteSecretFile(base + ".txt", text + "\n"));
        written.push_back(base + ".txt");
        PHV_RETURN_IF_ERROR(recovery::WriteQrPng(text, base + ".png"));
        written.push_back(base + ".png");
      }
    }
    PHV_RETURN_IF_ERROR(ks->keystore.Save(ks->path).WithTag(ErrorTag::kKeystore));
    return split;
  }();
  event.outcome = shares.status();
  if (!shares.ok()) cleanup();
  int rc = Finish(g, *ks, event);
  if (rc != kExitOk) return rc;
  const std::string kit_hex = event.details["kit"].get<std::string>();
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const recovery::Share& sh : *shares) {
      out.push_back({{"share", sh.x}, {"text", recovery::EncodeShare(sh)}});
    }
    PrintJson({{"slot", *event.slot},
               {"kit", kit_hex},
               {"threshold", flags.threshold},
               {"shares", out},
               {"files", written}});
    return kExitOk;
  }
  std::cout << "recovery kit " << kit_hex << " (slot " << *event.slot << "): any "
            << flags.threshold << " of these " << flags.shares
            << " shares, with the keystore, set a new passphrase (key recover). Fewer reveal "
               "nothing. Give each to a different custodian; revoke with key recovery-kit "
               "--revoke "
            << *event.slot << ".\n";
  for (const recovery::Share& sh : *shares) {
    std::string text = recovery::EncodeShare(sh);
    std::cout << "\n=== share " << static_cast<int>(sh.x) << " of " << flags.shares << " (kit "
              << kit_hex << ", repository " << ks->config.id.ShortHex() << ") ===\n"
              << text << "\n";
    auto qr = recovery::QrForTerminal(text);
    if (qr.ok()) std::cout << *qr;
  }
  if (!written.empty()) {
    std::cout << "\nwritten (mode 0600) to " << flags.out_dir << ": " << written.size()
              << " files; print them and delete them.\n";
  }
  return kExitOk;
}

// Reads shares, one per line, from each file of --share-file ("-" is standard input) or, without
// any, from standard input. Blank lines and lines starting with '#' are skipped.
Result<std::vector<recovery::Share>> ReadShares(const std::vector<std::string>& files) {
  std::vector<std::string> sources = files.empty() ? std::vector<std::string>{"-"} : files;
  std::vector<recovery::Share> shares;
  for (const std::string& f : sources) {
    std::string text;
    if (f == "-") {
      std::ostringstream in;
      in << std::cin.rdbuf();
      text = in.str();
    } else {
      PHV_ASSIGN_OR_RETURN(Bytes raw, ReadFile(f));
      text.assign(raw.begin(), raw.end());
      SecureWipe(raw.data(), raw.size());
    }
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.find_first_not_of(" \t\r") == std::string::npos || line[0] == '#') continue;
      auto share = recovery::DecodeShare(line);
      if (!share.ok()) {
        return Status(share.status().code(), "share " + std::to_string(shares.size() + 1) + " (" +
                                                 (f == "-" ? std::string("standard input") : f) +
                                                 "): " + std::string(share.status().message()));
      }
      shares.push_back(std::move(*share));
    }
    SecureWipe(text.data(), text.size());
  }
  if (shares.empty()) return InvalidArgumentError("no recovery shares given");
  return shares;
}

// key recover: K shares open the kit's slot; a new passphrase slot is added.
int RunRecover(const Globals& g, const KeyFlags& flags) {
  auto shares = ReadShares(flags.share_files);
  if (!shares.ok()) return ReportError(g, shares.status());
  const recovery::KitId kit = shares->front().kit_id;
  uint32_t kit_slot = 0;
  auto unlock = [&](keys::Keystore* keystore) -> Status {
    for (const keys::SlotInfo& s : keystore->slots()) {
      if (s.type == keys::SlotType::kRecoveryKit && s.kit_id == kit) kit_slot = s.id;
    }
    if (kit_slot == 0) {
      return UnauthenticatedError("recovery kit " + KitHex(kit) +
                                  " opens no slot of this keystore: it was revoked, or it belongs "
                                  "to another repository");
    }
    // Too few or inconsistent shares are a credential that does not open: exit 11, as a wrong
    // passphrase is.
    auto secret = recovery::Combine(*shares);
    if (!secret.ok()) return UnauthenticatedError(std::string(secret.status().message()));
    return keystore->UnlockSlot(kit_slot, secret->span());
  };
  auto ks = Unlock(g, unlock);
  if (!ks.ok()) return ReportError(g, ks.status());
  const std::string label = !flags.label.empty() ? flags.label : "passphrase (recovered)";
  keys::KeyEvent used{
      "key recover", kit_slot, "recovery kit", "", ks->keystore.keys().current_epoch, {}};
  used.details["kit"] = KitHex(kit);
  used.details["shares_given"] = shares->size();
  auto pass = NewPassphrase(flags);
  if (!pass.ok()) return ReportError(g, pass.status());
  auto id = ks->keystore.AddPassphraseSlot(pass->span(), Kdf(flags), label);
  pass->Clear();
  used.outcome = id.status();
  if (id.ok()) {
    used.details["new_slot"] = *id;
    used.outcome = ks->keystore.Save(ks->path).WithTag(ErrorTag::kKeystore);
  }
  int rc = Finish(g, *ks, used);
  if (rc != kExitOk) return rc;
  if (g.json) {
    PrintJson({{"kit", KitHex(kit)}, {"kit_slot", kit_slot}, {"new_slot", *id}});
  } else {
    std::cout << "recovery kit " << KitHex(kit) << " opened the keystore; added passphrase slot "
              << *id << " (" << label << "). The kit stays valid: revoke it and issue a new one "
              << "if its shares were exposed.\n";
  }
  return kExitOk;
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
  add->add_option("--pkcs11-token", flags->pkcs11_token,
                  "Add a PKCS#11 slot for this token (label); module from --pkcs11-module");
  add->add_option("--pkcs11-key", flags->pkcs11_key,
                  "Label of the AES wrapping key on the token (it never leaves the token)");
  AddKdfFlags(add, flags.get());
  CLI::App* remove = key->add_subcommand("remove", "Remove a key slot (never the last one)");
  remove->add_option("slot", flags->slot, "Slot number (see key list)")->required();
  CLI::App* passwd = key->add_subcommand("passwd", "Change the passphrase of a slot");
  passwd->add_option("--slot", flags->slot, "Slot number (default: the slot that opened)");
  AddKdfFlags(passwd, flags.get());
  CLI::App* rotate = key->add_subcommand("rotate", "Start a new key epoch for new data");
  rotate->add_flag("--reencrypt", flags->reencrypt,
                   "Also rewrite every object under the new epoch and drop the old keys "
                   "(resumable: run again after an interruption)");
  CLI::App* kit = key->add_subcommand(
      "recovery-kit", "Split a recovery secret into K-of-N shares (text and QR) and add its slot");
  kit->add_option("--shares", flags->shares, "N: how many shares to print")
      ->check(CLI::Range(2, 255));
  kit->add_option("--threshold", flags->threshold, "K: how many shares recover access")
      ->check(CLI::Range(2, 255));
  kit->add_option("--out-dir", flags->out_dir,
                  "Also write each share as share-KIT-N.txt and .png (mode 0600) here");
  kit->add_option("--label", flags->label, "A name for the kit's slot");
  kit->add_option("--revoke", flags->revoke, "Revoke the recovery kit of this slot instead");
  CLI::App* recover =
      key->add_subcommand("recover", "Use K shares of a recovery kit to add a new passphrase slot");
  recover->add_option("--share-file", flags->share_files,
                      "File with shares, one per line ('-': standard input; default: standard "
                      "input); repeatable");
  recover->add_option("--label", flags->label, "A name for the new passphrase slot");
  AddKdfFlags(recover, flags.get());
  return Command{key, [&g, flags, list, add, remove, passwd, rotate, kit, recover] {
                   if (list->parsed()) return RunList(g);
                   if (add->parsed()) return RunAdd(g, *flags);
                   if (remove->parsed()) return RunRemove(g, *flags);
                   if (passwd->parsed()) return RunPasswd(g, *flags);
                   if (rotate->parsed()) return RunRotate(g, *flags);
                   if (kit->parsed()) {
                     if (flags->revoke == 0 && (flags->shares == 0 || flags->threshold == 0)) {
                       return ReportError(g, InvalidArgumentError(
                                                 "key recovery-kit needs --shares and --threshold "
                                                 "(or --revoke SLOT)"));
                     }
                     return RunRecoveryKit(g, *flags);
                   }
                   if (recover->parsed()) return RunRecover(g, *flags);
                   return static_cast<int>(kExitUsage);
                 }};
}

}  // namespace phivault::cli
