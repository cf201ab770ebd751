#include "phivault/repo/config.h"

#include <nlohmann/json.hpp>

namespace phivault::repo {
namespace {
constexpr const char* kFormatName = "phivault-repository";
constexpr const char* kCipher = "AES-256-GCM";
constexpr const char* kKdf = "HKDF-SHA-256";
constexpr const char* kBlobId = "HMAC-SHA-256";
constexpr const char* kChunker = "gear-fastcdc-keyed";
constexpr const char* kCompression = "zstd";
}  // namespace

std::string RepoConfig::Serialize() const {
  nlohmann::ordered_json j;
  j["format"] = kFormatName;
  j["version"] = version;
  j["id"] = id.Hex();
  j["cipher"] = kCipher;
  j["key_derivation"] = kKdf;
  j["blob_id"] = kBlobId;
  j["chunker"] = {{"algorithm", kChunker},
                  {"min", chunker.min_size},
                  {"avg", chunker.avg_size},
                  {"max", chunker.max_size}};
  j["compression"] = kCompression;
  j["pack_size"] = pack_size;
  if (object_lock.enabled()) {
    j["object_lock"] = {{"days", object_lock.days},
                        {"mode", std::string(storage::RetentionModeName(object_lock.mode))}};
  }
  return j.dump(2) + "\n";
}

Result<RepoConfig> RepoConfig::Parse(ByteSpan data) {
  // nlohmann's accessors throw on type mismatches; a malformed config must become a status.
  try {
    return ParseJson(data);
  } catch (const nlohmann::json::exception&) {
    return DataLossError("config: malformed field");
  }
}

Result<RepoConfig> RepoConfig::ParseJson(ByteSpan data) {
  nlohmann::json j = nlohmann::json::parse(data.begin(), data.end(), nullptr,
                                           /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return DataLossError("config: not a JSON object");
  auto str = [&](const char* key) -> std::string {
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (str("format") != kFormatName) return DataLossError("config: not a phivault repository");
  auto version = j.find("version");
  if (version == j.end() || !version->is_number_unsigned()) {
    return DataLossError("config: missing format version");
  }
  RepoConfig c;
  c.version = version->get<uint32_t>();
  if (c.version != kRepositoryFormatVersion) {
    return FailedPreconditionError("repository format version " + std::to_string(c.version) +
                                   " is not supported by this phivault, which reads version " +
                                   std::to_string(kRepositoryFormatVersion) +
                                   "; upgrade phivault to use this repository")
        .WithTag(ErrorTag::kFormatVersion);
  }
  auto id = Id::FromHex(str("id"));
  if (!id.ok()) return DataLossError("config: bad repository id");
  c.id = *id;
  if (str("cipher") != kCipher || str("key_derivation") != kKdf || str("blob_id") != kBlobId ||
      str("compression") != kCompression) {
    return DataLossError("config: names an algorithm this phivault does not implement");
  }
  if (auto lock = j.find("object_lock"); lock != j.end()) {
    if (!lock->is_object()) return DataLossError("config: malformed object_lock");
    auto mode = storage::ParseRetentionMode(lock->value("mode", ""));
    c.object_lock.days = lock->value("days", 0u);
    if (!mode.ok() || c.object_lock.days == 0 || c.object_lock.days > kMaxObjectLockDays) {
      return DataLossError("config: invalid object_lock");
    }
    c.object_lock.mode = *mode;
  }
  auto chunker = j.find("chunker");
  if (chunker == j.end() || !chunker->is_object() || chunker->value("algorithm", "") != kChunker) {
    return DataLossError("config: unknown chunker");
  }
  c.chunker.min_size = chunker->value("min", 0u);
  c.chunker.avg_size = chunker->value("avg", 0u);
  c.chunker.max_size = chunker->value("max", 0u);
  if (!c.chunker.Validate().ok()) return DataLossError("config: invalid chunker sizes");
  c.pack_size = j.value("pack_size", 0u);
  if (c.pack_size < (1u << 20) || c.pack_size > (1u << 30)) {
    return DataLossError("config: invalid pack size");
  }
  return c;
}

}  // namespace phivault::repo
