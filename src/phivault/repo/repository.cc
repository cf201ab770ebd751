#include "phivault/repo/repository.h"

#include <algorithm>

#include "phivault/base/log.h"
#include "phivault/keys/key_log.h"
#include "phivault/repo/retention.h"

namespace phivault::repo {
namespace {

constexpr size_t kPacksPerIndex = 16;

}  // namespace

storage::ObjectName ConfigName() { return {storage::ObjectKind::kConfig, ""}; }
storage::ObjectName PackName(const Id& id) { return {storage::ObjectKind::kPack, id.Hex()}; }
storage::ObjectName IndexName(const Id& id) { return {storage::ObjectKind::kIndex, id.Hex()}; }
storage::ObjectName SnapshotName(const Id& id) {
  return {storage::ObjectKind::kSnapshot, id.Hex()};
}

// ---------------------------------------------------------------------------------------------
// BlobIdHasher

Result<std::unique_ptr<BlobIdHasher>> BlobIdHasher::Create(const RepoKeys& keys) {
  std::unique_ptr<BlobIdHasher> h(new BlobIdHasher());
  PHV_ASSIGN_OR_RETURN(h->data_, crypto::HmacSha256::Create(keys.data_id_key().span()));
  PHV_ASSIGN_OR_RETURN(h->tree_, crypto::HmacSha256::Create(keys.tree_id_key().span()));
  return h;
}

Result<Id> BlobIdHasher::Compute(BlobType type, ByteSpan data) {
  return type == BlobType::kTree ? tree_->Compute(data) : data_->Compute(data);
}

// ---------------------------------------------------------------------------------------------
// Opening and creating

Repository::Repository(std::unique_ptr<storage::Backend> backend, RepoConfig config, RepoKeys keys,
                       std::string keystore_path)
    : backend_(std::move(backend)),
      config_(std::move(config)),
      keys_(std::move(keys)),
      keystore_path_(std::move(keystore_path)) {
  // On remote storage a repeated read costs a round trip; share what readers fetched.
  if (backend_->PreferredConcurrency() > 0) {
    frame_cache_ = std::make_unique<FrameCache>(kFrameCacheBytes);
  }
}

Repository::~Repository() {
  commit_queue_.Close();
  if (committer_.joinable()) committer_.join();
  if (frame_cache_ != nullptr && frame_cache_->misses() > 0) {
    PHV_LOG(kInfo, "frame cache: {} frames fetched, {} reads served from the cache",
            frame_cache_->misses(), frame_cache_->hits());
  }
}

EpochKeyLookup Repository::epoch_keys() const {
  return [this](uint32_t epoch) {
    return keys_.EpochKey(epoch);
  };
}

Result<std::unique_ptr<Repository>> Repository::Init(std::unique_ptr<storage::Backend> backend,
                                                     const std::string& keystore_dir,
                                                     ByteSpan passphrase,
                                                     const InitOptions& options) {
  PHV_RETURN_IF_ERROR(options.chunker.Validate());
  RepoConfig config;
  PHV_ASSIGN_OR_RETURN(config.id, crypto::RandomId());
  config.chunker = options.chunker;
  config.pack_size = options.pack_size;
  config.object_lock = options.object_lock;
  if (config.object_lock.enabled()) {
    // Before anything is written: a bucket without Object Lock is refused here.
    PHV_RETURN_IF_ERROR(backend->EnableRetention(config.object_lock));
  }
  std::string serialized = config.Serialize();
  Id digest = crypto::Sha256(AsBytes(serialized));

  PHV_ASSIGN_OR_RETURN(
      keys::Keystore keystore,
      keys::Keystore::Create(config.id, digest, passphrase, options.kdf, options.slot_label));
  std::string keystore_path = keys::KeystorePath(keystore_dir, config.id);
  PHV_RETURN_IF_ERROR(keystore.Save(keystore_path).WithTag(ErrorTag::kKeystore));
  PHV_RETURN_IF_ERROR(backend->Save(ConfigName(), AsBytes(serialized)));
  PHV_ASSIGN_OR_RETURN(RepoKeys keys, RepoKeys::Derive(keystore.keys(), config.id));
  return std::unique_ptr<Repository>(
      new Repository(std::move(backend), std::move(config), std::move(keys), keystore_path));
}

KeystoreUnlocker UnlockWithSecret(PassphraseSource source, keys::SlotType type) {
  return [source = std::move(source), type](keys::Keystore* keystore) -> Status {
    PHV_ASSIGN_OR_RETURN(SecretBytes secret, source());
    return keystore->UnlockWith(type, secret.span());
  };
}

Result<StoredConfig> ReadConfig(storage::Backend* backend) {
  auto raw = backend->ReadAll(ConfigName());
  if (!raw.ok()) {
    if (raw.status().code() == StatusCode::kNotFound) {
      return NotFoundError("no phivault repository at " + backend->Location())
          .WithTag(ErrorTag::kRepositoryMissing);
    }
    return std::move(raw).status();
  }
  PHV_ASSIGN_OR_RETURN(RepoConfig config, RepoConfig::Parse(*raw));
  return StoredConfig{std::move(config), std::move(*raw)};
}

Result<UnlockedKeystore> UnlockRepositoryKeystore(storage::Backend* backend,
                                                  const std::string& keystore_dir,
                                                  const KeystoreUnlocker& unlock) {
  PHV_ASSIGN_OR_RETURN(StoredConfig stored, ReadConfig(backend));
  return UnlockRepositoryKeystore(backend, std::move(stored), keystore_dir, unlock);
}

Result<UnlockedKeystore> UnlockRepositoryKeystore(storage::Backend* backend, StoredConfig stored,
                                                  const std::string& keystore_dir,
                                                  const KeystoreUnlocker& unlock) {
  RepoConfig& config = stored.config;
  std::string path = keys::KeystorePath(keystore_dir, config.id);
  PHV_ASSIGN_OR_RETURN(keys::Keystore keystore, keys::Keystore::Load(path));
  if (keystore.repository_id() != config.id) {
    return FailedPreconditionError("keystore " + path + " belongs to another repository")
        .WithTag(ErrorTag::kKeystore);
  }
  Status unlocked = unlock(&keystore);
  if (!unlocked.ok()) {
    // A wrong credential is evidence an auditor wants (repeated guessing); the log holds no
    // secret, only that an attempt failed and how.
    if (unlocked.code() == StatusCode::kUnauthenticated || unlocked.tag() == ErrorTag::kKeystore ||
        unlocked.tag() == ErrorTag::kKeyDevice) {
      keys::KeyEvent event{"unlock", std::nullopt, "", "", 0, unlocked};
      Status logged = keys::AppendKeyEvent(path, event);
      if (!logged.ok()) PHV_LOG(kWarning, "key-operation log: {}", logged.ToString());
    }
    return unlocked;
  }
  if (crypto::Sha256(stored.raw) != keystore.keys().config_digest) {
    return DataLossError("the repository config at " + backend->Location() +
                         " does not match the keystore: it was modified or replaced");
  }
  return UnlockedKeystore{std::move(config), std::move(keystore), std::move(path)};
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<storage::Backend> backend,
                                                     const std::string& keystore_dir,
                                                     const KeystoreUnlocker& unlock) {
  PHV_ASSIGN_OR_RETURN(UnlockedKeystore unlocked,
                       UnlockRepositoryKeystore(backend.get(), keystore_dir, unlock));
  return Open(std::move(backend), unlocked);
}

Result<std::unique_ptr<Repository>> Repository::Open(std::unique_ptr<storage::Backend> backend,
                                                     const UnlockedKeystore& unlocked) {
  RepoConfig config = unlocked.config;
  PHV_ASSIGN_OR_RETURN(RepoKeys keys, RepoKeys::Derive(unlocked.keystore.keys(), config.id));
  PHV_LOG(kInfo, "opened repository {} (format {})", config.id.ShortHex(), config.version);
  Status writable;
  if (config.object_lock.enabled()) {
    // Reading needs no lock; writing unlocked objects into a locked repository would quietly
    // void its immutability, so writes are refused when the lock cannot be kept.
    Status s = backend->EnableRetention(config.object_lock);
    if (!s.ok()) {
      if (s.tag() != ErrorTag::kRetention) return s;
      PHV_LOG(kWarning, "{}; the repository can be read but not written here", s.message());
      writable = std::move(s);
    }
  }
  std::unique_ptr<Repository> repo(
      new Repository(std::move(backend), std::move(config), std::move(keys), unlocked.path));
  repo->writable_ = std::move(writable);
  return repo;
}

// ---------------------------------------------------------------------------------------------
// Index

Status Repository::LoadIndex(bool adopt) {
  bad_indexes_.clear();
  unindexed_packs_.clear();
  listed_packs_.clear();
  std::vector<storage::ObjectInfo> indexes;
  PHV_RETURN_IF_ERROR(
      backend_->List(storage::ObjectKind::kIndex, [&](const storage::ObjectInfo& i) {
        indexes.push_back(i);
        return OkStatus();
      }));
  listed_indexes_ = indexes.size();
  for (const storage::ObjectInfo& info : indexes) {
    PHV_ASSIGN_OR_RETURN(Id id, Id::FromHex(info.name.id));
    auto packs = [&]() -> Result<std::vector<IndexedPack>> {
      PHV_ASSIGN_OR_RETURN(Bytes raw, backend_->ReadAll(info.name));
      PHV_ASSIGN_OR_RETURN(Bytes payload, OpenBody(ObjectType::kIndex, id, raw, epoch_keys()));
      return DecodeIndexPayload(payload, "index " + id.Hex());
    }();
    if (!packs.ok()) {
      PHV_LOG(kWarning, "index {} is unusable: {}", id.Hex(), packs.status().ToString());
      bad_indexes_.emplace_back(id, packs.status());
      continue;
    }
    for (const IndexedPack& p : *packs) PHV_RETURN_IF_ERROR(index_.AddPack(p));
  }

  PHV_RETURN_IF_ERROR(backend_->List(storage::ObjectKind::kPack, [&](const storage::ObjectInfo& i) {
    listed_packs_.push_back(i);
    auto id = Id::FromHex(i.name.id);
    if (id.ok() && !index_.HasPack(*id)) unindexed_packs_.push_back(i);
    return OkStatus();
  }));
  PHV_LOG(kInfo, "index: {} packs, {} blobs, {} unindexed packs", index_.pack_count(),
          index_.blob_count(), unindexed_packs_.size());
  if (!adopt || unindexed_packs_.empty()) return OkStatus();

  std::vector<IndexedPack> adopted;
  for (const storage::ObjectInfo& info : unindexed_packs_) {
    PHV_ASSIGN_OR_RETURN(Id id, Id::FromHex(info.name.id));
    auto header = ReadPackHeader(id, info.size);
    if (!header.ok()) {
      PHV_LOG(kWarning, "cannot adopt pack {}: {}", id.Hex(), header.status().ToString());
      continue;
    }
    IndexedPack p{id, header->envelope.type, header->envelope.epoch, std::move(header->contents)};
    PHV_RETURN_IF_ERROR(index_.AddPack(p));
    adopted.push_back(std::move(p));
  }
  PHV_LOG(kInfo, "adopted {} packs left by an interrupted backup", adopted.size());
  if (adopted.empty()) return OkStatus();
  return WriteIndex(std::move(adopted)).status();
}

Result<PackHeaderInfo> Repository::ReadPackHeader(const Id& pack_id, uint64_t pack_size) {
  return repo::ReadPackHeader(backend_.get(), pack_id, pack_size, epoch_keys());
}

Result<Id> Repository::WriteIndexObject(std::vector<IndexedPack> packs) {
  PHV_RETURN_IF_ERROR(writable_);
  return WriteIndex(std::move(packs));
}

Result<Id> Repository::WriteIndex(std::vector<IndexedPack> packs) {
  Bytes payload = EncodeIndexPayload(packs);
  PHV_ASSIGN_OR_RETURN(Id id, crypto::RandomId());
  Envelope env{ObjectType::kIndex, keys_.current_epoch(), id};
  PHV_ASSIGN_OR_RETURN(Bytes sealed, SealBody(env, epoch_keys(), payload, /*compress=*/true));
  PHV_RETURN_IF_ERROR(backend_->Save(IndexName(id), sealed));
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.bytes_written += sealed.size();
  return id;
}

// ---------------------------------------------------------------------------------------------
// Writing

bool Repository::Claim(const Id& id) {
  std::lock_guard<std::mutex> lock(claims_mu_);
  if (index_.Contains(id)) return false;
  return claims_.insert(id).second;
}

std::unique_ptr<PackWriter> Repository::AcquireWriter(BlobType type) {
  {
    std::lock_guard<std::mutex> lock(writers_mu_);
    auto& pool = type == BlobType::kTree ? free_tree_writers_ : free_data_writers_;
    if (!pool.empty()) {
      std::unique_ptr<PackWriter> w = std::move(pool.back());
      pool.pop_back();
      return w;
    }
  }
  return std::make_unique<PackWriter>(backend_.get(), PackTypeFor(type), keys_.current_epoch(),
                                      epoch_keys(), compression_);
}

void Repository::ReleaseWriter(BlobType type, std::unique_ptr<PackWriter> writer) {
  std::lock_guard<std::mutex> lock(writers_mu_);
  auto& pool = type == BlobType::kTree ? free_tree_writers_ : free_data_writers_;
  pool.push_back(std::move(writer));
}

void Repository::RecordError(const Status& s) {
  std::lock_guard<std::mutex> lock(commit_mu_);
  if (first_error_.ok()) first_error_ = s;
  failed_.store(true);
}

Status Repository::FirstError() {
  std::lock_guard<std::mutex> lock(commit_mu_);
  return first_error_;
}

Result<bool> Repository::SaveBlob(BlobType type, const Id& id, ByteSpan data) {
  if (!writable_.ok()) return writable_;
  if (failed_.load()) return FirstError();
  if (!Claim(id)) return false;
  std::unique_ptr<PackWriter> writer = AcquireWriter(type);
  Status s = writer->Add(id, type, data);
  if (s.ok() && writer->size() >= config_.pack_size) s = FinishPack(writer.get());
  ReleaseWriter(type, std::move(writer));
  if (!s.ok()) {
    RecordError(s);
    return s;
  }
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++stats_.blobs_added;
  stats_.blob_bytes_added += data.size();
  return true;
}

Status Repository::FinishPack(PackWriter* writer) {
  PHV_ASSIGN_OR_RETURN(FinishedPack pack, writer->Finish());
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    if (!committer_.joinable()) committer_ = std::thread([this] { CommitLoop(); });
    ++commits_in_flight_;
  }
  if (!commit_queue_.Push(std::move(pack))) return InternalError("pack commit queue closed");
  return OkStatus();
}

