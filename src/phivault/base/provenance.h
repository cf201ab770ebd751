// Who, where and when: the facts every record phivault writes carries (snapshots, key-log
// lines, audit records, drill records, the catalog). One definition of each, so that every
// record states time, user and host in the same form.
//
// Thread safety: all functions are safe to call from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "phivault/base/status.h"

namespace phivault {

// The wall clock, in nanoseconds since the Unix epoch.
int64_t WallClockNs();

// "2026-12-04T03:13:55Z": UTC, RFC 3339 with seconds, the time rounded down to its second
// (so a time before 1970 names the second it falls in).
std::string FormatUtc(int64_t ns);

// The inverse of FormatUtc for exactly the strings it writes: four-digit years and real dates
// (2026-02-31 is refused). kInvalidArgument otherwise.
Result<int64_t> ParseUtc(std::string_view text);

// The effective user's name, or its number when it has none.
std::string CurrentUserName();
// The host name, or "unknown".
std::string CurrentHostName();

}  // namespace phivault
