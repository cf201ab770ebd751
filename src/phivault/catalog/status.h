// Status evaluation: for every protected source, how old its newest verified backup is, when it
// was last drilled, whether its projected restore time meets the target, and in one word whether
// that is fine, close to a limit, or past one. `phivault status`, the dashboard and the
// compliance report all show this one evaluation.
//
// Evaluate is a pure function of the policy, the sources, their backups and drills, and the time
// `now_ns` the caller passes in: it reads no clock and no file, so the same inputs always give
// the same report, and tests drive it with any time they like.
//
// The rules, with `limit` the source's own value or the policy's:
//   backup  breached: no verified backup, or the newest verified one is older than rpo.
//           warning:  older than rpo - lead; or dated more than 5 minutes in the future (a wrong
//                     clock would otherwise hide staleness until that time has passed).
//   drill   (critical sources only) breached: never drilled, the last drill failed, or the last
//           drill finished longer than drill_interval ago. warning: within lead of the interval.
//   rto     (critical sources only) breached: the last passing drill projected a full restore
//           longer than rto. warning: within lead of rto, or that drill projected nothing.
// `lead` is the policy's warn_before, but at most a quarter of the limit it applies to, so that a
// source with a 4h rpo warns after 3h rather than always. A backup counts only once a check or a
// drill has verified it. Non-critical sources are never breached or warned by drills, though a
// failed drill is still named in their reasons.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "phivault/catalog/catalog.h"
#include "phivault/catalog/policy.h"

namespace phivault::catalog {

// Ordered from best to worst: the overall health is the maximum.
enum class Health { kOk, kWarning, kBreached };

// "ok", "warning", "breached".
std::string_view HealthName(Health h);

// The exit codes of `phivault status` (the README's table lists them with the others):
// 0 when every source is ok,
inline constexpr int kExitStatusWarning = 30;   // a limit is close (within the warning lead)
inline constexpr int kExitStatusBreached = 31;  // a limit is passed: a backup stale or missing,
                                                // a critical source's drill missing, overdue
                                                // or failed, or its projected restore too long

struct SourceStatus {
  std::string name;
  bool critical = false;
  Seconds rpo = 0;  // the limits that applied: the source's override or the policy
  Seconds rto = 0;
  std::optional<int64_t> newest_verified_ns;  // snapshot time of the newest verified backup
  std::optional<std::string> newest_verified_snapshot;
  std::optional<int64_t> newest_backup_ns;  // snapshot time of the newest backup, verified or not
  std::optional<Seconds> age;               // now - newest_verified_ns; negative if in the future
  std::optional<DrillRow> last_drill;       // the drill that started last, passed or not
  std::optional<Seconds> projected_rto;     // from the last passing drill
  Health backup_health = Health::kOk;
  Health drill_health = Health::kOk;
  Health rto_health = Health::kOk;
  Health overall = Health::kOk;
  // One sentence per finding, e.g. "newest verified backup is 50h old (limit 48h)"; empty when
  // everything is ok.
  std::vector<std::string> reasons;
};

struct StatusReport {
  std::vector<SourceStatus> sources;  // in the order of the sources given
  Health overall = Health::kOk;       // the worst source; kOk when there are no sources
  int exit_code = 0;                  // 0, kExitStatusWarning or kExitStatusBreached
};

// Evaluates every source at `now_ns` (Unix nanoseconds). `backups` and `drills` return a
// source's rows in any order (Catalog::Backups and Catalog::Drills fit). Having no sources at all
// is kOk here; the command line says so separately.
StatusReport Evaluate(const Policy& policy, const std::vector<Source>& sources,
                      const std::function<std::vector<BackupRow>(const std::string&)>& backups,
                      const std::function<std::vector<DrillRow>(const std::string&)>& drills,
                      int64_t now_ns);

// The report for `--json` and the dashboard: overall, exit_code, and per source its name,
// critical, rpo and rto ({"seconds", "text"}), newest_verified ({"time", "snapshot"} or null),
// newest_backup (time or null), age_seconds (or null), last_drill ({"id", "time", "passed",
// "projected_rto"} or null), projected_rto, health ({"overall", "backup", "drill", "rto"}) and
// reasons. Times are UTC strings (FormatUtc).
nlohmann::ordered_json ToJson(const StatusReport& report);

}  // namespace phivault::catalog
