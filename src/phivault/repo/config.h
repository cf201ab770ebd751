// RepoConfig: the repository's only plaintext object (doc/format/repository.md).
//
// Thread safety: a plain value.
#pragma once

#include <cstdint>
#include <string>

#include "phivault/base/bytes.h"
#include "phivault/base/id.h"
#include "phivault/base/status.h"
#include "phivault/chunk/chunker.h"
#include "phivault/storage/backend.h"

namespace phivault::repo {

inline constexpr uint32_t kRepositoryFormatVersion = 1;
inline constexpr uint32_t kDefaultPackSize = 32u << 20;
// Object lock periods longer than this (100 years) are refused as typing mistakes.
inline constexpr uint32_t kMaxObjectLockDays = 36500;

struct RepoConfig {
  uint32_t version = kRepositoryFormatVersion;
  Id id;
  chunk::ChunkerParams chunker;
  uint32_t pack_size = kDefaultPackSize;
  // Every object is written locked for this long (S3 Object Lock); disabled when days == 0.
  storage::RetentionPolicy object_lock;

  // The JSON document, exactly as it is stored.
  std::string Serialize() const;
  // Parses and validates a stored config. kFailedPrecondition tagged kFormatVersion for a version
  // this phivault does not know; kDataLoss for anything malformed or any algorithm it does not
  // implement.
  static Result<RepoConfig> Parse(ByteSpan data);

 private:
  static Result<RepoConfig> ParseJson(ByteSpan data);
};

}  // namespace phivault::repo
