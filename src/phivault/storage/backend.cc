#include "phivault/storage/backend.h"

namespace phivault::storage {

std::string_view ObjectKindName(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kConfig: return "config";
    case ObjectKind::kPack: return "pack";
    case ObjectKind::kIndex: return "index";
    case ObjectKind::kSnapshot: return "snapshot";
    case ObjectKind::kDrill: return "drill record";
    case ObjectKind::kAuditCheckpoint: return "audit checkpoint";
  }
  return "object";
}

bool IsObjectId(std::string_view id) {
  if (id.size() != 64) return false;
  for (char c : id) {
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    if (!hex) return false;
  }
  return true;
}

std::string ObjectName::Path() const {
  switch (kind) {
    case ObjectKind::kConfig: return "config";
    case ObjectKind::kPack: return "data/" + id.substr(0, 2) + "/" + id;
    case ObjectKind::kIndex: return "index/" + id;
    case ObjectKind::kSnapshot: return "snapshots/" + id;
    case ObjectKind::kDrill: return "drills/" + id;
    case ObjectKind::kAuditCheckpoint: return "audit/" + id;
  }
  return id;
}

std::string_view RetentionModeName(RetentionMode mode) {
  return mode == RetentionMode::kGovernance ? "governance" : "compliance";
}

Result<RetentionMode> ParseRetentionMode(std::string_view name) {
  if (name == "compliance") return RetentionMode::kCompliance;
  if (name == "governance") return RetentionMode::kGovernance;
  return InvalidArgumentError("unknown object lock mode '" + std::string(name) +
                              "' (compliance or governance)");
}

SystemTime LockedUntilFor(const RetentionPolicy& policy, SystemTime created) {
  return created + std::chrono::hours(36) * policy.days;
}

Status Backend::EnableRetention(const RetentionPolicy&) {
  return Status(StatusCode::kFailedPrecondition,
                Location() +
                    ": this storage cannot lock objects (object lock needs S3 with "
                    "Object Lock enabled on the bucket)",
                ErrorTag::kRetention);
}

Result<SystemTime> Backend::RetainedUntil(const ObjectName&) { return SystemTime{}; }

Status Backend::ExtendRetention(std::span<const ObjectName>, SystemTime) {
  return EnableRetention(RetentionPolicy{});
}

Status Backend::Save(const ObjectName& name, ByteSpan data) {
  PHV_ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> writer, Create(name));
  PHV_RETURN_IF_ERROR(writer->Append(data));
  return writer->Commit();
}

}  // namespace phivault::storage