void Repository::CommitLoop() {
  while (std::optional<FinishedPack> pack = commit_queue_.Pop()) {
    Status s = CommitPack(std::move(*pack));
    if (!s.ok()) RecordError(s);
    std::lock_guard<std::mutex> lock(commit_mu_);
    --commits_in_flight_;
    commit_cv_.notify_all();
  }
}

Status Repository::CommitPack(FinishedPack pack) {
  PHV_RETURN_IF_ERROR(pack.writer->Commit().WithContext("pack " + pack.id.Hex()));
  IndexedPack indexed{pack.id, pack.type, pack.epoch, std::move(pack.contents)};
  PHV_RETURN_IF_ERROR(index_.AddPack(indexed));
  {
    std::lock_guard<std::mutex> lock(claims_mu_);
    for (const PackFrame& f : indexed.contents.frames) {
      for (const PackBlob& b : f.blobs) claims_.erase(b.id);
    }
  }
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.bytes_written += pack.size;
    ++stats_.packs_written;
  }
  PHV_LOG(kDebug, "committed {} {} ({} bytes)", ObjectTypeName(indexed.type), indexed.id.Hex(),
          pack.size);
  std::vector<IndexedPack> batch;
  {
    std::lock_guard<std::mutex> lock(commit_mu_);
    unwritten_index_.push_back(std::move(indexed));
    if (unwritten_index_.size() >= kPacksPerIndex) batch.swap(unwritten_index_);
  }
  if (batch.empty()) return OkStatus();
  return WriteIndex(std::move(batch)).status();
}

