#include "phivault/catalog/catalog.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <string_view>

#include <nlohmann/json.hpp>

#include "phivault/base/file_util.h"
#include "phivault/base/provenance.h"

namespace phivault::catalog {
namespace {

// Long enough for another phivault process to finish a commit (a few fsyncs), short enough that
// a wedged process is reported rather than waited for.
constexpr int kBusyTimeoutMs = 5000;

constexpr size_t kMaxSourceName = 64;

// Each statement separately, because a prepared statement holds exactly one.
constexpr const char* kSchema[] = {
    "CREATE TABLE IF NOT EXISTS sources ("
    " name TEXT PRIMARY KEY NOT NULL, paths TEXT NOT NULL, critical INTEGER NOT NULL,"
    " rpo INTEGER, rto INTEGER, created INTEGER NOT NULL) STRICT",
    "CREATE TABLE IF NOT EXISTS backups ("
    " snapshot TEXT PRIMARY KEY NOT NULL, source TEXT NOT NULL, time INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, files INTEGER NOT NULL, verified_at INTEGER, verified_by TEXT)"
    " STRICT",
    "CREATE INDEX IF NOT EXISTS backups_by_source ON backups (source, time)",
    "CREATE TABLE IF NOT EXISTS drills ("
    " id TEXT PRIMARY KEY NOT NULL, source TEXT, snapshot TEXT NOT NULL,"
    " started INTEGER NOT NULL, finished INTEGER NOT NULL, passed INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, files INTEGER NOT NULL, throughput REAL NOT NULL,"
    " projected_rto INTEGER, record TEXT NOT NULL) STRICT",
    "CREATE INDEX IF NOT EXISTS drills_by_source ON drills (source, started)",
    "CREATE TABLE IF NOT EXISTS audit_checkpoints ("
    " seq INTEGER PRIMARY KEY NOT NULL, time TEXT NOT NULL, line TEXT NOT NULL) STRICT",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) STRICT",
};

Status SqliteStatus(sqlite3* db, int rc, std::string_view what) {
  std::string message = "catalog: " + std::string(what) + ": " +
                        (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return UnavailableError(std::move(message));
    case SQLITE_FULL:
    case SQLITE_NOMEM: return ResourceExhaustedError(std::move(message));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return DataLossError(std::move(message));
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH: return PermissionDeniedError(std::move(message));
    default: return InternalError(std::move(message));
  }
}

// A prepared statement. Bind errors are kept and reported by the next Step, so a call site binds
// all parameters and checks once.
class Statement {
 public:
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(db, rc, "prepare");
    return Statement(db, stmt);
  }

  Statement(Statement&& other) noexcept
      : db_(other.db_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}
  Statement& operator=(Statement&&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }

