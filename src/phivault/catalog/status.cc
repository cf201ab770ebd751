#include "phivault/catalog/status.h"

#include <algorithm>
#include <limits>

#include "phivault/base/provenance.h"

namespace phivault::catalog {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;
// Clocks of the hosts that back up and the host that asks may disagree by this much.
constexpr Seconds kClockTolerance = 5 * 60;

Health Worst(Health a, Health b) { return std::max(a, b); }

// Saturates rather than overflowing: the rows and limits passed in are not trusted to be sane.
int64_t ToNs(Seconds s) {
  int64_t out = 0;
  if (!__builtin_mul_overflow(s, kNsPerSecond, &out)) return out;
  return s < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
}

int64_t SaturatingSub(int64_t a, int64_t b) {
  int64_t out = 0;
  if (!__builtin_sub_overflow(a, b, &out)) return out;
  return b < 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
}

Seconds WarnLead(const Policy& policy, Seconds limit) {
  return std::min(std::max<Seconds>(policy.warn_before, 0), std::max<Seconds>(limit / 4, 0));
}

// A rounded age or duration for sentences, in two units at most: "45m", "48h30m", "31d2h".
// FormatDuration is exact instead, for limits, which are whole units anyway.
std::string FormatApprox(Seconds s) {
  if (s < 0) return "-" + FormatApprox(s == INT64_MIN ? INT64_MAX : -s);
  auto two = [](Seconds big, const char* big_unit, Seconds small, const char* small_unit) {
    std::string out = std::to_string(big) + big_unit;
    if (small != 0) out += std::to_string(small) + small_unit;
    return out;
  };
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < 7 * 86400) return two(s / 3600, "h", s % 3600 / 60, "m");
  return two(s / 86400, "d", s % 86400 / 3600, "h");
}

// The health of a quantity `value_ns` (an age or a duration) against `limit`, breached above it
// and warning above limit - lead.
Health Against(int64_t value_ns, Seconds limit, Seconds lead) {
  if (value_ns > ToNs(limit)) return Health::kBreached;
  if (value_ns > ToNs(limit - lead)) return Health::kWarning;
  return Health::kOk;
}

void EvaluateBackups(const Policy& policy, const std::vector<BackupRow>& rows, int64_t now_ns,
                     SourceStatus* st) {
  const BackupRow* newest = nullptr;
  const BackupRow* verified = nullptr;
  for (const auto& b : rows) {
    if (newest == nullptr || b.time_ns > newest->time_ns) newest = &b;
    if (b.verified_at_ns && (verified == nullptr || b.time_ns > verified->time_ns)) verified = &b;
  }
  if (newest != nullptr) st->newest_backup_ns = newest->time_ns;
  if (verified == nullptr) {
    st->backup_health = Health::kBreached;
    std::string reason = "no verified backup";
    if (newest != nullptr) {
      reason += "; the newest backup, from " + FormatUtc(newest->time_ns) +
                ", has not been verified by a check or a drill";
    }
    st->reasons.push_back(std::move(reason));
    return;
  }

  st->newest_verified_ns = verified->time_ns;
  st->newest_verified_snapshot = verified->snapshot;
  int64_t age_ns = SaturatingSub(now_ns, verified->time_ns);
  st->age = age_ns / kNsPerSecond;
  if (*st->age < -kClockTolerance) {
    st->backup_health = Health::kWarning;
    st->reasons.push_back("newest verified backup is dated " + FormatApprox(-*st->age) +
                          " in the future; check the clocks");
    return;
  }
  Seconds lead = WarnLead(policy, st->rpo);
  st->backup_health = Against(age_ns, st->rpo, lead);
  if (st->backup_health == Health::kBreached) {
    st->reasons.push_back("newest verified backup is " + FormatApprox(*st->age) + " old (limit " +
                          FormatDuration(st->rpo) + ")");
  } else if (st->backup_health == Health::kWarning) {
    st->reasons.push_back("newest verified backup is " + FormatApprox(*st->age) + " old; the " +
                          FormatDuration(st->rpo) + " limit is " +
                          FormatApprox(st->rpo - *st->age) + " away");
  }
}

// True when `a` started after `b` (ties: finished after).
bool Later(const DrillRow& a, const DrillRow& b) {
  if (a.started_ns != b.started_ns) return a.started_ns > b.started_ns;
  return a.finished_ns > b.finished_ns;
}

void EvaluateDrillAge(const Policy& policy, const DrillRow& last, int64_t now_ns,
                      SourceStatus* st) {
  int64_t age_ns = SaturatingSub(now_ns, last.finished_ns);
  Seconds age = std::max<int64_t>(age_ns, 0) / kNsPerSecond;
  Seconds every = policy.drill_interval;
  st->drill_health = Against(age_ns, every, WarnLead(policy, every));
  if (st->drill_health == Health::kBreached) {
    st->reasons.push_back("last drill " + FormatApprox(age) + " ago (every " +
                          FormatDuration(every) + ")");
  } else if (st->drill_health == Health::kWarning) {
    st->reasons.push_back("last drill " + FormatApprox(age) + " ago; the next is due within " +
                          FormatApprox(every - age) + " (every " + FormatDuration(every) + ")");
  }
}