Status Repository::Flush() {
  std::vector<std::unique_ptr<PackWriter>> writers;
  {
    std::lock_guard<std::mutex> lock(writers_mu_);
    for (auto& w : free_data_writers_) writers.push_back(std::move(w));
    for (auto& w : free_tree_writers_) writers.push_back(std::move(w));
    free_data_writers_.clear();
    free_tree_writers_.clear();
  }
  for (auto& w : writers) {
    if (!w->empty() && !failed_.load()) {
      Status s = FinishPack(w.get());
      if (!s.ok()) RecordError(s);
    }
  }
  std::vector<IndexedPack> batch;
  {
    std::unique_lock<std::mutex> lock(commit_mu_);
    commit_cv_.wait(lock, [&] { return commits_in_flight_ == 0; });
    if (!first_error_.ok()) return first_error_;
    batch.swap(unwritten_index_);
  }
  if (batch.empty()) return OkStatus();
  Status s = WriteIndex(std::move(batch)).status();
  if (!s.ok()) RecordError(s);
  return s;
}

Status Repository::SaveSnapshot(Snapshot* snapshot) {
  PHV_RETURN_IF_ERROR(writable_);
  PHV_RETURN_IF_ERROR(FirstError());
  PHV_ASSIGN_OR_RETURN(snapshot->id, crypto::RandomId());
  Bytes payload = EncodeSnapshot(*snapshot);
  Envelope env{ObjectType::kSnapshot, keys_.current_epoch(), snapshot->id};
  PHV_ASSIGN_OR_RETURN(Bytes sealed, SealBody(env, epoch_keys(), payload, /*compress=*/true));
  return backend_->Save(SnapshotName(snapshot->id), sealed);
}