  void Bind(int i, int64_t v) { Note(sqlite3_bind_int64(stmt_, i, v)); }
  void Bind(int i, double v) { Note(sqlite3_bind_double(stmt_, i, v)); }
  void Bind(int i, bool v) { Bind(i, int64_t{v ? 1 : 0}); }
  // SQLITE_TRANSIENT: SQLite copies the bytes, so `v` need not outlive the statement.
  void Bind(int i, std::string_view v) {
    const char* data = v.data() != nullptr ? v.data() : "";
    Note(sqlite3_bind_text64(stmt_, i, data, v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  void Bind(int i, const std::string& v) { Bind(i, std::string_view(v)); }
  void Bind(int i, const char* v) = delete;
  void Bind(int i, const std::optional<int64_t>& v) {
    if (v) {
      Bind(i, *v);
    } else {
      BindNull(i);
    }
  }
  void BindNull(int i) { Note(sqlite3_bind_null(stmt_, i)); }
  void BindNullIfEmpty(int i, const std::string& v) {
    if (v.empty()) {
      BindNull(i);
    } else {
      Bind(i, v);
    }
  }

  // Runs one step: true when a row is ready, false when the statement is done. `rc`, if given,
  // receives SQLite's result code so a caller can tell a constraint violation from other errors.
  Result<bool> Step(std::string_view what, int* rc_out = nullptr) {
    int rc = bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(stmt_);
    if (rc_out != nullptr) *rc_out = rc;
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(db_, rc, what);
  }
  // Runs a statement that returns no rows.
  Status Run(std::string_view what, int* rc_out = nullptr) {
    auto row = Step(what, rc_out);
    if (!row.ok()) return row.status();
    return *row ? InternalError("catalog: " + std::string(what) + ": unexpected row") : OkStatus();
  }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  std::optional<int64_t> OptionalInt(int col) const {
    return IsNull(col) ? std::nullopt : std::optional<int64_t>(Int(col));
  }
  std::string Text(int col) const {
    // The text pointer first, then its length, as SQLite's documentation requires.
    const auto* text = sqlite3_column_text(stmt_, col);
    int size = sqlite3_column_bytes(stmt_, col);
    if (text == nullptr) return std::string();
    return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
  }

 private:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void Note(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// Runs a constant statement that takes no parameters.
Status Exec(sqlite3* db, std::string_view sql, std::string_view what) {
  PHV_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, sql));
  auto row = stmt.Step(what);
  return row.status();
}

Result<int64_t> QueryInt(sqlite3* db, std::string_view sql, std::string_view what) {
  PHV_ASSIGN_OR_RETURN(Statement stmt, Statement::Prepare(db, sql));
  PHV_ASSIGN_OR_RETURN(bool row, stmt.Step(what));
  if (!row) return InternalError("catalog: " + std::string(what) + ": no result");
  return stmt.Int(0);
}

bool IsConstraint(int rc) { return (rc & 0xff) == SQLITE_CONSTRAINT; }

Status ValidateSourceName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= kMaxSourceName;
  for (char c : name) {
    ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-');
  }
  if (ok) return OkStatus();
  return InvalidArgumentError("source name must be 1 to 64 of A-Z a-z 0-9 . _ -");
}

Status ValidateLimit(const std::optional<Seconds>& limit, std::string_view what) {
  if (!limit || (*limit > 0 && *limit <= kMaxDuration)) return OkStatus();
  return InvalidArgumentError("source " + std::string(what) + " must be between 1s and 100 years");
}

// Checks the source and returns its paths as a JSON array.
Result<std::string> ValidateSource(const Source& s) {
  PHV_RETURN_IF_ERROR(ValidateSourceName(s.name));
  if (s.paths.empty()) return InvalidArgumentError("source " + s.name + " needs at least one path");
  for (const auto& p : s.paths) {
    if (p.empty() || p[0] != '/') {
      return InvalidArgumentError("source " + s.name + ": path \"" + p + "\" is not absolute");
    }
  }
  PHV_RETURN_IF_ERROR(ValidateLimit(s.rpo, "rpo"));
  PHV_RETURN_IF_ERROR(ValidateLimit(s.rto, "rto"));
  try {
    return nlohmann::json(s.paths).dump();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgumentError("source " + s.name + ": paths must be UTF-8");
  }
}

Result<Source> ReadSource(const Statement& stmt) {
  Source s;
  s.name = stmt.Text(0);
  nlohmann::json paths = nlohmann::json::parse(stmt.Text(1), nullptr, /*allow_exceptions=*/false);
  bool ok = paths.is_array() && !paths.empty();
  for (const auto& p : paths) {
    ok = ok && p.is_string();
    if (ok) s.paths.push_back(p.get<std::string>());
  }
  if (!ok) return DataLossError("catalog: source " + s.name + ": malformed paths");
  s.critical = stmt.Int(2) != 0;
  s.rpo = stmt.OptionalInt(3);
  s.rto = stmt.OptionalInt(4);
  s.created_ns = stmt.Int(5);
  if (!ValidateLimit(s.rpo, "rpo").ok() || !ValidateLimit(s.rto, "rto").ok()) {
    return DataLossError("catalog: source " + s.name + ": limit out of range");
  }
  return s;
}

bool IsSnapshotId(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status ValidateVerifier(const std::string& by) {
  if (by == "check" || (by.starts_with("drill:") && by.size() > 6)) return OkStatus();
  return InvalidArgumentError("a backup is verified by \"check\" or \"drill:<id>\"");
}

// SQLite integers are signed; counts above INT64_MAX cannot be stored and cannot be real.
Result<int64_t> Count(uint64_t v, std::string_view what) {
  if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return InvalidArgumentError("catalog: " + std::string(what) + " is out of range");
  }
  return static_cast<int64_t>(v);
}

BackupRow ReadBackup(const Statement& stmt) {
  BackupRow b;
  b.snapshot = stmt.Text(0);
  b.source = stmt.Text(1);
  b.time_ns = stmt.Int(2);
  b.bytes = static_cast<uint64_t>(stmt.Int(3));
  b.files = static_cast<uint64_t>(stmt.Int(4));
  b.verified_at_ns = stmt.OptionalInt(5);
  b.verified_by = stmt.Text(6);
  return b;
}

// The columns ReadDrill reads, in its order; a macro so that queries stay string literals.
#define DRILL_COLUMNS                                                                         \
  "id, source, snapshot, started, finished, passed, bytes, files, throughput, projected_rto," \
  " record"

DrillRow ReadDrill(const Statement& stmt) {
  DrillRow d;
  d.id = stmt.Text(0);
  d.source = stmt.Text(1);
  d.snapshot = stmt.Text(2);
  d.started_ns = stmt.Int(3);
  d.finished_ns = stmt.Int(4);
  d.passed = stmt.Int(5) != 0;
  d.bytes = static_cast<uint64_t>(stmt.Int(6));
  d.files = static_cast<uint64_t>(stmt.Int(7));
  d.throughput = stmt.Real(8);
  d.projected_rto = stmt.OptionalInt(9);
  d.record = stmt.Text(10);
  return d;
}

Result<std::vector<DrillRow>> ReadDrills(Statement& stmt, std::string_view what) {
  std::vector<DrillRow> out;
  while (true) {
    PHV_ASSIGN_OR_RETURN(bool row, stmt.Step(what));
    if (!row) return out;
    out.push_back(ReadDrill(stmt));
  }
}

// Creates the file owner-only before SQLite sees it: SQLite would create it 0644 less the umask,
// and it gives its -wal and -shm files the mode of the database file.
Status CreatePrivateFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoToStatus(errno, "open catalog " + path);
  UniqueFd owner(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoToStatus(errno, "stat catalog " + path);
  if (!S_ISREG(st.st_mode)) {
    return FailedPreconditionError("catalog " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0 && fchmod(fd, 0600) != 0) {
    return ErrnoToStatus(errno, "chmod catalog " + path);
  }
  return OkStatus();
}

}  // namespace

Result<Catalog> Catalog::Open(const std::string& path) {
  if (path.empty()) return InvalidArgumentError("catalog path is empty");
  PHV_RETURN_IF_ERROR(CreatePrivateFile(path));
  sqlite3* db = nullptr;
  // NOMUTEX: a Catalog is used by one thread at a time, so SQLite's own locking is not needed.
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, nullptr);
  Catalog catalog(db, path);  // owns `db` even when the open failed
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, "open " + path);
  PHV_RETURN_IF_ERROR(catalog.Initialize().WithContext("open " + path));
  return catalog;
}

