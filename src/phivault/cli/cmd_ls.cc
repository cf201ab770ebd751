// phivault ls: lists the paths in a snapshot, optionally below one path.
#include <cstdio>
#include <iostream>

#include "phivault/backup/tree_walk.h"
#include "phivault/base/file_util.h"
#include "phivault/base/provenance.h"
#include "phivault/cli/app.h"

namespace phivault::cli {
namespace {

struct LsFlags {
  std::string snapshot;
  std::string path = "/";
  bool long_format = false;
};

std::string ModeString(const repo::Node& n) {
  static const char kTypes[] = "?-dlpscb";
  std::string s(1, kTypes[static_cast<int>(n.type)]);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (n.mode & (0400u >> i)) ? rwx[i] : '-';
  return s;
}

int RunLs(const Globals& g, const LsFlags& flags) {
  auto repo = OpenRepository(g, /*load_index=*/true, /*adopt=*/false);
  if (!repo.ok()) return ReportError(g, repo.status());
  auto snap = (*repo)->LoadNamedSnapshot(flags.snapshot);
  if (!snap.ok()) return ReportError(g, snap.status());
  auto prefix = AbsolutePath(flags.path);
  if (!prefix.ok()) return ReportError(g, prefix.status());

  nlohmann::json out = nlohmann::json::array();
  uint64_t shown = 0;
  auto reader = (*repo)->NewBlobReader();
  Status s = backup::WalkTree(
      reader.get(), snap->tree,
      [&](const std::string& path, const repo::Node& n) -> Result<backup::WalkAction> {
        if (!IsPathWithin(path, *prefix)) {
          return IsPathWithin(*prefix, path) ? backup::WalkAction::kContinue
                                             : backup::WalkAction::kSkipSubtree;
        }
        ++shown;
        if (g.json) {
          out.push_back({{"path", PathForJson(path)},
                         {"type", std::string(repo::NodeTypeName(n.type))},
                         {"size", n.size},
                         {"mode", n.mode},
                         {"uid", n.uid},
                         {"gid", n.gid},
                         {"mtime", FormatUtc(n.mtime_sec * 1000000000 + n.mtime_nsec)}});
        } else if (flags.long_format) {
          std::printf("%s %8s %8s %12llu %s %s%s%s\n", ModeString(n).c_str(),
                      n.user.empty() ? std::to_string(n.uid).c_str() : n.user.c_str(),
                      n.group.empty() ? std::to_string(n.gid).c_str() : n.group.c_str(),
                      static_cast<unsigned long long>(n.size),
                      FormatUtc(n.mtime_sec * 1000000000).c_str(), path.c_str(),
                      n.type == repo::NodeType::kSymlink ? " -> " : "", n.target.c_str());
        } else {
          std::printf("%s\n", path.c_str());
        }
        return backup::WalkAction::kContinue;
      });
  if (!s.ok()) return ReportError(g, s);
  if (g.json) PrintJson(out);
  if (shown == 0 && *prefix != "/") {
    return ReportError(g,
                       NotFoundError("no path " + *prefix + " in snapshot " + snap->id.ShortHex()));
  }
  return kExitOk;
}

}  // namespace

Command AddLsCommand(CLI::App& app, Globals& g) {
  auto flags = std::make_shared<LsFlags>();
  CLI::App* sub = app.add_subcommand("ls", "List the files of a snapshot");
  sub->add_option("snapshot", flags->snapshot, "Snapshot id, unique id prefix or 'latest'")
      ->required();
  sub->add_option("path", flags->path, "Only list this path and what is below it");
  sub->add_flag("--long,-l", flags->long_format, "Show mode, owner, size and mtime");
  return Command{sub, [&g, flags] {
                   return RunLs(g, *flags);
                 }};
}

}  // namespace phivault::cli