WriteStats Repository::write_stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

// ---------------------------------------------------------------------------------------------
// Reading

std::unique_ptr<BlobReader> Repository::NewBlobReader() {
  return std::unique_ptr<BlobReader>(new BlobReader(this));
}

Result<Id> Repository::SaveRecord(ObjectType type, storage::ObjectKind kind, ByteSpan payload) {
  PHV_RETURN_IF_ERROR(writable_);
  PHV_ASSIGN_OR_RETURN(Id id, crypto::RandomId());
  Envelope env{type, keys_.current_epoch(), id};
  PHV_ASSIGN_OR_RETURN(Bytes sealed, SealBody(env, epoch_keys(), payload, /*compress=*/true));
  PHV_RETURN_IF_ERROR(backend_->Save({kind, id.Hex()}, sealed));
  return id;
}

Result<Bytes> Repository::LoadRecord(ObjectType type, storage::ObjectKind kind, const Id& id) {
  PHV_ASSIGN_OR_RETURN(Bytes raw, backend_->ReadAll({kind, id.Hex()}));
  return OpenBody(type, id, raw, epoch_keys());
}

Result<std::vector<Id>> Repository::ListRecords(storage::ObjectKind kind) {
  std::vector<Id> ids;
  PHV_RETURN_IF_ERROR(backend_->List(kind, [&](const storage::ObjectInfo& i) {
    auto id = Id::FromHex(i.name.id);
    if (id.ok()) ids.push_back(*id);
    return OkStatus();
  }));
  return ids;
}