Status Catalog::Initialize() {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, kBusyTimeoutMs);

  // Before anything writes: a newer schema may have chosen other settings too.
  auto check_version = [&]() -> Status {
    PHV_ASSIGN_OR_RETURN(int64_t version, QueryInt(db_, "PRAGMA user_version", "read version"));
    if (version <= kCatalogSchemaVersion) return OkStatus();
    return FailedPreconditionError("catalog schema version " + std::to_string(version) +
                                   " is newer than this phivault reads (version " +
                                   std::to_string(kCatalogSchemaVersion) + "); upgrade phivault")
        .WithTag(ErrorTag::kFormatVersion);
  };
  PHV_RETURN_IF_ERROR(check_version());

  // WAL lets `status` and the dashboard read while a backup or drill records, and commits with
  // one fsync. If the file system cannot do WAL, SQLite keeps its rollback journal, which is as
  // safe, only with readers waiting for writers, so the mode it reports is not checked.
  PHV_RETURN_IF_ERROR(Exec(db_, "PRAGMA journal_mode = WAL", "set journal mode"));
  // FULL: a drill result is evidence; a commit must survive a power cut, not only a crash.
  PHV_RETURN_IF_ERROR(Exec(db_, "PRAGMA synchronous = FULL", "set synchronous"));

  // IMMEDIATE takes the write lock at once, so two processes creating the schema together run
  // one after the other instead of one failing on a lock upgrade.
  PHV_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE", "begin schema"));
  auto create = [&]() -> Status {
    PHV_RETURN_IF_ERROR(check_version());
    for (const char* sql : kSchema) PHV_RETURN_IF_ERROR(Exec(db_, sql, "create schema"));
    return Exec(db_, "PRAGMA user_version = 1", "set version");
  };
  static_assert(kCatalogSchemaVersion == 1, "update the user_version statement");
  Status created = create();
  if (!created.ok()) {
    Exec(db_, "ROLLBACK", "rollback schema").IgnoreError();  // the first error is the one to show
    return created;
  }
  return Exec(db_, "COMMIT", "commit schema");
}

