// phivault copy: copies snapshots to a second repository (the off-site copy), re-encrypted under
// the target's keys, storing only the data the target does not hold yet.
#include <iostream>

#include "phivault/backup/copier.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"

namespace phivault::cli {
namespace {

struct CopyFlags {
  std::vector<std::string> snapshots;
  std::string to;
  std::string to_keystore;
  std::string to_password_file;
};

int RunCopy(const Globals& g, const CopyFlags& flags) {
  RepositoryTarget to;
  auto name = NormalizeRepositoryName(flags.to);
  if (!name.ok()) return ReportError(g, name.status());
  to.name = *name;
  to.keystore_dir = flags.to_keystore;
  if (to.keystore_dir.empty() && Env("PHIVAULT_TO_KEYSTORE") != nullptr) {
    to.keystore_dir = Env("PHIVAULT_TO_KEYSTORE");
  }
  if (to.keystore_dir.empty()) to.keystore_dir = KeystoreDir(g);
  to.password_file = flags.to_password_file;
  if (to.password_file.empty() && Env("PHIVAULT_TO_PASSWORD_FILE") != nullptr) {
    to.password_file = Env("PHIVAULT_TO_PASSWORD_FILE");
  }
  to.prompt = "enter passphrase of the target repository: ";

  auto source = OpenRepository(g, /*load_index=*/true, /*adopt=*/false);
  if (!source.ok()) return ReportError(g, source.status());
  if (auto from = RepositoryPath(g); from.ok() && *from == to.name) {
    return ReportError(g, InvalidArgumentError("copy --to names the source repository itself"));
  }
  auto target = OpenRepositoryAt(g, to, /*load_index=*/true, /*adopt=*/true);
  if (!target.ok()) return ReportError(g, target.status().WithContext("target " + to.name));
  if ((*target)->config().id == (*source)->config().id) {
    return ReportError(g, InvalidArgumentError("copy --to names the source repository itself"));
  }

  backup::CopyOptions options;
  options.cache_dir = g.cache_dir;
  options.cancel = &g_interrupted;
  backup::Copier copier(source->get(), target->get(), options);
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& wanted : flags.snapshots) {
    auto snap = (*source)->LoadNamedSnapshot(wanted);
    if (!snap.ok()) return ReportError(g, snap.status());
    Audit().objects.push_back("snapshot:" + snap->id.Hex());
    auto r = copier.Copy(*snap);
    if (!r.ok()) return ReportError(g, r.status().WithContext("copy " + snap->id.ShortHex()));
    Audit().objects.push_back("target-snapshot:" + r->target_snapshot.Hex());
    if (g.json) {
      out.push_back({{"source_snapshot", snap->id.Hex()},
                     {"target_snapshot", r->target_snapshot.Hex()},
                     {"already_present", r->already_present},
                     {"blobs_read", r->blobs_read},
                     {"blobs_stored", r->blobs_stored},
                     {"bytes_stored", r->bytes_stored},
                     {"trees", r->trees},
                     {"duration_s", r->duration_s}});
    } else if (r->already_present) {
      std::cout << "snapshot " << snap->id.ShortHex() << " is in " << to.name << " already (as "
                << r->target_snapshot.ShortHex() << ")\n";
    } else {
      std::cout << "copied snapshot " << snap->id.ShortHex() << " to " << to.name << " as "
                << r->target_snapshot.ShortHex() << ": " << r->blobs_stored << " of "
                << r->blobs_read << " blobs stored (" << HumanBytes(r->bytes_stored) << "), the "
                << "rest were there already; " << Rate(r->bytes_stored, r->duration_s) << "\n";
    }
  }
  if (g.json) PrintJson(out);
  return kExitOk;
}

}  // namespace

Command AddCopyCommand(CLI::App& app, Globals& g) {
  auto flags = std::make_shared<CopyFlags>();
  CLI::App* sub = app.add_subcommand(
      "copy", "Copy snapshots to another repository (for example an off-site S3 bucket)");
  sub->add_option("snapshots", flags->snapshots, "Snapshot ids (or prefixes) or 'latest'")
      ->required();
  sub->add_option("--to", flags->to, "The target repository: a directory or s3:https://…")
      ->required();
  sub->add_option("--to-keystore", flags->to_keystore,
                  "Keystore directory of the target (or PHIVAULT_TO_KEYSTORE; default: the "
                  "source's keystore directory)");
  sub->add_option("--to-password-file", flags->to_password_file,
                  "File holding the target's passphrase (or PHIVAULT_TO_PASSWORD_FILE); "
                  "otherwise it is asked on the terminal");
  return Command{sub, [&g, flags] {
                   return RunCopy(g, *flags);
                 }};
}

}  // namespace phivault::cli