Result<Snapshot> Repository::LoadSnapshot(const Id& id) {
  PHV_ASSIGN_OR_RETURN(Bytes raw, backend_->ReadAll(SnapshotName(id)));
  PHV_ASSIGN_OR_RETURN(Bytes payload, OpenBody(ObjectType::kSnapshot, id, raw, epoch_keys()));
  return DecodeSnapshot(payload, id);
}

Result<std::vector<Snapshot>> Repository::LoadSnapshots(std::vector<std::pair<Id, Status>>* bad) {
  std::vector<Id> ids;
  PHV_RETURN_IF_ERROR(
      backend_->List(storage::ObjectKind::kSnapshot, [&](const storage::ObjectInfo& i) {
        auto id = Id::FromHex(i.name.id);
        if (id.ok()) ids.push_back(*id);
        return OkStatus();
      }));
  std::vector<Snapshot> out;
  for (const Id& id : ids) {
    auto s = LoadSnapshot(id);
    if (!s.ok()) {
      if (bad == nullptr) return std::move(s).status();
      bad->emplace_back(id, s.status());
      continue;
    }
    out.push_back(std::move(*s));
  }
  std::sort(out.begin(), out.end(), [](const Snapshot& a, const Snapshot& b) {
    return a.time_ns != b.time_ns ? a.time_ns < b.time_ns : a.id < b.id;
  });
  return out;
}

