// Re-encryption: moves every object of a repository onto the current key epoch, so that the keys
// of older epochs can be dropped from the keystore and a saved copy of them decrypts nothing
// (doc/format/keys.md, "Rotation").
//
// Objects are write-once, so nothing is rewritten in place: each object sealed under an older
// epoch is re-sealed under a new random id and the current epoch, made durable and indexed, and
// only then is the old one removed. The steps, each safe to interrupt:
//
//   1. every pack of an older epoch is re-sealed frame by frame (the plaintext layout, and so
//      the index entries, stay the same; nothing is decompressed or re-chunked);
//   2. one fresh set of index objects lists every pack of the current epoch;
//   3. every snapshot of an older epoch is re-sealed (it gets a new id; parents are remapped),
//      and so is every drill record and audit checkpoint;
//   4. the older index objects, then the older packs, are removed;
//   5. every remaining object's envelope is read back to prove that none of an older epoch is
//      left.
//
// A run interrupted anywhere leaves a repository that `check` passes: old and new copies coexist
// until step 4, and both are complete. Running again resumes: a pack whose blobs all appear in
// packs of the current epoch, or a snapshot whose content already exists under the current epoch,
// is not re-sealed again.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "phivault/base/id.h"
#include "phivault/base/status.h"
#include "phivault/repo/repository.h"

namespace phivault::repo {

struct ReencryptStats {
  uint32_t epoch = 0;                 // the epoch every object is now sealed under
  size_t packs_resealed = 0;          // re-sealed by this run
  size_t packs_already_resealed = 0;  // found re-sealed by an earlier, interrupted run
  uint64_t bytes_resealed = 0;
  size_t indexes_written = 0;
  size_t snapshots_resealed = 0;
  size_t snapshots_already_resealed = 0;
  size_t records_resealed = 0;  // drill records and audit checkpoints
  size_t objects_removed = 0;
  size_t objects_verified = 0;  // envelopes read back in step 5
  // Objects sealed under an epoch this keystore never held (or dropped in an earlier
  // re-encryption): written with an old copy of the keystore. Nothing here can read them, so they
  // are left alone and named; they do not stop the retirement.
  std::vector<storage::ObjectName> foreign_objects;
  std::vector<std::pair<Id, Id>> snapshot_ids;  // old id -> new id
};

struct ReencryptOptions {
  // Polled between objects; when it returns true the run stops with kCancelled.
  std::function<bool()> interrupted;
  // Called with a short line of progress ("packs 12/40").
  std::function<void(const std::string&)> progress;
  // Stop after re-sealing this many packs, as if interrupted (tests of resumption). 0: no limit.
  size_t stop_after_packs = 0;
  // Called after each durable step: ("pack", n) when the n-th re-sealed pack is committed,
  // ("index", n) after the n-th new index object, ("snapshot", n) after the n-th re-sealed snapshot
  // is stored, ("remove", n) after the n-th old object is removed. Crash tests kill the process
  // here.
  std::function<void(std::string_view step, size_t n)> checkpoint;
};

// Runs the steps above. REQUIRES: `repo` was opened with the keystore whose current epoch is the
// target and which still holds the keys of the older epochs, and its index was loaded with
// adoption. kFailedPrecondition tagged kRetention if the repository uses Object Lock (old objects
// cannot be removed before their lock ends); kFailedPrecondition if objects of an older epoch
// remain at the end (say, a backup started before the rotation wrote some meanwhile: run again).
Result<ReencryptStats> Reencrypt(Repository* repo, const ReencryptOptions& options);

// Reads the envelope of every pack, index and snapshot and returns the names of those not sealed
// under `epoch`; `checked` receives how many were read. An object whose envelope cannot be decoded
// is an error (kDataLoss naming it).
// With `foreign`, objects sealed under an epoch that `held` says the keystore does not hold at
// all go there instead (see ReencryptStats::foreign_objects).
Result<std::vector<storage::ObjectName>> ObjectsNotUnder(
    storage::Backend* backend, uint32_t epoch, size_t* checked,
    const std::function<bool(uint32_t)>& held = nullptr,
    std::vector<storage::ObjectName>* foreign = nullptr);

}  // namespace phivault::repo
