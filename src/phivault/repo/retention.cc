#include "phivault/repo/retention.h"

#include "phivault/base/bytes.h"
#include "phivault/base/file_util.h"
#include "phivault/base/log.h"
#include "phivault/crypto/crypto.h"
#include "phivault/repo/repository.h"
#include "phivault/repo/sealed.h"

namespace phivault::repo {
namespace {

constexpr uint8_t kLedgerVersion = 1;
constexpr uint64_t kMaxEntries = 1u << 26;

int64_t UnixSeconds(storage::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

Result<RetentionLedger> RetentionLedger::Load(const Repository& repo,
                                              const std::string& cache_dir) {
  RetentionLedger ledger;
  ledger.path_ = JoinPath(JoinPath(cache_dir, repo.config().id.Hex()), "retention");
  auto raw = ReadFile(ledger.path_);
  if (!raw.ok()) {
    if (raw.status().code() == StatusCode::kNotFound) return ledger;
    return std::move(raw).status();
  }
  Status s = [&]() -> Status {
    if (raw->size() < kEnvelopeSize) return DataLossError("retention ledger is truncated");
    PHV_ASSIGN_OR_RETURN(Envelope env, Envelope::Decode(*raw, "retention ledger"));
    PHV_ASSIGN_OR_RETURN(Bytes payload, OpenBody(ObjectType::kRetentionLedger, env.object_id, *raw,
                                                 repo.epoch_keys()));
    Decoder d(payload, "retention ledger");
    if (d.GetU8() != kLedgerVersion) return DataLossError("retention ledger: unknown version");
    uint64_t n = d.GetVarintAtMost(kMaxEntries, "entries");
    for (uint64_t i = 0; i < n && d.ok(); ++i) {
      Id id = Id::FromSpan(d.GetRaw(Id::kSize));
      ledger.until_[id] = d.GetI64();
    }
    return d.Finish();
  }();
  if (!s.ok()) {
    PHV_LOG(kWarning, "discarding the retention ledger: {}", s.ToString());
    ledger.until_.clear();
  }
  return ledger;
}

std::optional<storage::SystemTime> RetentionLedger::Get(const Id& object) const {
  auto it = until_.find(object);
  if (it == until_.end()) return std::nullopt;
  return storage::SystemTime(std::chrono::seconds(it->second));
}

void RetentionLedger::Set(const Id& object, storage::SystemTime until) {
  int64_t& v = until_[object];
  v = std::max(v, UnixSeconds(until));
}

Status RetentionLedger::Save(const Repository& repo) const {
  if (path_.empty()) return OkStatus();
  Bytes payload;
  Encoder e(&payload);
  e.PutU8(kLedgerVersion);
  e.PutVarint(until_.size());
  for (const auto& [id, until] : until_) {
    e.PutRaw(id.bytes);
    e.PutI64(until);
  }
  PHV_ASSIGN_OR_RETURN(Id id, crypto::RandomId());
  Envelope env{ObjectType::kRetentionLedger, repo.keys().current_epoch(), id};
  PHV_ASSIGN_OR_RETURN(Bytes sealed, SealBody(env, repo.epoch_keys(), payload, true));
  PHV_RETURN_IF_ERROR(MakeDirs(path_.substr(0, path_.rfind('/')), 0700));
  return WriteFileAtomic(path_, sealed, 0600);
}

}  // namespace phivault::repo
