// phivault: encrypted, deduplicating backup with verified restores. Parses the command line and
// runs one command; everything else lives in the libraries.
#include <malloc.h>

#include <iostream>

#include "phivault/base/log.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"

namespace phivault::cli {
namespace {

Result<LogLevel> ParseLogLevel(const std::string& s) {
  if (s == "debug") return LogLevel::kDebug;
  if (s == "info") return LogLevel::kInfo;
  if (s == "warning") return LogLevel::kWarning;
  if (s == "error") return LogLevel::kError;
  if (s == "off") return LogLevel::kOff;
  return InvalidArgumentError("--log-level must be debug, info, warning, error or off");
}

int Main(int argc, char** argv) {
  Globals g;
  CLI::App app("phivault " PHIVAULT_VERSION
               ": encrypted, deduplicating backup that proves its restores");
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", "phivault " PHIVAULT_VERSION);
  app.add_option("--repo,-r", g.repo,
                 "Repository: a directory or s3:https://HOST[:PORT]/BUCKET[/PREFIX] (or set "
                 "PHIVAULT_REPO)");
  app.add_option("--keystore", g.keystore,
                 "Directory holding the keystore, apart from the repository (or set "
                 "PHIVAULT_KEYSTORE)");
  app.add_option("--password-file", g.password_file,
                 "File holding the passphrase (or set PHIVAULT_PASSWORD_FILE); otherwise it is "
                 "asked on the terminal");
  app.add_option("--key-file", g.key_file,
                 "Unlock with this key file instead of a passphrase (or set PHIVAULT_KEY_FILE)");
  app.add_flag("--pkcs11", g.pkcs11,
               "Unlock with the keystore's PKCS#11 (HSM) slot (or set PHIVAULT_PKCS11=1)");
  app.add_option("--pkcs11-pin-file", g.pkcs11_pin_file,
                 "File holding the token PIN (or set PHIVAULT_PKCS11_PIN_FILE); otherwise it is "
                 "asked on the terminal");
  app.add_option("--pkcs11-module", g.pkcs11_module,
                 "PKCS#11 module (or set PHIVAULT_PKCS11_MODULE); default for unlocking: the one "
                 "recorded in the slot");
  app.add_option("--cache-dir", g.cache_dir, "Directory for the encrypted files cache");
  app.add_option("--state-dir", g.state_dir,
                 "Directory for the catalog, audit trail and drill records (or set "
                 "PHIVAULT_STATE_DIR); default ~/.local/state/phivault");
  app.add_option("--ca-file", g.ca_file,
                 "Trust only this CA certificate file for S3 endpoints (or set PHIVAULT_CA_FILE); "
                 "default: the system's trust store");
  app.add_flag("--json", g.json, "Machine-readable output on stdout");
  app.add_flag("--quiet,-q", g.quiet, "No progress line");
  app.add_option("--log-file", g.log_file, "Append the diagnostic log to this file");
  app.add_option("--log-level", g.log_level, "debug, info, warning (default), error, off");
  app.add_flag("--log-json", g.log_json, "Diagnostic log as JSON lines");

  std::vector<Command> commands = {
      AddInitCommand(app, g),  AddBackupCommand(app, g),  AddSnapshotsCommand(app, g),
      AddLsCommand(app, g),    AddRestoreCommand(app, g), AddCheckCommand(app, g),
      AddCopyCommand(app, g),  AddKeyCommand(app, g),     AddSourceCommand(app, g),
      AddDrillCommand(app, g), AddStatusCommand(app, g),  AddAuditCommand(app, g)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  auto level = ParseLogLevel(g.log_level);
  if (!level.ok()) return ReportError(g, level.status());
  Status logging = ConfigureLogging(LogOptions{*level, g.log_json, g.log_file});
  if (!logging.ok()) return ReportError(g, logging);
  InstallSignalHandlers();
  for (const Command& c : commands) {
    if (!c.app->parsed()) continue;
    // The audit event names the command and its subcommand ("key rotate"), never arguments:
    // those may hold file names.
    std::string name = c.app->get_name();
    for (const CLI::App* sub : c.app->get_subcommands()) name += " " + sub->get_name();
    Audit().command = name;
    return FinishAudit(g, c.run());
  }
  return kExitUsage;
}

}  // namespace
}  // namespace phivault::cli

int main(int argc, char** argv) {
  // The pipelines allocate and free chunk-sized buffers (64 KiB to 1 MiB) at a high rate; served
  // by mmap they would cost a page fault per 4 KiB and a munmap each, so keep them on the heap.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  return phivault::cli::Main(argc, argv);
}
