// phivault snapshots: lists the repository's snapshots, oldest first.
#include <cstdio>
#include <iostream>

#include "phivault/base/provenance.h"
#include "phivault/cli/app.h"

namespace phivault::cli {
namespace {

nlohmann::json SnapshotJson(const repo::Snapshot& s) {
  nlohmann::json paths = nlohmann::json::array();
  for (const std::string& p : s.paths) paths.push_back(PathForJson(p));
  nlohmann::json j = {{"id", s.id.Hex()},
                      {"time", FormatUtc(s.time_ns)},
                      {"host", s.host},
                      {"user", s.user},
                      {"paths", paths},
                      {"tags", s.tags},
                      {"tree", s.tree.Hex()},
                      {"partial", s.partial},
                      {"program", s.program},
                      {"summary",
                       {{"files_new", s.summary.files_new},
                        {"files_changed", s.summary.files_changed},
                        {"files_unchanged", s.summary.files_unchanged},
                        {"dirs", s.summary.dirs},
                        {"bytes_added", s.summary.bytes_added},
                        {"total_bytes", s.summary.total_bytes}}}};
  if (s.parent) j["parent"] = s.parent->Hex();
  return j;
}

int RunSnapshots(const Globals& g) {
  auto repo = OpenRepository(g, /*load_index=*/false, /*adopt=*/false);
  if (!repo.ok()) return ReportError(g, repo.status());
  std::vector<std::pair<Id, Status>> bad;
  auto snaps = (*repo)->LoadSnapshots(&bad);
  if (!snaps.ok()) return ReportError(g, snaps.status());
  for (const auto& [id, status] : bad) {
    std::cerr << "phivault: snapshot " << id.Hex() << " is unreadable: " << status.message()
              << "\n";
  }
  if (g.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const repo::Snapshot& s : *snaps) out.push_back(SnapshotJson(s));
    PrintJson(out);
  } else {
    std::printf("%-8s  %-20s  %-16s  %10s  %s\n", "ID", "TIME (UTC)", "HOST", "SIZE", "PATHS");
    for (const repo::Snapshot& s : *snaps) {
      std::string paths;
      for (const std::string& p : s.paths) paths += (paths.empty() ? "" : " ") + p;
      std::printf("%-8s  %-20s  %-16s  %10s  %s%s\n", s.id.ShortHex().c_str(),
                  FormatUtc(s.time_ns).c_str(), s.host.c_str(),
                  HumanBytes(s.summary.total_bytes).c_str(), paths.c_str(),
                  s.partial ? " (partial)" : "");
    }
    std::printf("%zu snapshots\n", snaps->size());
  }
  return bad.empty() ? kExitOk : kExitDataLoss;
}

}  // namespace

Command AddSnapshotsCommand(CLI::App& app, Globals& g) {
  CLI::App* sub = app.add_subcommand("snapshots", "List snapshots");
  return Command{sub, [&g] {
                   return RunSnapshots(g);
                 }};
}

}  // namespace phivault::cli