Catalog::Catalog(Catalog&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Catalog& Catalog::operator=(Catalog&& other) noexcept {
  if (this != &other) {
    Close();
    db_ = std::exchange(other.db_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

Catalog::~Catalog() { Close(); }

void Catalog::Close() {
  // close_v2 never fails on a connection without unfinalized statements, which every Statement
  // guarantees by finalizing itself.
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

Status Catalog::AddSource(const Source& s) {
  PHV_ASSIGN_OR_RETURN(std::string paths, ValidateSource(s));
  PHV_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_,
                         "INSERT INTO sources (name, paths, critical, rpo, rto, created)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"));
  stmt.Bind(1, s.name);
  stmt.Bind(2, paths);
  stmt.Bind(3, s.critical);
  stmt.Bind(4, s.rpo);
  stmt.Bind(5, s.rto);
  stmt.Bind(6, s.created_ns != 0 ? s.created_ns : WallClockNs());
  int rc = SQLITE_OK;
  Status status = stmt.Run("add source", &rc);
  if (IsConstraint(rc)) return AlreadyExistsError("source " + s.name + " exists already");
  return status;
}

Status Catalog::UpdateSource(const Source& s) {
  PHV_ASSIGN_OR_RETURN(std::string paths, ValidateSource(s));
  PHV_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db_,
                                          "UPDATE sources SET paths = ?2, critical = ?3, rpo = ?4,"
                                          " rto = ?5 WHERE name = ?1"));
  stmt.Bind(1, s.name);
  stmt.Bind(2, paths);
  stmt.Bind(3, s.critical);
  stmt.Bind(4, s.rpo);
  stmt.Bind(5, s.rto);
  PHV_RETURN_IF_ERROR(stmt.Run("update source"));
  if (sqlite3_changes(db_) == 0) return NotFoundError("no source named " + s.name);
  return OkStatus();
}

Status Catalog::RemoveSource(const std::string& name) {
  PHV_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db_, "DELETE FROM sources WHERE name = ?1"));
  stmt.Bind(1, name);
  PHV_RETURN_IF_ERROR(stmt.Run("remove source"));
  if (sqlite3_changes(db_) == 0) return NotFoundError("no source named " + name);
  return OkStatus();
}

Result<std::optional<Source>> Catalog::FindSource(const std::string& name) {
  PHV_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db_,
                                          "SELECT name, paths, critical, rpo, rto, created"
                                          " FROM sources WHERE name = ?1"));
  stmt.Bind(1, name);
  PHV_ASSIGN_OR_RETURN(bool row, stmt.Step("find source"));
  if (!row) return std::optional<Source>();
  PHV_ASSIGN_OR_RETURN(Source s, ReadSource(stmt));
  return std::optional<Source>(std::move(s));
}

Result<std::vector<Source>> Catalog::Sources() {
  PHV_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db_,
                                          "SELECT name, paths, critical, rpo, rto, created"
                                          " FROM sources ORDER BY name"));
  std::vector<Source> out;
  while (true) {
    PHV_ASSIGN_OR_RETURN(bool row, stmt.Step("list sources"));
    if (!row) return out;
    PHV_ASSIGN_OR_RETURN(Source s, ReadSource(stmt));
    out.push_back(std::move(s));
  }
}

