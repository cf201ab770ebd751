#include "phivault/catalog/policy.h"

#include <charconv>
#include <set>

#include <nlohmann/json.hpp>

#include "phivault/base/file_util.h"

namespace phivault::catalog {
namespace {

constexpr Seconds kMinute = 60;
constexpr Seconds kHour = 3600;
constexpr Seconds kDay = 86400;
constexpr Seconds kWeek = 7 * kDay;

// A policy file is a handful of fields; anything much larger is not one.
constexpr size_t kMaxPolicyFileSize = 64 * 1024;

// The fields of the policy file other than "version", with where each one lives in Policy.
struct DurationField {
  const char* name;
  Seconds Policy::*member;
  // Where the default comes from, for the looser-than-default warning.
  const char* source;
};

constexpr DurationField kDurationFields[] = {
    {"rpo", &Policy::rpo, "the HIPAA Security Rule proposal's backup age limit"},
    {"rto", &Policy::rto, "the HIPAA Security Rule proposal's restore-time target"},
    {"drill_interval", &Policy::drill_interval, "phivault's monthly restore drill"},
    {"warn_before", &Policy::warn_before, nullptr},
};

Status FieldError(std::string_view field, std::string_view problem) {
  return InvalidArgumentError("policy field \"" + std::string(field) +
                              "\": " + std::string(problem));
}

// Parses `text` and records whether a top-level key occurs twice; nlohmann would otherwise keep
// the last one silently.
nlohmann::json ParseRejectingDuplicates(std::string_view text, std::string* duplicate) {
  std::set<std::string> seen;
  auto note_keys = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second && duplicate->empty()) *duplicate = key;
    }
    return true;
  };
  return nlohmann::json::parse(text.begin(), text.end(), note_keys, /*allow_exceptions=*/false);
}

Status CheckVersion(const nlohmann::json& j) {
  auto it = j.find("version");
  if (it == j.end()) return FieldError("version", "missing; write \"version\": 1");
  if (!it->is_number_unsigned()) return FieldError("version", "must be a positive integer");
  uint64_t version = it->get<uint64_t>();
  if (version > static_cast<uint64_t>(kPolicyVersion)) {
    return FailedPreconditionError("policy version " + std::to_string(version) +
                                   " is newer than this phivault reads (version " +
                                   std::to_string(kPolicyVersion) + "); upgrade phivault")
        .WithTag(ErrorTag::kFormatVersion);
  }
  if (version != static_cast<uint64_t>(kPolicyVersion)) {
    return FieldError("version", "must be " + std::to_string(kPolicyVersion));
  }
  return OkStatus();
}

}  // namespace

Result<Seconds> ParseDuration(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) {
    return InvalidArgumentError("duration " + quoted + " must start with a whole number");
  }
  if (digits == text.size()) {
    return InvalidArgumentError("duration " + quoted + " needs a unit: s, m, h or d");
  }
  if (digits + 1 != text.size()) {
    return InvalidArgumentError("duration " + quoted +
                                " must be a whole number and one unit (s, m, h or d), e.g. 48h");
  }
  Seconds unit = 0;
  switch (text.back()) {
    case 's': unit = 1; break;
    case 'm': unit = kMinute; break;
    case 'h': unit = kHour; break;
    case 'd': unit = kDay; break;
    default:
      return InvalidArgumentError("duration " + quoted + " has an unknown unit; use s, m, h or d");
  }
  uint64_t count = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + digits, count);
  if (ec != std::errc() || end != text.data() + digits ||
      count > static_cast<uint64_t>(kMaxDuration / unit)) {
    return InvalidArgumentError("duration " + quoted + " is longer than 100 years");
  }
  return static_cast<Seconds>(count) * unit;
}

std::string FormatDuration(Seconds s) {
  if (s < 0) {
    if (s == INT64_MIN) return std::to_string(s) + "s";
    return "-" + FormatDuration(-s);
  }
  if (s == 0) return "0s";
  if (s >= kWeek && s % kDay == 0) return std::to_string(s / kDay) + "d";
  if (s % kHour == 0) return std::to_string(s / kHour) + "h";
  if (s % kMinute == 0) return std::to_string(s / kMinute) + "m";
  return std::to_string(s) + "s";
}

Result<Policy> Policy::Parse(std::string_view json, std::vector<std::string>* warnings) {
  std::string duplicate;
  nlohmann::json j = ParseRejectingDuplicates(json, &duplicate);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("policy: not a JSON object");
  }
  if (!duplicate.empty()) return FieldError(duplicate, "appears more than once");
  for (const auto& item : j.items()) {
    bool known = item.key() == "version";
    for (const auto& field : kDurationFields) known = known || item.key() == field.name;
    if (!known) return FieldError(item.key(), "unknown field");
  }
  PHV_RETURN_IF_ERROR(CheckVersion(j));

  Policy policy;
  const Policy defaults;
  std::vector<std::string> looser;
  for (const auto& field : kDurationFields) {
    auto it = j.find(field.name);
    if (it == j.end()) continue;
    if (!it->is_string()) {
      return FieldError(field.name, "a duration is a string such as \"48h\"");
    }
    auto value = ParseDuration(it->get_ref<const std::string&>());
    if (!value.ok()) return FieldError(field.name, value.status().message());
    bool is_limit = field.source != nullptr;
    if (is_limit && *value == 0) return FieldError(field.name, "must be longer than 0s");
    policy.*field.member = *value;
    if (is_limit && *value > defaults.*field.member) {
      looser.push_back(std::string(field.name) + " " + FormatDuration(*value) +
                       " is looser than the default " + FormatDuration(defaults.*field.member) +
                       " (" + field.source + ")");
    }
  }
  if (warnings != nullptr) warnings->insert(warnings->end(), looser.begin(), looser.end());
  return policy;
}

Result<Policy> Policy::Load(const std::string& path, std::vector<std::string>* warnings) {
  PHV_ASSIGN_OR_RETURN(Bytes data, ReadFile(path));
  if (data.size() > kMaxPolicyFileSize) {
    return InvalidArgumentError("policy file " + path + " is too large to be a policy");
  }
  auto policy = Parse(AsStringView(data), warnings);
  if (!policy.ok()) return policy.status().WithContext("policy file " + path);
  return policy;
}

std::string Policy::ToJson() const {
  nlohmann::ordered_json j;
  j["version"] = kPolicyVersion;
  for (const auto& field : kDurationFields) j[field.name] = FormatDuration(this->*field.member);
  return j.dump(2) + "\n";
}

}  // namespace phivault::catalog
