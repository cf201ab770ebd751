// The local catalog: what phivault knows about one repository without opening it. It lists the
// protected sources (name, directories, criticality, per-source limits), every backup with its
// size and when a check or drill verified it, every restore drill with its signed record, the
// audit trail's checkpoints, and a few key/value facts such as the repository id. `phivault
// status` and the dashboard answer from it alone, so they need neither keys nor storage.
//
// One SQLite file per repository, at a path the caller picks (by convention
// <state dir>/<repository id>.catalog). The schema and the reasons behind its settings are in
// doc/format/catalog.md. The catalog holds no secrets and no ePHI: the only paths in it are the
// source directories an administrator typed (configuration such as /srv/ehr), never the names of
// files inside them.
//
// Every statement is prepared with bound parameters, so names, paths and records are stored
// verbatim whatever characters they hold.
//
// Thread safety: a Catalog is one SQLite connection and must be used by one thread at a time.
// Several Catalog objects, in one process or many, may open the same file at once: writers wait
// for each other up to 5 s (SQLite's busy timeout) before a call fails with kUnavailable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "phivault/base/status.h"
#include "phivault/catalog/policy.h"

struct sqlite3;

namespace phivault::catalog {

// The schema version this phivault reads and writes (PRAGMA user_version).
inline constexpr int kCatalogSchemaVersion = 1;

// A protected source: a named set of directories backed up together.
struct Source {
  // [A-Za-z0-9._-]{1,64}; the key everything else refers to.
  std::string name;
  // Absolute paths, at least one, UTF-8.
  std::vector<std::string> paths;
  // A critical system must pass a restore drill every drill_interval and project a full restore
  // within its rto.
  bool critical = false;
  // Overrides of the policy's limits; nullopt means the policy applies.
  std::optional<Seconds> rpo;
  std::optional<Seconds> rto;
  // Unix time in nanoseconds; 0 in AddSource means now.
  int64_t created_ns = 0;

  friend bool operator==(const Source&, const Source&) = default;
};

// One backup (snapshot) of a source.
struct BackupRow {
  std::string snapshot;  // the snapshot id, 64 lowercase hex digits
  std::string source;
  int64_t time_ns = 0;  // the snapshot's time, Unix nanoseconds
  uint64_t bytes = 0;
  uint64_t files = 0;
  // When a check or drill last verified every byte of it; nullopt: never.
  std::optional<int64_t> verified_at_ns;
  // Who verified it: "check" or "drill:<drill id>"; empty when not verified.
  std::string verified_by;

  friend bool operator==(const BackupRow&, const BackupRow&) = default;
};

// One restore drill.
struct DrillRow {
  std::string id;
  std::string source;    // empty when the drill restored a snapshot of no catalogued source
  std::string snapshot;  // 64 lowercase hex digits
  int64_t started_ns = 0;
  int64_t finished_ns = 0;
  bool passed = false;
  uint64_t bytes = 0;
  uint64_t files = 0;
  double throughput = 0;                 // bytes per second
  std::optional<Seconds> projected_rto;  // projected full-restore time of the source
  std::string record;                    // the signed drill record (JSON), kept as evidence

  friend bool operator==(const DrillRow&, const DrillRow&) = default;
};

class Catalog {
 public:
  // Opens the catalog at `path`, creating it (mode 0600) if missing; the directory must exist.
  // An existing file readable by others is narrowed to 0600. A catalog written by a newer
  // schema is kFailedPrecondition tagged kFormatVersion; a file that is not an SQLite database,
  // or a damaged one, is kDataLoss; a symlink as the last path component is refused.
  static Result<Catalog> Open(const std::string& path);

  Catalog(Catalog&& other) noexcept;
  Catalog& operator=(Catalog&& other) noexcept;
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;
  ~Catalog();

  const std::string& path() const { return path_; }

  // Sources. AddSource is kAlreadyExists for a name in use, kInvalidArgument for a bad name, no
  // path, a relative or non-UTF-8 path, or an override outside (0, kMaxDuration]. UpdateSource
  // replaces paths, criticality and overrides (never created_ns) and is kNotFound for an unknown
  // name, as is RemoveSource. Removing a source keeps its backups and drills as history.
  Status AddSource(const Source& source);
  Status UpdateSource(const Source& source);
  Status RemoveSource(const std::string& name);
  Result<std::optional<Source>> FindSource(const std::string& name);
  // All sources, ordered by name.
  Result<std::vector<Source>> Sources();

  // Records a backup, or replaces the row of the same snapshot. A replacement without
  // verified_at keeps the verification already recorded: evidence is not lost by re-recording.
  // kInvalidArgument for a malformed snapshot id, an empty source, counts above INT64_MAX, or a
  // verified_at without a valid verified_by.
  Status RecordBackup(const BackupRow& backup);
  // Records that `by` ("check" or "drill:<id>") verified `snapshot` at `at_ns`, replacing an
  // earlier verification. kNotFound for an unknown snapshot.
  Status MarkVerified(const std::string& snapshot, int64_t at_ns, const std::string& by);
  // The backups of `source`, newest snapshot time first.
  Result<std::vector<BackupRow>> Backups(const std::string& source);

  // Records a drill. Drill records are evidence and never replaced: an existing id is
  // kAlreadyExists.
  Status RecordDrill(const DrillRow& drill);
  // The drills of `source` ("" for all), latest start first.
  Result<std::vector<DrillRow>> Drills(const std::string& source = "");
  // The drill whose id is `id_or_prefix`, or the one drill whose id starts with it; nullopt if
  // none does. A prefix shared by several drills, or an empty one, is kInvalidArgument.
  Result<std::optional<DrillRow>> FindDrill(const std::string& id_or_prefix);

  // Records an audit-trail checkpoint. Recording the same (seq, time, line) again is OK; a
  // different one under a recorded seq is kAlreadyExists, because it means the trail forked.
  Status RecordCheckpoint(uint64_t seq, const std::string& time, const std::string& line);
  // (seq, line) of every checkpoint, by seq.
  Result<std::vector<std::pair<uint64_t, std::string>>> Checkpoints();

  // Small facts about the repository ("repository_id", ...), replaced on every SetMeta.
  Status SetMeta(const std::string& key, const std::string& value);
  Result<std::optional<std::string>> Meta(const std::string& key);

 private:
  Catalog(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status Initialize();
  void Close();

  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace phivault::catalog
