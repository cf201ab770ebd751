#include "phivault/storage/backend.h"

namespace phivault::storage {

std::string_view ObjectKindName(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kConfig: return "config";
    case ObjectKind::kPack: return "pack";
    case ObjectKind::kIndex: return "index";
    case ObjectKind::kSnapshot: return "snapshot";
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
  }
  return id;
}

Status Backend::Save(const ObjectName& name, ByteSpan data) {
  PHV_ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> writer, Create(name));
  PHV_RETURN_IF_ERROR(writer->Append(data));
  return writer->Commit();
}

}  // namespace phivault::storage
