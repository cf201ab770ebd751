#include "phivault/repo/repo_keys.h"

#include "phivault/crypto/crypto.h"

namespace phivault::repo {

Result<RepoKeys> RepoKeys::Derive(const keys::KeyBundle& bundle, const Id& repository_id) {
  RepoKeys k;
  ByteSpan salt = repository_id.bytes;
  PHV_ASSIGN_OR_RETURN(
      k.data_id_key_,
      crypto::HkdfSha256(bundle.id_key.span(), salt, "phivault/v1/blob-id/data", crypto::kKeySize));
  PHV_ASSIGN_OR_RETURN(
      k.tree_id_key_,
      crypto::HkdfSha256(bundle.id_key.span(), salt, "phivault/v1/blob-id/tree", crypto::kKeySize));
  PHV_ASSIGN_OR_RETURN(SecretBytes table,
                       crypto::HkdfSha256(bundle.chunker_key.span(), salt, "phivault/v1/gear-table",
                                          chunk::GearTable::kSerializedSize));
  k.gear_table_ = chunk::GearTable::FromBytes(table.span());
  for (const keys::EpochKey& e : bundle.epochs) {
    k.epochs_.push_back(keys::EpochKey{e.epoch, e.retiring, e.key.Clone()});
  }
  k.current_epoch_ = bundle.current_epoch;
  if (k.EpochKey(k.current_epoch_) == nullptr) {
    return DataLossError("keystore has no key for its current epoch");
  }
  return k;
}

const SecretBytes* RepoKeys::EpochKey(uint32_t epoch) const {
  for (const keys::EpochKey& e : epochs_) {
    if (e.epoch == epoch) return &e.key;
  }
  return nullptr;
}

}  // namespace phivault::repo
