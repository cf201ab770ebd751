// phivault source: the protected sources of a repository, kept in the local catalog
// (doc/format/catalog.md). A source names the paths one system's data lives in, whether it is
// critical (drilled, with a restore-time target) and its own limits when they are stricter than
// the policy's. `backup --source NAME` backs up its paths; `status` and `drill` report per source.
#include <iostream>

#include "phivault/base/file_util.h"
#include "phivault/base/provenance.h"
#include "phivault/catalog/policy.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"
#include "phivault/repo/snapshot.h"

namespace phivault::cli {
namespace {

struct SourceFlags {
  std::string name;
  std::vector<std::string> paths;
  bool critical = false;
  std::string rpo;
  std::string rto;
};

nlohmann::ordered_json SourceJson(const catalog::Source& s) {
  nlohmann::ordered_json j = {{"name", s.name},
                              {"paths", s.paths},
                              {"critical", s.critical},
                              {"created", FormatUtc(s.created_ns)}};
  if (s.rpo) j["rpo"] = catalog::FormatDuration(*s.rpo);
  if (s.rto) j["rto"] = catalog::FormatDuration(*s.rto);
  return j;
}

int RunAdd(const Globals& g, const SourceFlags& f) {
  catalog::Source s;
  s.name = f.name;
  s.critical = f.critical;
  for (const std::string& p : f.paths) {
    auto abs = AbsolutePath(p);
    if (!abs.ok()) return ReportError(g, abs.status());
    s.paths.push_back(*abs);
  }
  for (auto [text, field] : {std::pair{&f.rpo, &s.rpo}, std::pair{&f.rto, &s.rto}}) {
    if (text->empty()) continue;
    auto d = catalog::ParseDuration(*text);
    if (!d.ok()) return ReportError(g, d.status());
    *field = *d;
  }
  s.created_ns = WallClockNs();
  auto cat = OpenRepositoryCatalog(g);
  if (!cat.ok()) return ReportError(g, cat.status());
  Status added = cat->AddSource(s);
  if (!added.ok()) return ReportError(g, added);
  Audit().objects.push_back("source:" + s.name);
  Audit().details["critical"] = s.critical;
  if (g.json) {
    PrintJson(SourceJson(s));
  } else {
    std::cout << "added source " << s.name << (s.critical ? " (critical)" : "") << "\n";
  }
  return kExitOk;
}

int RunList(const Globals& g) {
  auto cat = OpenRepositoryCatalog(g);
  if (!cat.ok()) return ReportError(g, cat.status());
  auto sources = cat->Sources();
  if (!sources.ok()) return ReportError(g, sources.status());
  if (g.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const catalog::Source& s : *sources) out.push_back(SourceJson(s));
    PrintJson(out);
    return kExitOk;
  }
  for (const catalog::Source& s : *sources) {
    std::cout << s.name << (s.critical ? "  critical" : "") << "  rpo "
              << (s.rpo ? catalog::FormatDuration(*s.rpo) : "policy") << "  rto "
              << (s.rto ? catalog::FormatDuration(*s.rto) : "policy") << "\n";
    for (const std::string& p : s.paths) std::cout << "    " << p << "\n";
  }
  return kExitOk;
}

int RunRemove(const Globals& g, const SourceFlags& f) {
  auto cat = OpenRepositoryCatalog(g);
  if (!cat.ok()) return ReportError(g, cat.status());
  Status removed = cat->RemoveSource(f.name);
  if (!removed.ok()) return ReportError(g, removed);
  Audit().objects.push_back("source:" + f.name);
  if (!g.json) std::cout << "removed source " << f.name << " (its snapshots stay)\n";
  return kExitOk;
}

}  // namespace

Command AddSourceCommand(CLI::App& app, Globals& g) {
  auto f = std::make_shared<SourceFlags>();
  CLI::App* source = app.add_subcommand("source", "Protected sources and their limits");
  source->require_subcommand(1);
  CLI::App* add = source->add_subcommand("add", "Add a source: a name and the paths it covers");
  add->add_option("name", f->name, "Name, e.g. ehr-db")->required();
  add->add_option("paths", f->paths, "Absolute paths of its data")->required();
  add->add_flag("--critical", f->critical, "A critical system: drilled, with a restore target");
  add->add_option("--rpo", f->rpo,
                  "Maximum age of its newest verified backup, e.g. 24h "
                  "(default: the policy's, 48h)");
  add->add_option("--rto", f->rto, "Restore-time target, e.g. 72h (default: the policy's)");
  CLI::App* list = source->add_subcommand("list", "List the sources");
  CLI::App* remove = source->add_subcommand("remove", "Remove a source from the catalog");
  remove->add_option("name", f->name, "Name")->required();
  return Command{source, [&g, f, add, list, remove] {
                   if (add->parsed()) return RunAdd(g, *f);
                   if (list->parsed()) return RunList(g);
                   if (remove->parsed()) return RunRemove(g, *f);
                   return static_cast<int>(kExitUsage);
                 }};
}

}  // namespace phivault::cli