Result<Id> Repository::ResolveSnapshot(std::string_view name) {
  if (name == "latest") {
    PHV_ASSIGN_OR_RETURN(std::vector<Snapshot> all, LoadSnapshots());
    if (all.empty()) return NotFoundError("the repository has no snapshots");
    return all.back().id;
  }
  std::string prefix(name);
  std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                 [](char c) { return static_cast<char>(std::tolower(c)); });
  if (prefix.empty() || prefix.size() > 64 ||
      prefix.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidArgumentError("'" + std::string(name) +
                                "' is not a snapshot id, id prefix or 'latest'");
  }
  std::vector<std::string> matches;
  PHV_RETURN_IF_ERROR(
      backend_->List(storage::ObjectKind::kSnapshot, [&](const storage::ObjectInfo& i) {
        if (i.name.id.compare(0, prefix.size(), prefix) == 0) {
          matches.push_back(i.name.id);
        }
        return OkStatus();
      }));
  if (matches.empty()) return NotFoundError("no snapshot matches '" + prefix + "'");
  if (matches.size() > 1) {
    return InvalidArgumentError("snapshot prefix '" + prefix + "' is ambiguous (" +
                                std::to_string(matches.size()) + " snapshots match)");
  }
  return Id::FromHex(matches[0]);
}

Result<Snapshot> Repository::LoadNamedSnapshot(std::string_view name) {
  PHV_ASSIGN_OR_RETURN(Id id, ResolveSnapshot(name));
  return LoadSnapshot(id);
}

BlobReader::BlobReader(Repository* repo) : repo_(repo) {
  auto hasher = repo->NewHasher();
  if (hasher.ok()) hasher_ = std::move(*hasher);
}

Result<ByteSpan> BlobReader::Load(const Id& id, BlobType type) {
  if (hasher_ == nullptr) return InternalError("blob reader without a hasher");
  std::optional<BlobLocation> loc = repo_->index().Find(id);
  if (!loc)
    return NotFoundError(std::string(BlobTypeName(type)) + " blob " + id.Hex() +
                         " is not in the index");
  if (loc->type != type) {
    return DataLossError("blob " + id.Hex() + " is indexed as " +
                         std::string(BlobTypeName(loc->type)) + ", expected " +
                         std::string(BlobTypeName(type)));
  }
  OpenFrame* open = nullptr;
  for (OpenFrame& f : frames_) {
    if (f.pack == loc->pack && f.offset == loc->frame_offset) open = &f;
  }
  if (open == nullptr) {
    open = &frames_[0];
    for (OpenFrame& f : frames_) {
      if (f.last_use < open->last_use) open = &f;
    }
    PackRecord pack = repo_->index().pack(loc->pack);
    std::string what = "pack " + pack.id.Hex();
    if (cipher_ == nullptr || cipher_->envelope().object_id != pack.id) {
      PHV_ASSIGN_OR_RETURN(cipher_, ObjectCipher::Create(Envelope{pack.type, pack.epoch, pack.id},
                                                         repo_->epoch_keys()));
    }
    open->pack = UINT32_MAX;
    Status s;
    if (FrameCache* cache = repo_->frame_cache_.get();
        cache != nullptr && loc->frame_offset + loc->frame_length <= pack.frames_end) {
      // Remote storage: the pack is read in fixed windows, each fetched once and shared, so a
      // restore costs one request per window instead of one per frame.
      const uint64_t begin = loc->frame_offset;
      const uint64_t end = begin + loc->frame_length;
      sealed_.resize(loc->frame_length);
      for (uint64_t k = begin / Repository::kFrameWindow;
           k * Repository::kFrameWindow < end && s.ok(); ++k) {
        const uint64_t wb = k * Repository::kFrameWindow;
        const uint64_t we = std::min(wb + Repository::kFrameWindow, pack.frames_end);
        auto window =
            cache->Get((static_cast<uint64_t>(loc->pack) << 32) | k, [&]() -> Result<Bytes> {
              Bytes b(we - wb);
              PHV_RETURN_IF_ERROR(repo_->backend()->ReadAt(PackName(pack.id), wb, b));
              return b;
            });
        s = window.status();
        if (!s.ok()) break;
        const uint64_t from = std::max(begin, wb);
        const uint64_t to = std::min(end, we);
        std::copy_n((*window)->begin() + static_cast<ptrdiff_t>(from - wb), to - from,
                    sealed_.begin() + static_cast<ptrdiff_t>(from - begin));
      }
      if (s.ok()) {
        s = OpenBlobFrame(cipher_.get(), loc->frame_offset, sealed_, loc->codec,
                          loc->frame_raw_length, &decompressor_, &scratch_, &open->data);
      }
    } else {
      sealed_.resize(loc->frame_length);
      s = repo_->backend()->ReadAt(PackName(pack.id), loc->frame_offset, sealed_);
      if (s.ok()) {
        s = OpenBlobFrame(cipher_.get(), loc->frame_offset, sealed_, loc->codec,
                          loc->frame_raw_length, &decompressor_, &scratch_, &open->data);
      }
    }
    if (!s.ok()) {
      return std::move(s).WithContext(what + ": frame at offset " +
                                      std::to_string(loc->frame_offset) + " (blob " + id.Hex() +
                                      ")");
    }
    open->pack = loc->pack;
    open->offset = loc->frame_offset;
  }
  open->last_use = ++uses_;
  const Bytes& frame = open->data;
  if (static_cast<uint64_t>(loc->offset) + loc->length > frame.size()) {
    return DataLossError("blob " + id.Hex() + " lies outside its frame");
  }
  ByteSpan blob = ByteSpan(frame).subspan(loc->offset, loc->length);
  PHV_ASSIGN_OR_RETURN(Id actual, hasher_->Compute(type, blob));
  if (actual != id) {
    return DataLossError("blob " + id.Hex() + " in pack " +
                         repo_->index().pack(loc->pack).id.Hex() +
                         ": content does not match its id");
  }
  return blob;
}

