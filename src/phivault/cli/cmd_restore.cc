// phivault restore: writes a snapshot (or some paths of it) below a target directory, verifying
// every byte.
#include <cstdio>
#include <iostream>

#include "phivault/backup/restorer.h"
#include "phivault/base/file_util.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"

namespace phivault::cli {
namespace {

struct RestoreFlags {
  std::string snapshot;
  std::string target;
  std::vector<std::string> includes;
  unsigned threads = 0;
};

int RunRestore(const Globals& g, const RestoreFlags& flags) {
  std::vector<std::string> includes;
  for (const std::string& inc : flags.includes) {
    auto abs = AbsolutePath(inc[0] == '/' ? inc : "/" + inc);
    if (!abs.ok()) return ReportError(g, abs.status());
    includes.push_back(*abs);
  }
  auto repo = OpenRepository(g, /*load_index=*/true, /*adopt=*/false);
  if (!repo.ok()) return ReportError(g, repo.status());
  auto snap = (*repo)->LoadNamedSnapshot(flags.snapshot);
  if (!snap.ok()) return ReportError(g, snap.status());
  Audit().objects.push_back("snapshot:" + snap->id.Hex());

  backup::RestoreOptions options;
  options.target = flags.target;
  options.includes = includes;
  options.threads = flags.threads;
  options.cancel = &g_interrupted;
  backup::Restorer restorer(repo->get());
  Result<backup::RestoreResult> result = [&] {
    auto start = std::chrono::steady_clock::now();
    ProgressLine progress(g, [&] {
      const backup::RestoreProgress& p = restorer.progress();
      return "restore: " + std::to_string(p.files_done.load()) + "/" +
             std::to_string(p.files_total.load()) + " files, " + HumanBytes(p.bytes_done.load()) +
             " / " + HumanBytes(p.bytes_total.load()) + ", " +
             Rate(p.bytes_done.load(), SecondsSince(start));
    });
    return restorer.Run(snap->tree, options);
  }();
  if (!result.ok()) return ReportError(g, result.status());
  const backup::RestoreResult& r = *result;
  if (includes.size() > 0 && r.files + r.dirs + r.symlinks + r.special == 0) {
    return ReportError(g, NotFoundError("no path of the snapshot matches --include"));
  }
  for (const backup::RestoreFailure& f : r.failures) {
    std::cerr << "phivault: " << f.path << ": " << f.error.message() << "\n";
  }
  if (g.json) {
    nlohmann::json failures = nlohmann::json::array();
    for (const backup::RestoreFailure& f : r.failures) {
      failures.push_back({{"path", PathForJson(f.path)},
                          {"error", std::string(f.error.message())},
                          {"code", std::string(StatusCodeName(f.error.code()))}});
    }
    PrintJson({{"snapshot_id", snap->id.Hex()},
               {"files", r.files},
               {"dirs", r.dirs},
               {"symlinks", r.symlinks},
               {"hardlinks", r.hardlinks},
               {"special", r.special},
               {"bytes", r.bytes},
               {"bytes_verified", r.bytes_verified},
               {"failures", failures},
               {"duration_s", r.duration_s}});
  } else {
    // The rate counts bytes written, not the holes of sparse files.
    std::printf(
        "restored snapshot %s: %llu files, %llu directories, %llu links, %s in %.2f s "
        "(%s)\n",
        snap->id.ShortHex().c_str(), static_cast<unsigned long long>(r.files),
        static_cast<unsigned long long>(r.dirs),
        static_cast<unsigned long long>(r.symlinks + r.hardlinks), HumanBytes(r.bytes).c_str(),
        r.duration_s, Rate(r.bytes_verified, r.duration_s).c_str());
    if (r.failures.empty()) {
      std::printf("every restored byte was authenticated and matched its id\n");
    } else {
      std::printf("%zu paths could not be restored (listed above)\n", r.failures.size());
    }
  }
  if (r.data_loss) return kExitDataLoss;
  return r.failures.empty() ? kExitOk : kExitError;
}

}  // namespace

Command AddRestoreCommand(CLI::App& app, Globals& g) {
  auto flags = std::make_shared<RestoreFlags>();
  CLI::App* sub = app.add_subcommand("restore", "Restore a snapshot below a target directory");
  sub->add_option("snapshot", flags->snapshot, "Snapshot id, unique id prefix or 'latest'")
      ->required();
  sub->add_option("--target,-t", flags->target, "Directory to restore into")->required();
  sub->add_option("--include,-i", flags->includes,
                  "Restore only this snapshot path and what is below it (repeatable)");
  sub->add_option("--threads", flags->threads, "Restore workers (default: two per core)");
  return Command{sub, [&g, flags] {
                   return RunRestore(g, *flags);
                 }};
}

}  // namespace phivault::cli
