// RetentionLedger: the cache's record of how long each repository object is locked (S3 Object
// Lock), so that a backup need not ask the storage about every pack it keeps (format:
// doc/format/retention-ledger.md). Like the files cache it lives in the cache directory, sealed
// under the repository's keys, and it is only a hint: a missing or unreadable ledger costs one
// HEAD request per object, after which it is whole again. It can be stale only on the safe side:
// locks are never shortened, so a lock is at least what the ledger says.
//
// Thread safety: not thread-safe; one per backup.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "phivault/base/id.h"
#include "phivault/base/status.h"
#include "phivault/storage/backend.h"

namespace phivault::repo {

class Repository;

class RetentionLedger {
 public:
  // Loads `cache_dir`/<repository id>/retention. Missing: empty. Unreadable: empty, with a
  // warning.
  static Result<RetentionLedger> Load(const Repository& repo, const std::string& cache_dir);
  // An empty ledger that is never saved (no cache directory).
  RetentionLedger() = default;

  // What the ledger knows of `object` (a pack or index id; the zero id is the config).
  std::optional<storage::SystemTime> Get(const Id& object) const;
  void Set(const Id& object, storage::SystemTime until);
  size_t size() const { return until_.size(); }

  Status Save(const Repository& repo) const;

 private:
  std::string path_;
  std::map<Id, int64_t> until_;  // unix seconds
};

}  // namespace phivault::repo
