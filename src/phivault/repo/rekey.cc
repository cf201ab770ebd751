#include "phivault/repo/rekey.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "phivault/base/log.h"
#include "phivault/crypto/crypto.h"

namespace phivault::repo {
namespace {

// Packs per index object written by a re-encryption: a few hundred KiB each.
constexpr size_t kPacksPerIndexObject = 256;

struct PackToDo {
  PackRecord record;
  uint64_t size = 0;
};

// Re-seals one pack under `epoch`: same frames, same plaintext, new object id and key. Every
// frame is authenticated under the old key on the way, so a damaged pack stops the run instead
// of being laundered into a valid-looking new one.
Result<IndexedPack> ResealPack(Repository* repo, const PackToDo& pack, const PackContents& contents,
                               uint32_t epoch) {
  storage::Backend* backend = repo->backend();
  const std::string what = "pack " + pack.record.id.Hex();
  PHV_ASSIGN_OR_RETURN(Bytes old_bytes, backend->ReadAll(PackName(pack.record.id)));
  if (old_bytes.size() != pack.size) return DataLossError(what + ": size changed while reading");
  const uint64_t frames_end = contents.FramesEnd();
  const uint64_t header_len = old_bytes.size() - kPackTrailerSize - frames_end;

  Envelope old_env{pack.record.type, pack.record.epoch, pack.record.id};
  PHV_ASSIGN_OR_RETURN(auto old_cipher, ObjectCipher::Create(old_env, repo->epoch_keys()));
  PHV_ASSIGN_OR_RETURN(Id new_id, crypto::RandomId());
  Envelope new_env{pack.record.type, epoch, new_id};
  PHV_ASSIGN_OR_RETURN(auto new_cipher, ObjectCipher::Create(new_env, repo->epoch_keys()));

  PHV_ASSIGN_OR_RETURN(auto writer, backend->Create(PackName(new_id)));
  PHV_RETURN_IF_ERROR(writer->Append(new_cipher->header()));
  Bytes plain;
  Bytes sealed;
  auto reseal = [&](uint64_t offset, uint64_t stored, FrameKind kind) -> Status {
    ByteSpan in(old_bytes.data() + offset, static_cast<size_t>(stored));
    plain.resize(in.size() - kFrameOverhead);
    sealed.resize(in.size());
    Status s = old_cipher->OpenFrame(offset, kind, in, plain.data());
    if (!s.ok()) return std::move(s).WithContext(what);
    PHV_RETURN_IF_ERROR(new_cipher->SealFrame(offset, kind, plain, sealed.data()));
    return writer->Append(sealed);
  };
  uint64_t offset = kEnvelopeSize;
  for (const PackFrame& f : contents.frames) {
    PHV_RETURN_IF_ERROR(reseal(offset, f.stored_length, FrameKind::kBlobs));
    offset += f.stored_length;
  }
  PHV_RETURN_IF_ERROR(reseal(frames_end, header_len, FrameKind::kPackHeader));
  // The trailer holds only the header frame's length, which has not changed.
  PHV_RETURN_IF_ERROR(writer->Append(ByteSpan(old_bytes).last(kPackTrailerSize)));
  SecureWipe(plain.data(), plain.size());
  if (writer->size() != old_bytes.size()) return InternalError(what + ": re-sealed size differs");
  PHV_RETURN_IF_ERROR(writer->Commit());
  return IndexedPack{new_id, pack.record.type, epoch, contents};
}

// The snapshot's content without its parent link: equal for a snapshot and its re-sealed copy,
// whose parent was remapped to a new id.
Bytes SnapshotKey(Snapshot s) {
  s.parent.reset();
  return EncodeSnapshot(s);
}

// A single-body object (snapshot, drill record, audit checkpoint), read once: the epoch its
// envelope names and its opened payload. With `skip_foreign`, an object sealed under an epoch the
// keystore does not hold comes back without a payload instead of failing.
struct SealedObject {
  uint32_t epoch = 0;
  std::optional<Bytes> payload;
};
Result<SealedObject> ReadSealed(Repository* repo, storage::ObjectKind kind, ObjectType type,
                                const Id& id, bool skip_foreign) {
  const storage::ObjectName name{kind, id.Hex()};
  PHV_ASSIGN_OR_RETURN(Bytes raw, repo->backend()->ReadAll(name));
  PHV_ASSIGN_OR_RETURN(Envelope env, Envelope::Decode(raw, name.Path()));
  if (skip_foreign && repo->epoch_keys()(env.epoch) == nullptr) return SealedObject{env.epoch, {}};
  PHV_ASSIGN_OR_RETURN(Bytes payload, OpenBody(type, id, raw, repo->epoch_keys()));
  return SealedObject{env.epoch, std::move(payload)};
}

Status CheckInterrupted(const ReencryptOptions& options) {
  if (options.interrupted && options.interrupted()) {
    return CancelledError("re-encryption interrupted; run it again to resume");
  }
  return OkStatus();
}

void Progress(const ReencryptOptions& options, const std::string& line) {
  if (options.progress) options.progress(line);
}

void Checkpoint(const ReencryptOptions& options, std::string_view step, size_t n) {
  if (options.checkpoint) options.checkpoint(step, n);
}

}  // namespace

Result<std::vector<storage::ObjectName>> ObjectsNotUnder(
    storage::Backend* backend, uint32_t epoch, size_t* checked,
    const std::function<bool(uint32_t)>& held, std::vector<storage::ObjectName>* foreign) {
  std::vector<storage::ObjectName> names;
  for (storage::ObjectKind kind :
       {storage::ObjectKind::kPack, storage::ObjectKind::kIndex, storage::ObjectKind::kSnapshot,
        storage::ObjectKind::kDrill, storage::ObjectKind::kAuditCheckpoint}) {
    PHV_RETURN_IF_ERROR(backend->List(kind, [&](const storage::ObjectInfo& i) {
      names.push_back(i.name);
      return OkStatus();
    }));
  }
  std::vector<storage::ObjectName> stale;
  for (const storage::ObjectName& name : names) {
    uint8_t header[kEnvelopeSize];
    PHV_RETURN_IF_ERROR(backend->ReadAt(name, 0, MutableByteSpan(header, kEnvelopeSize)));
    PHV_ASSIGN_OR_RETURN(Envelope env,
                         Envelope::Decode(ByteSpan(header, kEnvelopeSize), name.Path()));
    if (env.epoch == epoch) continue;
    if (foreign != nullptr && held && !held(env.epoch)) {
      foreign->push_back(name);
    } else {
      stale.push_back(name);
    }
  }
  if (checked != nullptr) *checked = names.size();
  return stale;
}

Result<ReencryptStats> Reencrypt(Repository* repo, const ReencryptOptions& options) {
  if (repo->config().object_lock.enabled()) {
    return FailedPreconditionError(
               "this repository uses Object Lock: the objects sealed under the old keys stay "
               "locked, so re-encryption could not remove them; rotate without --reencrypt")
        .WithTag(ErrorTag::kRetention);
  }
  PHV_RETURN_IF_ERROR(repo->CheckWritable());
  storage::Backend* backend = repo->backend();
  ReencryptStats stats;
  const uint32_t epoch = repo->keys().current_epoch();
  stats.epoch = epoch;

  // --- step 1: packs ---------------------------------------------------------------------
  std::unordered_map<Id, uint64_t, IdHash> sizes;
  for (const storage::ObjectInfo& i : repo->listed_packs()) {
    auto id = Id::FromHex(i.name.id);
    if (id.ok()) sizes[*id] = i.size;
  }
  std::vector<PackToDo> old_packs;
  std::vector<PackToDo> current_packs;
  repo->index().ForEachPack([&](const PackRecord& r) {
    auto it = sizes.find(r.id);
    if (it == sizes.end()) return;  // indexed but gone: check reports it; nothing to re-seal
    (r.epoch == epoch ? current_packs : old_packs).push_back(PackToDo{r, it->second});
  });
  // Packs already under the current epoch: written since the rotation, or re-sealed by an earlier
  // run. Their blobs tell which old packs need no second copy.
  std::vector<IndexedPack> final_index;
  std::unordered_set<Id, IdHash> current_blobs;
  for (const PackToDo& p : current_packs) {
    PHV_ASSIGN_OR_RETURN(PackHeaderInfo h, repo->ReadPackHeader(p.record.id, p.size));
    for (const PackFrame& f : h.contents.frames) {
      for (const PackBlob& b : f.blobs) current_blobs.insert(b.id);
    }
    final_index.push_back(IndexedPack{p.record.id, p.record.type, epoch, std::move(h.contents)});
  }

  Progress(options, "re-sealing " + std::to_string(old_packs.size()) + " packs");
  std::mutex mu;
  Status first_error;
  std::vector<IndexedPack> unindexed;  // re-sealed, not yet in an index object
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto flush_index = [&](bool all) -> Status {  // REQUIRES: mu held
    while (unindexed.size() >= kPacksPerIndexObject || (all && !unindexed.empty())) {
      size_t n = std::min(unindexed.size(), kPacksPerIndexObject);
      std::vector<IndexedPack> batch(unindexed.begin(), unindexed.begin() + static_cast<long>(n));
      PHV_RETURN_IF_ERROR(repo->WriteIndexObject(std::move(batch)).status());
      unindexed.erase(unindexed.begin(), unindexed.begin() + static_cast<long>(n));
    }
    return OkStatus();
  };
  auto worker = [&] {
    while (!stop.load()) {
      size_t i = next.fetch_add(1);
      if (i >= old_packs.size()) return;
      Status s = CheckInterrupted(options);
      if (s.ok() && options.stop_after_packs != 0) {
        std::lock_guard<std::mutex> lock(mu);
        if (stats.packs_resealed >= options.stop_after_packs) {
          s = CancelledError("stopped after " + std::to_string(options.stop_after_packs) +
                             " packs");
        }
      }
      const PackToDo& p = old_packs[i];
      Result<PackHeaderInfo> h =
          s.ok() ? repo->ReadPackHeader(p.record.id, p.size) : Result<PackHeaderInfo>(s);
      Result<std::optional<IndexedPack>> done = std::optional<IndexedPack>();
      if (!h.ok()) {
        done = h.status();
      } else {
        bool copied = true;
        for (const PackFrame& f : h->contents.frames) {
          for (const PackBlob& b : f.blobs) copied = copied && current_blobs.count(b.id) != 0;
        }
        if (!copied) {
          auto r = ResealPack(repo, p, h->contents, epoch);
          if (r.ok()) {
            done = std::optional<IndexedPack>(std::move(*r));
          } else {
            done = r.status();
          }
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      if (!done.ok()) {
        if (first_error.ok()) first_error = done.status();
        stop = true;
        return;
      }
      if (done->has_value()) {
        stats.packs_resealed++;
        Checkpoint(options, "pack", stats.packs_resealed);
        stats.bytes_resealed += p.size;
        final_index.push_back(**done);
        unindexed.push_back(std::move(**done));
        Status fs = flush_index(/*all=*/false);
        if (!fs.ok()) {
          if (first_error.ok()) first_error = fs;
          stop = true;
          return;
        }
      } else {
        stats.packs_already_resealed++;
      }
      size_t finished = stats.packs_resealed + stats.packs_already_resealed;
      if (finished % 50 == 0) {
        Progress(options,
                 "packs " + std::to_string(finished) + "/" + std::to_string(old_packs.size()));
      }
    }
  };
  unsigned workers = std::clamp(backend->PreferredConcurrency(), 2u, 8u);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < workers; ++i) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  {
    // Whatever was re-sealed before a failure is indexed, so a later run need not redo it.
    std::lock_guard<std::mutex> lock(mu);
    Status fs = flush_index(/*all=*/true);
    if (first_error.ok()) first_error = fs;
  }
  PHV_RETURN_IF_ERROR(first_error);

  // --- step 2: one index over every current pack -----------------------------------------
  std::unordered_set<std::string> keep_indexes;
  for (size_t i = 0; i < final_index.size(); i += kPacksPerIndexObject) {
    size_t end = std::min(final_index.size(), i + kPacksPerIndexObject);
    std::vector<IndexedPack> batch(final_index.begin() + static_cast<long>(i),
                                   final_index.begin() + static_cast<long>(end));
    PHV_ASSIGN_OR_RETURN(Id id, repo->WriteIndexObject(std::move(batch)));
    keep_indexes.insert(id.Hex());
    stats.indexes_written++;
    Checkpoint(options, "index", stats.indexes_written);
  }

  // --- step 3: snapshots -------------------------------------------------------------------
  PHV_RETURN_IF_ERROR(CheckInterrupted(options));
  std::vector<storage::ObjectInfo> snapshot_objects;
  PHV_RETURN_IF_ERROR(backend->List(storage::ObjectKind::kSnapshot, [&](const auto& i) {
    snapshot_objects.push_back(i);
    return OkStatus();
  }));
  std::map<Bytes, Id> current_snapshots;  // content -> id, for snapshots of the current epoch
  std::vector<Snapshot> old_snapshots;
  for (const storage::ObjectInfo& info : snapshot_objects) {
    PHV_ASSIGN_OR_RETURN(Id id, Id::FromHex(info.name.id));
    PHV_ASSIGN_OR_RETURN(SealedObject object,
                         ReadSealed(repo, storage::ObjectKind::kSnapshot, ObjectType::kSnapshot, id,
                                    /*skip_foreign=*/false));
    PHV_ASSIGN_OR_RETURN(Snapshot snap, DecodeSnapshot(*object.payload, id));
    if (object.epoch == epoch) {
      current_snapshots.emplace(SnapshotKey(snap), id);
    } else {
      old_snapshots.push_back(std::move(snap));
    }
  }
  std::sort(old_snapshots.begin(), old_snapshots.end(),
            [](const Snapshot& a, const Snapshot& b) { return a.time_ns < b.time_ns; });
  std::unordered_map<Id, Id, IdHash> renamed;
  for (const Snapshot& old : old_snapshots) {
    auto it = current_snapshots.find(SnapshotKey(old));
    if (it != current_snapshots.end()) {
      renamed[old.id] = it->second;
      stats.snapshots_already_resealed++;
    }
  }
  for (const Snapshot& old : old_snapshots) {
    PHV_RETURN_IF_ERROR(CheckInterrupted(options));
    if (renamed.count(old.id) == 0) {
      Snapshot fresh = old;
      if (fresh.parent) {
        auto p = renamed.find(*fresh.parent);
        if (p != renamed.end()) fresh.parent = p->second;
      }
      PHV_RETURN_IF_ERROR(repo->SaveSnapshot(&fresh));
      renamed[old.id] = fresh.id;
      stats.snapshots_resealed++;
      Checkpoint(options, "snapshot", stats.snapshots_resealed);
    }
    stats.snapshot_ids.emplace_back(old.id, renamed[old.id]);
    PHV_RETURN_IF_ERROR(backend->Remove(SnapshotName(old.id)));
    Checkpoint(options, "remove", ++stats.objects_removed);
  }

  // Records (drill records, audit checkpoints): re-sealed like snapshots; their content names
  // them, so only the object id changes.
  for (auto [kind, type] :
       {std::pair{storage::ObjectKind::kDrill, ObjectType::kDrillRecord},
        std::pair{storage::ObjectKind::kAuditCheckpoint, ObjectType::kAuditCheckpoint}}) {
    PHV_RETURN_IF_ERROR(CheckInterrupted(options));
    PHV_ASSIGN_OR_RETURN(std::vector<Id> ids, repo->ListRecords(kind));
    std::map<Bytes, Id> current;
    std::vector<std::pair<Id, Bytes>> old;
    for (const Id& id : ids) {
      PHV_ASSIGN_OR_RETURN(SealedObject object,
                           ReadSealed(repo, kind, type, id, /*skip_foreign=*/true));
      if (!object.payload) continue;  // foreign: see ReencryptStats
      if (object.epoch == epoch) {
        current.emplace(std::move(*object.payload), id);
      } else {
        old.emplace_back(id, std::move(*object.payload));
      }
    }
    for (const auto& [id, payload] : old) {
      if (current.count(payload) == 0) {
        PHV_ASSIGN_OR_RETURN(Id fresh, repo->SaveRecord(type, kind, payload));
        current.emplace(payload, fresh);
        stats.records_resealed++;
      }
      PHV_RETURN_IF_ERROR(backend->Remove({kind, id.Hex()}));
      Checkpoint(options, "remove", ++stats.objects_removed);
    }
  }

  // --- step 4: old indexes, then old packs ---------------------------------------------------
  PHV_RETURN_IF_ERROR(CheckInterrupted(options));
  std::vector<storage::ObjectName> old_indexes;
  PHV_RETURN_IF_ERROR(backend->List(storage::ObjectKind::kIndex, [&](const auto& i) {
    if (keep_indexes.count(i.name.id) == 0) old_indexes.push_back(i.name);
    return OkStatus();
  }));
  for (const storage::ObjectName& name : old_indexes) {
    PHV_RETURN_IF_ERROR(backend->Remove(name));
    Checkpoint(options, "remove", ++stats.objects_removed);
  }
  for (const PackToDo& p : old_packs) {
    PHV_RETURN_IF_ERROR(backend->Remove(PackName(p.record.id)));
    Checkpoint(options, "remove", ++stats.objects_removed);
  }

  // --- step 5: prove it -----------------------------------------------------------------------
  EpochKeyLookup keys = repo->epoch_keys();
  PHV_ASSIGN_OR_RETURN(auto stale,
                       ObjectsNotUnder(
                           backend, epoch, &stats.objects_verified,
                           [&](uint32_t e) { return keys(e) != nullptr; }, &stats.foreign_objects));
  if (!stale.empty()) {
    return FailedPreconditionError(
        std::to_string(stale.size()) + " objects are still sealed under an older epoch (first: " +
        stale.front().Path() + "); was a backup running? Run the re-encryption again");
  }
  return stats;
}

}  // namespace phivault::repo
