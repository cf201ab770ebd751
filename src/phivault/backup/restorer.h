// Restorer: writes a snapshot's tree (or the parts of it an include list selects) below a target
// directory, verifying every byte: each blob is authenticated by AES-GCM and checked against its
// keyed id before a single byte of it is written, so a restore never writes bytes that failed
// verification. A file whose content cannot be verified is removed, reported, and the restore
// goes on with the others; the result lists every failure.
//
// Order of work: directories (created owner-only so that even mode 0000 trees can be filled),
// symlinks and special files during the walk; file contents by a pool of workers, each taking
// runs of consecutive files so that small files sharing a pack frame are decrypted once; hard
// links; finally directory metadata, deepest first, so that setting a directory's mtime or a
// read-only mode comes after everything inside it was written.
//
// Existing files in the target are never overwritten: such a file is reported and left as it is.
// All file system calls are relative to the target directory's descriptor, so the restored
// path may be longer than PATH_MAX when added to the target's own path.
//
// Thread safety: one Restorer runs one restore at a time; progress may be read concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "phivault/base/status.h"
#include "phivault/repo/repository.h"

namespace phivault::backup {

struct RestoreOptions {
  std::string target;                 // created (0700) if missing
  std::vector<std::string> includes;  // absolute snapshot paths; empty: everything
  unsigned threads = 0;               // 0: two per core
  const std::atomic<bool>* cancel = nullptr;
  // When set, a regular file is restored only if this returns true for its snapshot path
  // (restore drills restore a sample).
  std::function<bool(const std::string& path)> file_filter;
  // Read every extent back right after writing it and compare it with the authenticated blob
  // still in memory (a hole must read as zeros: whatever the file system reports as data inside
  // it is read back; SEEK_DATA): proves the bytes reached the file, at the cost
  // of a read from the page cache. Restore drills use it.
  bool read_back = false;
  // Restore drills: once a regular file is written, read back (with `read_back`) and given its
  // metadata, check that its name leads to it and that it has the snapshot's type, size,
  // permission bits and mtime (and owner, as root), then remove it at once, so that each file's
  // plaintext is in the target only while it is being verified and, on a file system that
  // delays allocation, never reaches the disk. Files with hard links to them stay until the
  // links are made; directories, symlinks and special files stay: the caller removes the target.
  bool discard = false;
};

struct RestoreProgress {
  std::atomic<uint64_t> files_total{0};
  std::atomic<uint64_t> bytes_total{0};
  std::atomic<uint64_t> files_done{0};
  std::atomic<uint64_t> bytes_done{0};
};

struct RestoreFailure {
  std::string path;  // snapshot path
  Status error;
};

struct RestoreResult {
  uint64_t files_selected = 0;  // regular files to restore (hard links included)
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t hardlinks = 0;
  uint64_t special = 0;  // fifos and devices
  uint64_t skipped_sockets = 0;
  uint64_t bytes = 0;           // file bytes restored, holes included
  uint64_t bytes_verified = 0;  // blob bytes authenticated and written
  std::vector<RestoreFailure> failures;
  double duration_s = 0;
  // True when any failure was a verification failure (kDataLoss).
  bool data_loss = false;
};

class Restorer {
 public:
  explicit Restorer(repo::Repository* repo) : repo_(repo) {}

  // Restores the tree `root`. The index must be loaded. Fails outright only when the tree itself
  // cannot be read or the target cannot be created; per-file failures are in the result.
  Result<RestoreResult> Run(const Id& root, const RestoreOptions& options);

  const RestoreProgress& progress() const { return progress_; }

 private:
  repo::Repository* repo_;
  RestoreProgress progress_;
};

}  // namespace phivault::backup
