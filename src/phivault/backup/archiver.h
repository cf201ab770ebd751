// Archiver: one backup run. It walks the source paths, reads and chunks the files that changed
// since the files cache last saw them, stores new chunks and trees through the Repository, and
// commits a snapshot (doc/format/repository.md, "Commit protocol").
//
// The pipeline keeps every core busy:
//
//   walker (calling thread) --files--> readers (read, chunk, keyed hash) --chunks--> savers
//                                                                  (compress, seal, write)
//
// Readers know each chunk's id before it is stored, so a file's content list is complete when
// its reader finishes; savers only store. Both queues are bounded, which bounds memory: at most
// a few chunks per thread are in flight.
//
// Files that cannot be read (permissions, vanished during the walk) are reported through the
// result, left out of the snapshot, and mark it partial; the backup itself still succeeds.
//
// Thread safety: an Archiver runs one backup at a time and must not be shared between threads.
// Progress counters may be read from any thread while Run is in progress.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "phivault/base/status.h"
#include "phivault/repo/repository.h"
#include "phivault/repo/snapshot.h"

namespace phivault::backup {

struct BackupOptions {
  std::vector<std::string> paths;     // as given; made absolute by Run
  std::vector<std::string> excludes;  // fnmatch(3) patterns, see IsExcluded
  std::vector<std::string> tags;
  std::string host;       // empty: the system's host name
  std::string cache_dir;  // files cache directory; empty: FilesCache::DefaultDir()
  bool use_cache = true;  // false: read every file
  unsigned threads = 0;   // 0: one reader and one saver per core
  // Set from another thread (a signal handler's flag) to stop the backup early.
  const std::atomic<bool>* cancel = nullptr;
};

// Live counters for a progress display.
struct BackupProgress {
  std::atomic<uint64_t> files_seen{0};
  std::atomic<uint64_t> files_done{0};
  std::atomic<uint64_t> bytes_seen{0};  // sizes of the files found so far
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_done{0};  // of files read or taken from the cache
};

struct UnreadableFile {
  std::string path;
  Status error;
};

struct BackupResult {
  repo::Snapshot snapshot;
  std::vector<UnreadableFile> unreadable;
  double duration_s = 0;
};

// True when `path` (absolute) matches one of `patterns`. A pattern with a '/' is matched against
// the whole path, with FNM_PATHNAME; one without is matched against the last component.
bool IsExcluded(const std::vector<std::string>& patterns, const std::string& path);

class Archiver {
 public:
  explicit Archiver(repo::Repository* repo) : repo_(repo) {}

  // Runs the backup. The repository's index must be loaded (with adoption, so that blobs of an
  // interrupted backup are reused). Fails only when nothing was committed.
  Result<BackupResult> Run(const BackupOptions& options);

  const BackupProgress& progress() const { return progress_; }

 private:
  repo::Repository* repo_;
  BackupProgress progress_;
};

// For a repository with object lock: extends the locks of the objects a new snapshot relies on
// (Repository::KeepPacksLocked), with the retention ledger kept in `cache_dir` (the default
// cache directory when empty; none when !use_cache). A no-op otherwise.
Status KeepRepositoryLocked(repo::Repository* repo, const std::string& cache_dir, bool use_cache);

}  // namespace phivault::backup
