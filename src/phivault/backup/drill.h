// Restore drills: the proof that a snapshot can be restored, made by restoring it.
//
// A drill restores a snapshot (or a sample of its files) into a private sandbox directory and
// checks every byte against the snapshot: the restore authenticates each blob (AES-GCM, then its
// keyed id) before writing it, then reads the written extent back and compares it with those
// authenticated bytes (holes must read as zeros; RestoreOptions::read_back). Once a file is
// complete, its name must lead to a regular file with the snapshot's size, permission bits and
// mtime, and it is removed there and then (RestoreOptions::discard): a file's plaintext is in the
// sandbox only while it is being verified. What is left (directories, symlinks, files with hard
// links) is removed at the end whatever happened, so the drill leaves no plaintext behind;
// sandboxes that a killed drill left are removed by the next one (RemoveStaleSandboxes).
//
// The result is measurements, not a verdict on policy: the caller turns it into a signed drill
// record and compares the projected restore time with the RTO target.
//
// Thread safety: RunDrill uses the repository's thread-safe reading API from several threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "phivault/backup/restorer.h"
#include "phivault/base/status.h"
#include "phivault/repo/repository.h"
#include "phivault/repo/snapshot.h"

namespace phivault::backup {

struct DrillOptions {
  // The sandbox is created (0700) as a fresh directory below this one.
  std::string sandbox_root;
  // Percent of the snapshot's regular files to restore and verify, chosen by a hash of their path
  // (so the same sample on every run). 100: all.
  double sample_percent = 100;
  unsigned threads = 0;  // 0: the restorer's default
  const std::atomic<bool>* cancel = nullptr;
};

struct DrillPhase {
  std::string name;  // "restore" (verification included), "cleanup"
  double seconds = 0;
};

// Something that did not restore or did not match. `where` names the object (pack and blob ids,
// byte offsets) and never a file name; `path` is the snapshot path, for the operator's terminal
// only: it is never written to a record.
struct DrillMismatch {
  std::string path;
  std::string where;
};

struct DrillOutcome {
  uint64_t files = 0;           // regular files in the sample
  uint64_t files_verified = 0;  // read back, matching and checked
  uint64_t bytes_restored = 0;
  uint64_t bytes_verified = 0;  // read back and matching, holes included
  uint64_t data_bytes = 0;      // of those, bytes of data (not holes): what took time
  std::vector<DrillMismatch> mismatches;
  std::vector<DrillPhase> phases;
  double restore_seconds = 0;  // verification included
  double total_seconds = 0;
  // Data bytes (holes excluded: they restore for free and would flatter the rate) per second
  // over the restore and its verification.
  double throughput = 0;
  bool passed() const { return mismatches.empty() && files_verified == files; }
};

// Runs a drill of `snapshot`. The index must be loaded. Fails outright only when the sandbox
// cannot be made or the snapshot's tree cannot be read; every other problem is a mismatch.
Result<DrillOutcome> RunDrill(repo::Repository* repo, const repo::Snapshot& snapshot,
                              const DrillOptions& options);

// Removes sandboxes below `sandbox_root` that earlier drills left (a drill killed with SIGKILL
// cannot clean up); returns how many.
Result<size_t> RemoveStaleSandboxes(const std::string& sandbox_root);

// Removes the directory tree at `path` (never following symlinks). Absent: OK.
Status RemoveTree(const std::string& path);

}  // namespace phivault::backup