void EvaluateRto(const Policy& policy, const DrillRow& last_pass, SourceStatus* st) {
  if (!last_pass.projected_rto) {
    st->rto_health = Health::kWarning;
    st->reasons.push_back("the last passing drill projected no restore time");
    return;
  }
  Seconds projected = *last_pass.projected_rto;
  st->rto_health = Against(ToNs(projected), st->rto, WarnLead(policy, st->rto));
  if (st->rto_health == Health::kBreached) {
    st->reasons.push_back("projected restore " + FormatApprox(projected) + " exceeds the " +
                          FormatDuration(st->rto) + " target");
  } else if (st->rto_health == Health::kWarning) {
    st->reasons.push_back("projected restore " + FormatApprox(projected) + " is within " +
                          FormatApprox(st->rto - projected) + " of the " + FormatDuration(st->rto) +
                          " target");
  }
}

void EvaluateDrills(const Policy& policy, const std::vector<DrillRow>& rows, int64_t now_ns,
                    SourceStatus* st) {
  const DrillRow* last = nullptr;
  const DrillRow* last_pass = nullptr;
  for (const auto& d : rows) {
    if (last == nullptr || Later(d, *last)) last = &d;
    if (d.passed && (last_pass == nullptr || Later(d, *last_pass))) last_pass = &d;
  }
  if (last != nullptr) st->last_drill = *last;
  if (last_pass != nullptr) st->projected_rto = last_pass->projected_rto;

  if (!st->critical) {
    if (last != nullptr && !last->passed) {
      st->reasons.push_back(
          "last drill failed (drills are not required: the source is not "
          "critical)");
    }
    return;
  }
  if (last == nullptr) {
    st->drill_health = Health::kBreached;
    st->reasons.push_back("no restore drill recorded (a critical source needs one every " +
                          FormatDuration(policy.drill_interval) + ")");
  } else if (!last->passed) {
    st->drill_health = Health::kBreached;
    st->reasons.push_back("last drill failed");
  } else {
    EvaluateDrillAge(policy, *last, now_ns, st);
  }
  if (last_pass != nullptr) EvaluateRto(policy, *last_pass, st);
}

int ExitCode(Health h) {
  switch (h) {
    case Health::kOk: return 0;
    case Health::kWarning: return kExitStatusWarning;
    case Health::kBreached: return kExitStatusBreached;
  }
  return kExitStatusBreached;
}

nlohmann::ordered_json DurationJson(Seconds s) {
  return {{"seconds", s}, {"text", FormatDuration(s)}};
}

nlohmann::ordered_json OptionalDurationJson(const std::optional<Seconds>& s) {
  return s ? DurationJson(*s) : nullptr;
}

nlohmann::ordered_json SourceJson(const SourceStatus& s) {
  nlohmann::ordered_json j;
  j["name"] = s.name;
  j["critical"] = s.critical;
  j["rpo"] = DurationJson(s.rpo);
  j["rto"] = DurationJson(s.rto);
  j["newest_verified"] = nullptr;
  if (s.newest_verified_ns) {
    j["newest_verified"] = {{"time", FormatUtc(*s.newest_verified_ns)},
                            {"snapshot", s.newest_verified_snapshot.value_or("")}};
  }
  j["newest_backup"] = s.newest_backup_ns ? nlohmann::ordered_json(FormatUtc(*s.newest_backup_ns))
                                          : nlohmann::ordered_json(nullptr);
  j["age_seconds"] = s.age ? nlohmann::ordered_json(*s.age) : nlohmann::ordered_json(nullptr);
  j["last_drill"] = nullptr;
  if (s.last_drill) {
    j["last_drill"] = {{"id", s.last_drill->id},
                       {"time", FormatUtc(s.last_drill->finished_ns)},
                       {"passed", s.last_drill->passed},
                       {"projected_rto", OptionalDurationJson(s.last_drill->projected_rto)}};
  }
  j["projected_rto"] = OptionalDurationJson(s.projected_rto);
  j["health"] = {{"overall", HealthName(s.overall)},
                 {"backup", HealthName(s.backup_health)},
                 {"drill", HealthName(s.drill_health)},
                 {"rto", HealthName(s.rto_health)}};
  j["reasons"] = s.reasons;
  return j;
}

}  // namespace

std::string_view HealthName(Health h) {
  switch (h) {
    case Health::kOk: return "ok";
    case Health::kWarning: return "warning";
    case Health::kBreached: return "breached";
  }
  return "breached";
}

StatusReport Evaluate(const Policy& policy, const std::vector<Source>& sources,
                      const std::function<std::vector<BackupRow>(const std::string&)>& backups,
                      const std::function<std::vector<DrillRow>(const std::string&)>& drills,
                      int64_t now_ns) {
  StatusReport report;
  for (const auto& source : sources) {
    SourceStatus st;
    st.name = source.name;
    st.critical = source.critical;
    st.rpo = source.rpo.value_or(policy.rpo);
    st.rto = source.rto.value_or(policy.rto);
    EvaluateBackups(policy, backups(source.name), now_ns, &st);
    EvaluateDrills(policy, drills(source.name), now_ns, &st);
    st.overall = Worst(st.backup_health, Worst(st.drill_health, st.rto_health));
    report.overall = Worst(report.overall, st.overall);
    report.sources.push_back(std::move(st));
  }
  report.exit_code = ExitCode(report.overall);
  return report;
}

nlohmann::ordered_json ToJson(const StatusReport& report) {
  nlohmann::ordered_json j;
  j["overall"] = HealthName(report.overall);
  j["exit_code"] = report.exit_code;
  j["sources"] = nlohmann::ordered_json::array();
  for (const auto& s : report.sources) j["sources"].push_back(SourceJson(s));
  return j;
}

}  // namespace phivault::catalog
