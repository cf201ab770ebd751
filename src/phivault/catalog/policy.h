// The backup policy: how old the newest verified backup of a source may be, how long a restore of
// a critical source may take, and how often a restore drill must prove it. The figures are data,
// not constants, because the HIPAA Security Rule update is still a proposal and a practice may
// choose its own values; the defaults are the proposal's figures (48 h, 72 h) and phivault's
// monthly drill. A practice may set any value, but a value looser than the default is reported
// as a warning every time the policy is loaded, so an auditor sees it.
//
// The policy file is a small JSON object specified in doc/format/catalog.md. Unknown and
// duplicated fields are errors: a typo such as "rpo_hour" must not silently leave a limit at a
// value nobody chose.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "phivault/base/status.h"

namespace phivault::catalog {

// A duration in whole seconds.
using Seconds = int64_t;

// The longest duration phivault accepts anywhere (100 years). It keeps every limit, converted to
// nanoseconds and added to a Unix time in nanoseconds, far from overflowing int64.
inline constexpr Seconds kMaxDuration = 36500LL * 86400;

// The version of the policy file format this phivault reads and writes.
inline constexpr int kPolicyVersion = 1;

struct Policy {
  // The newest verified backup of every source may be at most this old (the recovery point
  // objective). A source may override it.
  Seconds rpo = 48 * 3600;
  // A full restore of a critical source, as projected by its last passing drill, must take at
  // most this long (the recovery time objective). A source may override it.
  Seconds rto = 72 * 3600;
  // Every critical source needs a passing restore drill at least this often.
  Seconds drill_interval = 30 * 86400;
  // Status turns to warning when a limit is this close. Never more than a quarter of the limit
  // it applies to is used (see status.h), so a short per-source limit does not warn forever.
  Seconds warn_before = 6 * 3600;

  static Policy Defaults() { return Policy(); }

  // Parses a policy file: {"version":1,"rpo":"48h","rto":"72h","drill_interval":"30d",
  // "warn_before":"6h"}. "version" is required; absent limits keep their defaults. Errors are
  // kInvalidArgument naming the field (unknown or duplicated field, a duration that is not a
  // string ParseDuration accepts, a zero rpo, rto or drill_interval), or kFailedPrecondition
  // tagged kFormatVersion for a version newer than kPolicyVersion. For each limit looser than
  // the default one sentence is appended to `warnings` (which may be null).
  static Result<Policy> Parse(std::string_view json, std::vector<std::string>* warnings);

  // Reads and parses the policy file at `path`. A missing file is kNotFound.
  static Result<Policy> Load(const std::string& path, std::vector<std::string>* warnings);

  // The policy as a policy file (indented JSON, newline-terminated) that Parse reads back
  // unchanged.
  std::string ToJson() const;

  friend bool operator==(const Policy&, const Policy&) = default;
};

// Parses a whole number followed by one unit, s, m, h or d: "48h" is 172800. Anything else
// ("48", "h", "-5h", "48hours", "1.5h", " 48h", "48H") and anything above kMaxDuration is
// kInvalidArgument.
Result<Seconds> ParseDuration(std::string_view text);

// Writes `s` exactly, in the unit people use for it: whole days from a week up ("30d"), whole
// hours below a week ("48h", "72h", because the rule's figures are in hours), then minutes
// ("90m"), then seconds. ParseDuration(FormatDuration(s)) == s for every 0 <= s <= kMaxDuration.
std::string FormatDuration(Seconds s);

}  // namespace phivault::catalog
