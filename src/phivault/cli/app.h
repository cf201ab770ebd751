// What every phivault command shares: the global flags, opening the repository named by them,
// the passphrase prompt, the mapping from Status to the documented exit codes, user output
// (text or --json) and the progress line.
//
// The three output channels stay apart: user output goes to stdout (results) and stderr
// (progress, warnings, errors), the diagnostic log goes where --log-file says, and the audit
// trail (a later feature) is data. Secrets never reach any of them.
//
// Thread safety: Globals is filled by the parser and then read-only. ProgressLine runs its own
// thread; its callback must be safe to call from that thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "phivault/base/secret.h"
#include "phivault/base/status.h"
#include "phivault/keys/keystore.h"
#include "phivault/repo/repository.h"

namespace phivault::cli {

// The documented exit codes (README.md, "Exit codes").
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitPartial = 3,
  kExitNoRepository = 10,
  kExitWrongPassphrase = 11,
  kExitDataLoss = 12,
  kExitKeystore = 13,
  kExitFormatVersion = 14,
  kExitNotFound = 15,
  kExitDiskFull = 16,
  kExitStorageAuth = 17,
  kExitTls = 18,
  kExitRetention = 19,
  kExitStorageUnavailable = 20,
  kExitKeyDevice = 21,
  kExitInterrupted = 130,
};

int ExitCodeFor(const Status& status);

struct Globals {
  std::string repo;
  std::string keystore;
  std::string password_file;
  std::string key_file;
  bool pkcs11 = false;
  std::string pkcs11_pin_file;
  std::string pkcs11_module;
  std::string cache_dir;
  std::string state_dir;
  std::string ca_file;
  std::string log_file;
  std::string log_level = "warning";
  bool json = false;
  bool log_json = false;
  bool quiet = false;
};

// The value of environment variable `name`, or nullptr when it is unset or empty.
const char* Env(const char* name);

// Set by SIGINT/SIGTERM; long commands stop at the next safe point.
extern std::atomic<bool> g_interrupted;
void InstallSignalHandlers();

// A command registered with the parser: its subcommand and what runs when it is chosen.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Each command file defines one of these.
Command AddInitCommand(CLI::App& app, Globals& g);
Command AddBackupCommand(CLI::App& app, Globals& g);
Command AddSnapshotsCommand(CLI::App& app, Globals& g);
Command AddLsCommand(CLI::App& app, Globals& g);
Command AddRestoreCommand(CLI::App& app, Globals& g);
Command AddCheckCommand(CLI::App& app, Globals& g);
Command AddCopyCommand(CLI::App& app, Globals& g);
Command AddKeyCommand(CLI::App& app, Globals& g);
Command AddSourceCommand(CLI::App& app, Globals& g);
Command AddDrillCommand(CLI::App& app, Globals& g);
Command AddStatusCommand(CLI::App& app, Globals& g);
Command AddAuditCommand(CLI::App& app, Globals& g);

// The repository named by --repo / PHIVAULT_REPO: an absolute directory, or an S3 name
// ("s3:https://HOST[:PORT]/BUCKET[/PREFIX]") as given. kInvalidArgument when none is given.
Result<std::string> RepositoryPath(const Globals& g);
// The same for any repository name (copy --to).
Result<std::string> NormalizeRepositoryName(const std::string& name);

// Opens (or, with `create`, prepares for init) the storage of repository `name`: a directory,
// or an S3 bucket reached over HTTPS with the CA file of --ca-file / PHIVAULT_CA_FILE and the
// credentials of the AWS environment variables or credentials file. S3 storage is wrapped in
// the retry and concurrency-limit decorators. `object_lock` (create only): the bucket is created
// with Object Lock when it does not exist yet.
Result<std::unique_ptr<storage::Backend>> OpenStorage(const Globals& g, const std::string& name,
                                                      bool create, bool object_lock = false);
// Refuses a keystore directory inside the repository (local repositories; an S3 repository
// cannot contain a local directory).
Status CheckKeystorePlacement(const std::string& keystore_dir, const std::string& repo_name);

// One repository to open: its name, keystore directory and where its passphrase comes from.
struct RepositoryTarget {
  std::string name;
  std::string keystore_dir;
  std::string password_file;  // empty: the terminal
  std::string key_file;       // when set, unlock with this key file instead of a passphrase
  std::string prompt = "enter repository passphrase: ";
  // When set, unlocks the keystore instead of the three fields above.
  repo::KeystoreUnlocker unlock;
  // The command's audit events and checkpoints go to this repository's trail (a second
  // repository, copy's target, gets them in its own trail too).
  bool audit = true;
};

// The key file of --key-file / PHIVAULT_KEY_FILE, or "".
std::string KeyFilePath(const Globals& g);
// Unlocks `keystore` with the key file of --key-file / PHIVAULT_KEY_FILE when one is named, with
// its PKCS#11 slot under --pkcs11 / PHIVAULT_PKCS11=1, else with the passphrase (ReadPassphrase).
Status UnlockKeystore(const Globals& g, keys::Keystore* keystore);
// The PKCS#11 module of --pkcs11-module / PHIVAULT_PKCS11_MODULE, or "".
std::string Pkcs11Module(const Globals& g);
// The token PIN: from --pkcs11-pin-file / PHIVAULT_PKCS11_PIN_FILE (refused when readable by
// group or others), else asked on the terminal.
Result<SecretBytes> ReadPkcs11Pin(const Globals& g, const std::string& token_label);
// The keystore directory: --keystore, PHIVAULT_KEYSTORE, or the per-user default.
std::string KeystoreDir(const Globals& g);

// Reads the passphrase from --password-file / PHIVAULT_PASSWORD_FILE, or else from the terminal
// (asking twice when `confirm`). Never from an argument or another environment variable.
Result<SecretBytes> ReadPassphrase(const Globals& g, bool confirm);
// Reads a passphrase from `file`, or from the terminal with `prompt` when `file` is empty.
Result<SecretBytes> ReadPassphraseFrom(const std::string& file, const std::string& prompt,
                                       bool confirm);

// Opens and unlocks the repository; with `load_index`, loads the index (adopting leftover packs
// when `adopt`).
Result<std::unique_ptr<repo::Repository>> OpenRepository(const Globals& g, bool load_index,
                                                         bool adopt);
Result<std::unique_ptr<repo::Repository>> OpenRepositoryAt(const Globals& g,
                                                           const RepositoryTarget& target,
                                                           bool load_index, bool adopt);

// Prints `status` as an error for the user (stderr, or a JSON object on stdout with --json) and
// returns its exit code.
int ReportError(const Globals& g, const Status& status);
void PrintJson(const nlohmann::json& value);

// "1.4 GiB", "512 B".
std::string HumanBytes(uint64_t bytes);
// "123 MiB/s": `bytes` over `seconds`, 0 when no time has passed.
std::string Rate(uint64_t bytes, double seconds);
// Seconds from `start` until now.
double SecondsSince(std::chrono::steady_clock::time_point start);
// Lossless text for a byte-string path in JSON: valid UTF-8 stays as it is, other bytes become
// \xNN escapes (and a literal backslash is doubled).
std::string PathForJson(std::string_view path);

// A progress line on stderr, redrawn twice a second while it lives, shown only when stderr is a
// terminal and output is not --json.
class ProgressLine {
 public:
  ProgressLine(const Globals& g, std::function<std::string()> render);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

 private:
  void Clear();
  std::function<std::string()> render_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  bool active_ = false;
};

}  // namespace phivault::cli