Status Catalog::RecordBackup(const BackupRow& b) {
  if (!IsSnapshotId(b.snapshot)) {
    return InvalidArgumentError("a snapshot id is 64 lowercase hex digits");
  }
  if (b.source.empty()) return InvalidArgumentError("backup " + b.snapshot + " names no source");
  if (b.verified_at_ns) {
    PHV_RETURN_IF_ERROR(ValidateVerifier(b.verified_by));
  } else if (!b.verified_by.empty()) {
    return InvalidArgumentError("backup " + b.snapshot + ": verified_by without verified_at");
  }
  PHV_ASSIGN_OR_RETURN(int64_t bytes, Count(b.bytes, "backup bytes"));
  PHV_ASSIGN_OR_RETURN(int64_t files, Count(b.files, "backup files"));
  PHV_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(
          db_,
          "INSERT INTO backups (snapshot, source, time, bytes, files, verified_at, verified_by)"
          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
          " ON CONFLICT (snapshot) DO UPDATE SET source = excluded.source,"
          " time = excluded.time, bytes = excluded.bytes, files = excluded.files,"
          " verified_by = iif(excluded.verified_at IS NULL, verified_by, excluded.verified_by),"
          " verified_at = coalesce(excluded.verified_at, verified_at)"));
  stmt.Bind(1, b.snapshot);
  stmt.Bind(2, b.source);
  stmt.Bind(3, b.time_ns);
  stmt.Bind(4, bytes);
  stmt.Bind(5, files);
  stmt.Bind(6, b.verified_at_ns);
  stmt.BindNullIfEmpty(7, b.verified_by);
  return stmt.Run("record backup");
}

Status Catalog::MarkVerified(const std::string& snapshot, int64_t at_ns, const std::string& by) {
  PHV_RETURN_IF_ERROR(ValidateVerifier(by));
  PHV_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db_,
                                          "UPDATE backups SET verified_at = ?2, verified_by = ?3"
                                          " WHERE snapshot = ?1"));
  stmt.Bind(1, snapshot);
  stmt.Bind(2, at_ns);
  stmt.Bind(3, by);
  PHV_RETURN_IF_ERROR(stmt.Run("mark verified"));
  if (sqlite3_changes(db_) == 0) return NotFoundError("no backup of snapshot " + snapshot);
  return OkStatus();
}

Result<std::vector<BackupRow>> Catalog::Backups(const std::string& source) {
  PHV_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db_,
                                          "SELECT snapshot, source, time, bytes, files,"
                                          " verified_at, verified_by FROM backups"
                                          " WHERE source = ?1 ORDER BY time DESC, snapshot DESC"));
  stmt.Bind(1, source);
  std::vector<BackupRow> out;
  while (true) {
    PHV_ASSIGN_OR_RETURN(bool row, stmt.Step("list backups"));
    if (!row) return out;
    out.push_back(ReadBackup(stmt));
  }
}

Status Catalog::RecordDrill(const DrillRow& d) {
  if (d.id.empty()) return InvalidArgumentError("a drill needs an id");
  if (!IsSnapshotId(d.snapshot)) {
    return InvalidArgumentError("drill " + d.id + ": a snapshot id is 64 lowercase hex digits");
  }
  if (d.finished_ns < d.started_ns) {
    return InvalidArgumentError("drill " + d.id + " finished before it started");
  }
  if (!(d.throughput >= 0) || d.throughput > std::numeric_limits<double>::max()) {
    return InvalidArgumentError("drill " + d.id + ": throughput must be finite and not negative");
  }
  if (d.projected_rto && (*d.projected_rto < 0 || *d.projected_rto > kMaxDuration)) {
    return InvalidArgumentError("drill " + d.id + ": projected restore time out of range");
  }
  PHV_ASSIGN_OR_RETURN(int64_t bytes, Count(d.bytes, "drill bytes"));
  PHV_ASSIGN_OR_RETURN(int64_t files, Count(d.files, "drill files"));
  PHV_ASSIGN_OR_RETURN(
      Statement stmt, Statement::Prepare(db_,
                                         "INSERT INTO drills (id, source, snapshot, started,"
                                         " finished, passed, bytes, files, throughput,"
                                         " projected_rto, record)"
                                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"));
  stmt.Bind(1, d.id);
  stmt.BindNullIfEmpty(2, d.source);
  stmt.Bind(3, d.snapshot);
  stmt.Bind(4, d.started_ns);
  stmt.Bind(5, d.finished_ns);
  stmt.Bind(6, d.passed);
  stmt.Bind(7, bytes);
  stmt.Bind(8, files);
  stmt.Bind(9, d.throughput);
  stmt.Bind(10, d.projected_rto);
  stmt.Bind(11, d.record);
  int rc = SQLITE_OK;
  Status status = stmt.Run("record drill", &rc);
  if (IsConstraint(rc)) return AlreadyExistsError("drill " + d.id + " is recorded already");
  return status;
}

Result<std::vector<DrillRow>> Catalog::Drills(const std::string& source) {
  PHV_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db_, "SELECT " DRILL_COLUMNS " FROM drills"
                                               " WHERE ?1 = '' OR source = ?1"
                                               " ORDER BY started DESC, id DESC"));
  stmt.Bind(1, source);
  return ReadDrills(stmt, "list drills");
}

