// phivault check: verifies the repository's structure and, with --read-data, every byte.
#include <cstdio>
#include <iostream>

#include "phivault/backup/checker.h"
#include "phivault/base/provenance.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"

namespace phivault::cli {
namespace {

struct CheckFlags {
  bool read_data = false;
};

Status MarkAllVerified(const Globals& g, repo::Repository* repo) {
  PHV_ASSIGN_OR_RETURN(catalog::Catalog cat, OpenCatalog(g, repo->config().id));
  PHV_ASSIGN_OR_RETURN(auto snapshots, repo->LoadSnapshots());
  const int64_t now = WallClockNs();
  for (const repo::Snapshot& s : snapshots) {
    Status marked = cat.MarkVerified(s.id.Hex(), now, "check");
    if (marked.code() != StatusCode::kNotFound) {
      PHV_RETURN_IF_ERROR(marked);
      continue;
    }
    // A snapshot the catalog has not seen (made before it existed, or elsewhere).
    catalog::BackupRow row;
    row.snapshot = s.id.Hex();
    for (const std::string& t : s.tags) {
      if (t.starts_with("source:")) row.source = t.substr(7);
    }
    row.time_ns = s.time_ns;
    row.bytes = s.summary.total_bytes;
    row.files = s.summary.files_new + s.summary.files_changed + s.summary.files_unchanged;
    row.verified_at_ns = now;
    row.verified_by = "check";
    if (!row.source.empty()) PHV_RETURN_IF_ERROR(cat.RecordBackup(row));
  }
  return OkStatus();
}

int RunCheck(const Globals& g, const CheckFlags& flags) {
  auto repo = OpenRepository(g, /*load_index=*/false, /*adopt=*/false);
  if (!repo.ok()) return ReportError(g, repo.status());
  backup::CheckOptions options;
  options.read_data = flags.read_data;
  backup::Checker checker(repo->get());
  Result<backup::CheckReport> report = [&] {
    ProgressLine progress(g, [&] {
      const backup::CheckProgress& p = checker.progress();
      return "check: " + std::to_string(p.packs_done.load()) + "/" +
             std::to_string(p.packs_total.load()) + " packs read, " +
             HumanBytes(p.bytes_done.load());
    });
    return checker.Run(options);
  }();
  if (!report.ok()) return ReportError(g, report.status());
  const backup::CheckReport& r = *report;
  Audit().details["read_data"] = flags.read_data;
  Audit().details["problems"] = r.problems.size();
  if (flags.read_data && r.problems.empty()) {
    // Every snapshot's data was just authenticated: that is what `status` counts as verified.
    Status s = MarkAllVerified(g, repo->get());
    if (!s.ok()) return ReportError(g, s);
  }
  if (g.json) {
    nlohmann::json problems = nlohmann::json::array();
    for (const backup::CheckProblem& p : r.problems) {
      problems.push_back({{"object", p.object},
                          {"error", std::string(p.error.message())},
                          {"code", std::string(StatusCodeName(p.error.code()))}});
    }
    PrintJson({{"ok", r.problems.empty()},
               {"snapshots", r.snapshots},
               {"indexes", r.indexes},
               {"packs", r.packs},
               {"unindexed_packs", r.unindexed_packs},
               {"trees", r.trees},
               {"data_blobs", r.data_blobs},
               {"read_data", flags.read_data},
               {"packs_read", r.packs_read},
               {"bytes_read", r.bytes_read},
               {"blobs_verified", r.blobs_verified},
               {"problems", problems},
               {"duration_s", r.duration_s}});
  } else {
    for (const backup::CheckProblem& p : r.problems) {
      std::cout << "error: " << p.object << ": " << p.error.message() << "\n";
    }
    std::printf(
        "checked %llu snapshots, %llu trees, %llu data blobs, %llu packs in %llu indexes",
        static_cast<unsigned long long>(r.snapshots), static_cast<unsigned long long>(r.trees),
        static_cast<unsigned long long>(r.data_blobs), static_cast<unsigned long long>(r.packs),
        static_cast<unsigned long long>(r.indexes));
    if (flags.read_data) {
      std::printf("; read %llu packs (%s), %llu blobs authenticated",
                  static_cast<unsigned long long>(r.packs_read), HumanBytes(r.bytes_read).c_str(),
                  static_cast<unsigned long long>(r.blobs_verified));
    }
    std::printf(" in %.2f s\n", r.duration_s);
    if (r.unindexed_packs > 0) {
      std::printf(
          "%llu packs left by an interrupted backup are not indexed yet; the next backup "
          "adopts them\n",
          static_cast<unsigned long long>(r.unindexed_packs));
    }
    std::printf(r.problems.empty() ? "no errors found\n" : "%zu errors found\n", r.problems.size());
  }
  return r.problems.empty() ? kExitOk : kExitDataLoss;
}

}  // namespace

Command AddCheckCommand(CLI::App& app, Globals& g) {
  auto flags = std::make_shared<CheckFlags>();
  CLI::App* sub = app.add_subcommand("check", "Verify the repository");
  sub->add_flag("--read-data", flags->read_data,
                "Also read, authenticate and verify every blob of every pack");
  return Command{sub, [&g, flags] {
                   return RunCheck(g, *flags);
                 }};
}

}  // namespace phivault::cli
