// phivault backup: stores a new snapshot of the given paths.
#include <cstdio>
#include <iostream>

#include "phivault/backup/archiver.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"
#include "phivault/repo/compression.h"

namespace phivault::cli {
namespace {

struct BackupFlags {
  std::vector<std::string> paths;
  std::vector<std::string> excludes;
  std::vector<std::string> tags;
  std::string host;
  std::string compression = "default";
  std::string source;
  bool no_cache = false;
  unsigned threads = 0;
};

std::string RenderProgress(const backup::BackupProgress& p,
                           std::chrono::steady_clock::time_point start) {
  uint64_t done = p.bytes_done.load();
  return "backup: " + std::to_string(p.files_done.load()) + "/" +
         std::to_string(p.files_seen.load()) + " files, " + HumanBytes(done) + " / " +
         HumanBytes(p.bytes_seen.load()) + ", " + Rate(done, SecondsSince(start));
}

void PrintSummary(const Globals& g, const backup::BackupResult& r) {
  const repo::SnapshotSummary& s = r.snapshot.summary;
  if (g.json) {
    PrintJson({{"snapshot_id", r.snapshot.id.Hex()},
               {"files_new", s.files_new},
               {"files_changed", s.files_changed},
               {"files_unchanged", s.files_unchanged},
               {"dirs", s.dirs},
               {"bytes_read", s.bytes_read},
               {"bytes_added", s.bytes_added},
               {"blobs_added", s.blobs_added},
               {"total_bytes", s.total_bytes},
               {"files_unreadable", s.files_unreadable},
               {"partial", r.snapshot.partial},
               {"duration_s", r.duration_s}});
    return;
  }
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.2f s", r.duration_s);
  std::cout << "snapshot " << r.snapshot.id.ShortHex() << " saved"
            << (r.snapshot.partial ? " (partial: some files could not be read)" : "") << "\n"
            << "  files: " << s.files_new << " new, " << s.files_changed << " changed, "
            << s.files_unchanged << " unchanged; " << s.dirs << " directories\n"
            << "  read " << HumanBytes(s.bytes_read) << " of " << HumanBytes(s.total_bytes)
            << ", added " << HumanBytes(s.bytes_added) << " to the repository in " << seconds
            << " (" << Rate(s.bytes_read, r.duration_s) << " read)\n";
}

int RunBackup(const Globals& g, const BackupFlags& flags) {
  auto mode = repo::ParseCompressionMode(flags.compression);
  if (!mode.ok()) return ReportError(g, mode.status());
  if (flags.paths.empty() == flags.source.empty()) {
    return ReportError(g, InvalidArgumentError("give the paths to back up, or --source NAME"));
  }
  auto repo = OpenRepository(g, /*load_index=*/true, /*adopt=*/true);
  if (!repo.ok()) return ReportError(g, repo.status());
  (*repo)->set_compression(*mode);
  auto cat = OpenCatalog(g, (*repo)->config().id);
  if (!cat.ok()) return ReportError(g, cat.status());

  backup::BackupOptions options;
  options.paths = flags.paths;
  if (!flags.source.empty()) {
    auto source = cat->FindSource(flags.source);
    if (!source.ok()) return ReportError(g, source.status());
    if (!*source) {
      return ReportError(g, NotFoundError("no source named " + flags.source + " (source add)"));
    }
    options.paths = (*source)->paths;
    Audit().objects.push_back("source:" + flags.source);
  }
  options.excludes = flags.excludes;
  options.tags = flags.tags;
  if (!flags.source.empty()) options.tags.push_back("source:" + flags.source);
  options.host = flags.host;
  options.cache_dir = g.cache_dir;
  options.use_cache = !flags.no_cache;
  options.threads = flags.threads;
  options.cancel = &g_interrupted;

  backup::Archiver archiver(repo->get());
  Result<backup::BackupResult> result = [&] {
    auto start = std::chrono::steady_clock::now();
    ProgressLine progress(g, [&] { return RenderProgress(archiver.progress(), start); });
    return archiver.Run(options);
  }();
  if (!result.ok()) return ReportError(g, result.status());
  Audit().objects.push_back("snapshot:" + result->snapshot.id.Hex());
  Audit().details["bytes_added"] = result->snapshot.summary.bytes_added;
  Audit().details["files"] = result->snapshot.summary.files_new +
                             result->snapshot.summary.files_changed +
                             result->snapshot.summary.files_unchanged;
  catalog::BackupRow row;
  row.snapshot = result->snapshot.id.Hex();
  row.source = flags.source;
  row.time_ns = result->snapshot.time_ns;
  row.bytes = result->snapshot.summary.total_bytes;
  row.files = result->snapshot.summary.files_new + result->snapshot.summary.files_changed +
              result->snapshot.summary.files_unchanged;
  // The catalog tracks the backups of sources; a backup of ad-hoc paths belongs to none.
  if (!row.source.empty()) {
    Status recorded = cat->RecordBackup(row);
    if (!recorded.ok()) return ReportError(g, recorded);
  }
  for (const backup::UnreadableFile& f : result->unreadable) {
    std::cerr << "phivault: could not read " << f.path << ": " << f.error.message() << "\n";
  }
  PrintSummary(g, *result);
  return result->unreadable.empty() ? kExitOk : kExitPartial;
}

}  // namespace

Command AddBackupCommand(CLI::App& app, Globals& g) {
  auto flags = std::make_shared<BackupFlags>();
  CLI::App* sub = app.add_subcommand("backup", "Back up files and directories as a new snapshot");
  sub->add_option("paths", flags->paths, "Files and directories to back up");
  sub->add_option("--source", flags->source, "Back up the paths of this source (source add)");
  sub->add_option("--exclude,-e", flags->excludes,
                  "Leave out paths matching this glob (a pattern with '/' matches whole paths)");
  sub->add_option("--tag", flags->tags, "Tag the snapshot (repeatable)");
  sub->add_option("--host", flags->host, "Host name recorded in the snapshot");
  sub->add_option("--compression", flags->compression,
                  "fast (zstd 1), default (zstd 2), small (zstd 6) or off")
      ->capture_default_str();
  sub->add_flag("--no-cache", flags->no_cache, "Read every file, ignoring the files cache");
  sub->add_option("--threads", flags->threads, "Reader and saver threads (default: one per core)");
  return Command{sub, [&g, flags] {
                   return RunBackup(g, *flags);
                 }};
}

}  // namespace phivault::cli
