// phivault status: per source, the age of the newest backup a check or a drill verified against
// its RPO, the last drill and its result, and the projected restore time against the RTO
// (catalog/status.h has the rules). Exits 30 when a limit is close and 31 when one is passed, so
// cron or a monitoring system can alert on the exit code alone.
#include <cstdio>
#include <iostream>

#include "phivault/audit/audit_log.h"
#include "phivault/base/file_util.h"
#include "phivault/base/provenance.h"
#include "phivault/catalog/status.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"

namespace phivault::cli {

namespace {

struct StatusFlags {
  std::string policy;
};

int RunStatus(const Globals& g, const StatusFlags& flags) {
  auto id = RepositoryIdOf(g);
  if (!id.ok()) return ReportError(g, id.status());
  auto policy = LoadPolicy(g, flags.policy);
  if (!policy.ok()) return ReportError(g, policy.status());
  auto now = NowNs();
  if (!now.ok()) return ReportError(g, now.status());
  auto cat = OpenCatalog(g, *id);
  if (!cat.ok()) return ReportError(g, cat.status());
  auto sources = cat->Sources();
  if (!sources.ok()) return ReportError(g, sources.status());
  Status read_error;
  auto backups = [&](const std::string& s) {
    auto r = cat->Backups(s);
    if (!r.ok()) read_error = r.status();
    return r.ok() ? *r : std::vector<catalog::BackupRow>{};
  };
  auto drills = [&](const std::string& s) {
    auto r = cat->Drills(s);
    if (!r.ok()) read_error = r.status();
    return r.ok() ? *r : std::vector<catalog::DrillRow>{};
  };
  catalog::StatusReport report = catalog::Evaluate(*policy, *sources, backups, drills, *now);
  if (!read_error.ok()) return ReportError(g, read_error);
  // A trail that cannot take the next record means commands are no longer being recorded: an
  // audit-control breach, whatever the backups look like.
  const Status trail = audit::CheckTail(AuditLogPath(g, *id));
  if (!trail.ok()) {
    report.overall = catalog::Health::kBreached;
    report.exit_code = catalog::kExitStatusBreached;
  }
  Audit().details["overall"] = std::string(catalog::HealthName(report.overall));
  if (g.json) {
    nlohmann::ordered_json out = catalog::ToJson(report);
    out["now"] = FormatUtc(*now);
    out["policy"] = nlohmann::ordered_json::parse(policy->ToJson());
    out["audit_trail"] = {{"writable", trail.ok()}};
    if (!trail.ok()) out["audit_trail"]["problem"] = std::string(trail.message());
    PrintJson(out);
    return report.exit_code;
  }
  if (report.sources.empty()) {
    std::cout << "no sources: add one with phivault source add NAME PATH... [--critical]\n";
  }
  std::printf("%-20s %-9s %-22s %-9s %-10s %s\n", "SOURCE", "HEALTH", "NEWEST VERIFIED (UTC)",
              "AGE", "LAST DRILL", "PROJECTED RTO");
  for (const catalog::SourceStatus& s : report.sources) {
    std::string newest = s.newest_verified_ns ? FormatUtc(*s.newest_verified_ns) : "none";
    std::string age = s.age ? catalog::FormatDuration(*s.age) : "-";
    std::string drill = !s.last_drill ? "never" : s.last_drill->passed ? "passed" : "FAILED";
    std::string rto = s.projected_rto ? catalog::FormatDuration(*s.projected_rto) + " / " +
                                            catalog::FormatDuration(s.rto)
                                      : "-";
    std::printf("%-20s %-9s %-22s %-9s %-10s %s\n", s.name.c_str(),
                std::string(catalog::HealthName(s.overall)).c_str(), newest.c_str(), age.c_str(),
                drill.c_str(), rto.c_str());
    for (const std::string& r : s.reasons) std::printf("    %s\n", r.c_str());
  }
  if (!trail.ok()) {
    std::cout << "audit trail: BREACHED: " << trail.message()
              << "\n    run phivault audit verify; if its only finding is an incomplete last "
                 "line, phivault audit repair\n";
  }
  std::cout << "overall: " << catalog::HealthName(report.overall) << "\n";
  return report.exit_code;
}

}  // namespace

Command AddStatusCommand(CLI::App& app, Globals& g) {
  auto flags = std::make_shared<StatusFlags>();
  CLI::App* sub = app.add_subcommand(
      "status", "Backup age, drills and projected restore time of every source against policy");
  sub->add_option("--policy", flags->policy,
                  "Policy file (JSON; or set PHIVAULT_POLICY; default <state dir>/policy.json)");
  return Command{sub, [&g, flags] {
                   return RunStatus(g, *flags);
                 }};
}

}  // namespace phivault::cli
