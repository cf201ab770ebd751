// Checker: verifies a repository's structure and, optionally, every byte of its data.
//
// Structure (always): every index object opens and decodes; every pack an index lists exists and
// is at least as long as the index says; every snapshot opens; every tree every snapshot reaches
// opens, authenticates and decodes; every data blob a file names is in the index.
// Data (--read-data): every pack, indexed or not, is read whole: its header and every frame are
// authenticated, decompressed, and every blob is checked against its keyed id.
//
// Each problem names the object concerned by kind and id (never a file name). Packs that no index
// lists are the leftovers of an interrupted backup: reported as a count, not as problems, since
// the next backup adopts them.
//
// Thread safety: one Checker runs one check at a time; progress may be read concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "phivault/base/status.h"
#include "phivault/repo/repository.h"

namespace phivault::backup {

struct CheckOptions {
  bool read_data = false;
  unsigned threads = 0;  // 0: one per core
};

struct CheckProblem {
  std::string object;  // "pack 3fa4…", "index …", "snapshot …"
  Status error;
};

struct CheckReport {
  uint64_t snapshots = 0;
  uint64_t indexes = 0;
  uint64_t packs = 0;
  uint64_t unindexed_packs = 0;
  uint64_t trees = 0;
  uint64_t data_blobs = 0;  // distinct data blobs referenced by snapshots
  uint64_t packs_read = 0;
  uint64_t bytes_read = 0;
  uint64_t blobs_verified = 0;
  std::vector<CheckProblem> problems;
  double duration_s = 0;
};

struct CheckProgress {
  std::atomic<uint64_t> packs_total{0};
  std::atomic<uint64_t> packs_done{0};
  std::atomic<uint64_t> bytes_done{0};
};

class Checker {
 public:
  explicit Checker(repo::Repository* repo) : repo_(repo) {}

  // Runs the check. Problems found are in the report; a non-OK result means the check itself
  // could not run (the storage could not be listed).
  Result<CheckReport> Run(const CheckOptions& options);

  const CheckProgress& progress() const { return progress_; }

 private:
  repo::Repository* repo_;
  CheckProgress progress_;
};

}  // namespace phivault::backup