// ---------------------------------------------------------------------------------------------
// Retention

Result<Repository::LockStats> Repository::KeepPacksLocked(storage::SystemTime now,
                                                          RetentionLedger* ledger) {
  const storage::RetentionPolicy& lock = config_.object_lock;
  if (!lock.enabled()) return LockStats{};
  PHV_RETURN_IF_ERROR(writable_);
  const auto period = std::chrono::days(lock.days);
  const storage::SystemTime needed = now + period;
  // Extending with half a period to spare means a pack is extended at most once per half period
  // however often backups run.
  const storage::SystemTime target = storage::LockedUntilFor(lock, now);

  std::vector<std::pair<Id, storage::ObjectName>> objects;
  objects.emplace_back(Id(), ConfigName());
  index_.ForEachPack([&](const PackRecord& p) { objects.emplace_back(p.id, PackName(p.id)); });
  PHV_RETURN_IF_ERROR(
      backend_->List(storage::ObjectKind::kIndex, [&](const storage::ObjectInfo& info) {
        PHV_ASSIGN_OR_RETURN(Id id, Id::FromHex(info.name.id));
        objects.emplace_back(id, info.name);
        return OkStatus();
      }));

  std::vector<storage::ObjectName> due;
  size_t asked = 0;
  for (const auto& [id, name] : objects) {
    std::optional<storage::SystemTime> until = ledger->Get(id);
    if (!until) {
      PHV_ASSIGN_OR_RETURN(storage::SystemTime t, backend_->RetainedUntil(name));
      ledger->Set(id, t);
      until = t;
      ++asked;
    }
    if (*until < needed) due.push_back(name);
  }
  if (!due.empty()) {
    PHV_RETURN_IF_ERROR(backend_->ExtendRetention(due, target));
    for (const auto& [id, name] : objects) {
      if (*ledger->Get(id) < needed) ledger->Set(id, target);
    }
  }
  PHV_LOG(kInfo, "object lock: {} objects, {} asked for their lock, {} extended", objects.size(),
          asked, due.size());
  return LockStats{objects.size(), asked, due.size()};
}

}  // namespace phivault::repo
