// RepoKeys: the working keys of an open repository, derived once from the keystore's bundle
// (doc/format/keystore.md, chunking.md, objects.md): the two blob-id HMAC keys, the chunker's gear
// table and the epoch keys.
//
// Thread safety: immutable after Derive; share freely between threads.
#pragma once

#include <cstdint>
#include <vector>

#include "phivault/base/id.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"
#include "phivault/chunk/chunker.h"
#include "phivault/keys/keystore.h"

namespace phivault::repo {

class RepoKeys {
 public:
  static Result<RepoKeys> Derive(const keys::KeyBundle& bundle, const Id& repository_id);

  RepoKeys(RepoKeys&&) noexcept = default;
  RepoKeys& operator=(RepoKeys&&) noexcept = default;

  const SecretBytes& data_id_key() const { return data_id_key_; }
  const SecretBytes& tree_id_key() const { return tree_id_key_; }
  const chunk::GearTable& gear_table() const { return gear_table_; }
  uint32_t current_epoch() const { return current_epoch_; }
  // The key of `epoch`, or nullptr if this keystore does not hold it.
  const SecretBytes* EpochKey(uint32_t epoch) const;

 private:
  RepoKeys() = default;
  SecretBytes data_id_key_;
  SecretBytes tree_id_key_;
  chunk::GearTable gear_table_;
  std::vector<keys::EpochKey> epochs_;
  uint32_t current_epoch_ = 0;
};

}  // namespace phivault::repo