Result<std::optional<DrillRow>> Catalog::FindDrill(const std::string& id_or_prefix) {
  if (id_or_prefix.empty()) return InvalidArgumentError("empty drill id");
  // The prefix match compares substrings rather than using LIKE, in which '%' and '_' in the
  // argument would be wildcards. An exact id sorts first and wins even when it is also the
  // prefix of a longer id.
  PHV_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db_, "SELECT " DRILL_COLUMNS " FROM drills"
                                               " WHERE substr(id, 1, length(?1)) = ?1"
                                               " ORDER BY id = ?1 DESC, id LIMIT 2"));
  stmt.Bind(1, id_or_prefix);
  PHV_ASSIGN_OR_RETURN(std::vector<DrillRow> found, ReadDrills(stmt, "find drill"));
  if (found.empty()) return std::optional<DrillRow>();
  if (found.size() > 1 && found[0].id != id_or_prefix) {
    return InvalidArgumentError("drill id prefix " + id_or_prefix +
                                " matches more than one drill; give more of the id");
  }
  return std::optional<DrillRow>(std::move(found[0]));
}

Status Catalog::RecordCheckpoint(uint64_t seq, const std::string& time, const std::string& line) {
  PHV_ASSIGN_OR_RETURN(int64_t stored_seq, Count(seq, "checkpoint sequence number"));
  PHV_ASSIGN_OR_RETURN(
      Statement insert,
      Statement::Prepare(db_,
                         "INSERT INTO audit_checkpoints (seq, time, line) VALUES (?1, ?2, ?3)"
                         " ON CONFLICT (seq) DO NOTHING"));
  insert.Bind(1, stored_seq);
  insert.Bind(2, time);
  insert.Bind(3, line);
  PHV_RETURN_IF_ERROR(insert.Run("record checkpoint"));
  if (sqlite3_changes(db_) == 1) return OkStatus();

  PHV_ASSIGN_OR_RETURN(
      Statement existing,
      Statement::Prepare(db_, "SELECT time, line FROM audit_checkpoints WHERE seq = ?1"));
  existing.Bind(1, stored_seq);
  PHV_ASSIGN_OR_RETURN(bool row, existing.Step("read checkpoint"));
  if (row && existing.Text(0) == time && existing.Text(1) == line) return OkStatus();
  return AlreadyExistsError("audit checkpoint " + std::to_string(seq) +
                            " is recorded already with a different line");
}

Result<std::vector<std::pair<uint64_t, std::string>>> Catalog::Checkpoints() {
  PHV_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_, "SELECT seq, line FROM audit_checkpoints ORDER BY seq"));
  std::vector<std::pair<uint64_t, std::string>> out;
  while (true) {
    PHV_ASSIGN_OR_RETURN(bool row, stmt.Step("list checkpoints"));
    if (!row) return out;
    out.emplace_back(static_cast<uint64_t>(stmt.Int(0)), stmt.Text(1));
  }
}

Status Catalog::SetMeta(const std::string& key, const std::string& value) {
  PHV_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_,
                         "INSERT INTO meta (key, value) VALUES (?1, ?2)"
                         " ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  stmt.Bind(1, key);
  stmt.Bind(2, value);
  return stmt.Run("set meta");
}

Result<std::optional<std::string>> Catalog::Meta(const std::string& key) {
  PHV_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db_, "SELECT value FROM meta WHERE key = ?1"));
  stmt.Bind(1, key);
  PHV_ASSIGN_OR_RETURN(bool row, stmt.Step("read meta"));
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.Text(0));
}

#undef DRILL_COLUMNS

}  // namespace phivault::catalog
