// Copier: copies snapshots from one repository to another, for the off-site copy of the 3-2-1
// rule (local to S3, S3 to S3, S3 to local).
//
// Blob ids are keyed per repository, so nothing can be copied as stored bytes: every blob is
// read and authenticated from the source, given its id under the target's key, and stored,
// encrypted under the target's keys, only if the target does not hold it already. Trees are
// rewritten with the target's ids, bottom-up; the snapshot is written last, so an interrupted
// copy leaves the target consistent (its packs are adopted by the next backup or copy). Chunk
// boundaries are kept as they are.
//
// A snapshot whose time, host and paths match a snapshot in the target is taken to be copied
// already and is skipped.
//
// Thread safety: one Copier per command; it runs its own worker threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "phivault/base/id.h"
#include "phivault/base/status.h"
#include "phivault/repo/repository.h"
#include "phivault/repo/tree.h"

namespace phivault::backup {

struct CopyOptions {
  unsigned threads = 0;   // 0: chosen from the CPUs and the storage
  std::string cache_dir;  // for the target's retention ledger
  const std::atomic<bool>* cancel = nullptr;
};

struct CopyResult {
  bool already_present = false;
  Id target_snapshot;
  uint64_t blobs_read = 0;    // distinct data blobs read from the source
  uint64_t blobs_stored = 0;  // of those, stored in the target (the rest it held already)
  uint64_t bytes_stored = 0;  // plaintext bytes of the blobs stored
  uint64_t trees = 0;
  double duration_s = 0;
};

class Copier {
 public:
  // REQUIRES: both repositories have their index loaded.
  Copier(repo::Repository* source, repo::Repository* target, CopyOptions options);

  Result<CopyResult> Copy(const repo::Snapshot& snapshot);

 private:
  Status CollectTrees(const Id& root, std::vector<Id>* blobs);
  Status CopyBlobs(const std::vector<Id>& blobs, CopyResult* result);
  Result<Id> RewriteTree(const Id& tree, repo::BlobIdHasher* hasher, CopyResult* result);

  repo::Repository* source_;
  repo::Repository* target_;
  CopyOptions options_;
  // Source id to target id, for blobs and trees done in this run (shared across snapshots).
  std::unordered_map<Id, Id, IdHash> data_map_;
  std::unordered_map<Id, Id, IdHash> tree_map_;
  std::unordered_map<Id, std::vector<repo::Node>, IdHash> trees_;  // decoded source trees
};

}  // namespace phivault::backup
