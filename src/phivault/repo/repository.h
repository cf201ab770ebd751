// Repository: an open, unlocked repository. It turns the storage backend's named byte strings
// into blobs, trees, indexes and snapshots, with every byte sealed under the keystore's keys
// (doc/format/). It is the only component that encrypts or decrypts repository objects.
//
// Writing: SaveBlob deduplicates against the index and against blobs already being written in
// this session, then hands the blob to one of a pool of PackWriters (one per concurrent caller,
// so callers never wait for each other while compressing and sealing). Full packs are committed
// by a background thread, then indexed. Flush() seals every open pack, waits for the commits and
// writes an index object; only after it returns may a snapshot refer to the saved blobs, and
// SaveSnapshot() is the commit point (doc/format/repository.md).
//
// Reading: a BlobReader (one per thread) fetches one frame, authenticates and decompresses it,
// cuts out the blob and checks the blob's keyed id; it keeps the last four frames it opened,
// because small blobs share frames and neighbouring files alternate between a few of them.
//
// Ownership: the Repository owns its backend and keys. BlobReaders and BlobIdHashers must not
// outlive it.
// Thread safety: SaveBlob, index(), the Load* functions and NewBlobReader may be called from many
// threads at once. Flush, SaveSnapshot and LoadIndex must not run concurrently with SaveBlob.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "phivault/base/id.h"
#include "phivault/base/queue.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"
#include "phivault/crypto/crypto.h"
#include "phivault/keys/keystore.h"
#include "phivault/repo/config.h"
#include "phivault/repo/frame_cache.h"
#include "phivault/repo/index.h"
#include "phivault/repo/pack.h"
#include "phivault/repo/repo_keys.h"
#include "phivault/repo/snapshot.h"
#include "phivault/storage/backend.h"

namespace phivault::repo {

// The storage names of a repository's objects.
storage::ObjectName ConfigName();
storage::ObjectName PackName(const Id& id);
storage::ObjectName IndexName(const Id& id);
storage::ObjectName SnapshotName(const Id& id);

struct InitOptions {
  chunk::ChunkerParams chunker;
  uint32_t pack_size = kDefaultPackSize;
  crypto::Argon2idParams kdf;
  std::string slot_label = "passphrase";
  // Lock every object for this long; the backend must support it (S3 with Object Lock).
  storage::RetentionPolicy object_lock;
};

// Produces the passphrase when, and only when, it is needed (after the keystore was found).
using PassphraseSource = std::function<Result<SecretBytes>()>;
// Unlocks a loaded keystore with whatever credential the caller holds (a passphrase, a key file,
// a token, a recovery kit).
using KeystoreUnlocker = std::function<Status(keys::Keystore*)>;
// An unlocker that tries `source`'s secret on every slot of `type`.
KeystoreUnlocker UnlockWithSecret(PassphraseSource source,
                                  keys::SlotType type = keys::SlotType::kPassphrase);

// A repository's keystore, found through its config and unlocked.
struct UnlockedKeystore {
  RepoConfig config;
  keys::Keystore keystore;
  std::string path;
};
// The plaintext config as stored, and its parse.
struct StoredConfig {
  RepoConfig config;
  Bytes raw;
};
// Reads and parses the config in `backend`. kNotFound tagged kRepositoryMissing when there is
// none; the errors of RepoConfig::Parse otherwise.
Result<StoredConfig> ReadConfig(storage::Backend* backend);

// Reads the config in `backend`, loads the keystore of that repository from `keystore_dir`,
// unlocks it with `unlock` and checks that it belongs to the config as stored. Errors as for
// Repository::Open. Failed unlock attempts are recorded in the key-operation log.
Result<UnlockedKeystore> UnlockRepositoryKeystore(storage::Backend* backend,
                                                  const std::string& keystore_dir,
                                                  const KeystoreUnlocker& unlock);
// The same with the config already read from `backend` (ReadConfig).
Result<UnlockedKeystore> UnlockRepositoryKeystore(storage::Backend* backend, StoredConfig stored,
                                                  const std::string& keystore_dir,
                                                  const KeystoreUnlocker& unlock);

// Computes keyed blob ids. One per thread.
class BlobIdHasher {
 public:
  static Result<std::unique_ptr<BlobIdHasher>> Create(const RepoKeys& keys);
  Result<Id> Compute(BlobType type, ByteSpan data);

 private:
  BlobIdHasher() = default;
  std::unique_ptr<crypto::HmacSha256> data_;
  std::unique_ptr<crypto::HmacSha256> tree_;
};

class Repository;

// Reads and verifies blobs. One per thread.
class BlobReader {
 public:
  // Returns the blob's plaintext, authenticated and checked against `id`. The span stays valid
  // until the next call. kNotFound if the index has no such blob; kDataLoss naming the pack and
  // blob if anything fails verification.
  Result<ByteSpan> Load(const Id& id, BlobType type);

 private:
  friend class Repository;
  explicit BlobReader(Repository* repo);

  Repository* repo_;
  std::unique_ptr<BlobIdHasher> hasher_;
  Decompressor decompressor_;
  std::unique_ptr<ObjectCipher> cipher_;  // of the pack read last
  // The last few frames opened, decompressed. Backups interleave the files of neighbouring
  // directories between concurrent pack writers, so a restore that reads files in tree order
  // alternates between a few frames; keeping them spares decrypting and decompressing each again.
  struct OpenFrame {
    uint32_t pack = UINT32_MAX;
    uint64_t offset = 0;
    uint64_t last_use = 0;
    Bytes data;
  };
  static constexpr size_t kOpenFrames = 4;
  std::array<OpenFrame, kOpenFrames> frames_;
  uint64_t uses_ = 0;
  Bytes sealed_;
  Bytes scratch_;
};

// What a session wrote, for the backup summary.
struct WriteStats {
  uint64_t blobs_added = 0;
  uint64_t blob_bytes_added = 0;  // plaintext bytes of new blobs
  uint64_t bytes_written = 0;     // packs and indexes, as stored
  uint64_t packs_written = 0;
};

class Repository {
 public:
  // Creates a repository in an empty `backend` and its keystore in `keystore_dir`. The keystore
  // is written before the config, so a crash leaves at worst an unused keystore.
  static Result<std::unique_ptr<Repository>> Init(std::unique_ptr<storage::Backend> backend,
                                                  const std::string& keystore_dir,
                                                  ByteSpan passphrase, const InitOptions& options);
  // Opens the repository in `backend` with the keystore found in `keystore_dir`.
  // kNotFound tagged kRepositoryMissing when there is no config; kFailedPrecondition tagged
  // kFormatVersion for a newer format; kNotFound tagged kKeystore when the keystore is missing;
  // kUnauthenticated for a wrong passphrase; kDataLoss when the config does not match the
  // keystore.
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<storage::Backend> backend,
                                                  const std::string& keystore_dir,
                                                  const KeystoreUnlocker& unlock);
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<storage::Backend> backend,
                                                  const std::string& keystore_dir,
                                                  const PassphraseSource& passphrase) {
    return Open(std::move(backend), keystore_dir, UnlockWithSecret(passphrase));
  }
  // Opens with a keystore already unlocked by UnlockRepositoryKeystore (which read the config
  // from the same backend).
  static Result<std::unique_ptr<Repository>> Open(std::unique_ptr<storage::Backend> backend,
                                                  const UnlockedKeystore& unlocked);
  ~Repository();

  const RepoConfig& config() const { return config_; }
  const RepoKeys& keys() const { return keys_; }
  storage::Backend* backend() const { return backend_.get(); }
  const std::string& keystore_path() const { return keystore_path_; }
  EpochKeyLookup epoch_keys() const;

  // --- index -------------------------------------------------------------------------------

  // Loads every index object. With `adopt`, packs that no index lists (left by an interrupted
  // backup) have their headers read, are added, and get an index object of their own. A pack
  // whose header fails to authenticate is left alone (check reports it).
  Status LoadIndex(bool adopt);
  const Index& index() const { return index_; }
  // Packs found by the last LoadIndex that no index lists (before adoption), with their sizes.
  const std::vector<storage::ObjectInfo>& unindexed_packs() const { return unindexed_packs_; }
  // Index objects that failed to load in the last LoadIndex, with the reason.
  const std::vector<std::pair<Id, Status>>& bad_indexes() const { return bad_indexes_; }
  // What the last LoadIndex found in storage: every pack with its size, and the number of index
  // objects (loadable or not).
  const std::vector<storage::ObjectInfo>& listed_packs() const { return listed_packs_; }
  size_t listed_indexes() const { return listed_indexes_; }

  // --- writing -----------------------------------------------------------------------------

  void set_compression(CompressionMode mode) { compression_ = mode; }
  // Stores a blob whose id is `id` unless the repository has it or this session is already
  // storing it. Returns true when this call stored it.
  Result<bool> SaveBlob(BlobType type, const Id& id, ByteSpan data);
  // Makes every blob saved so far durable and indexed.
  Status Flush();
  // Writes a snapshot. REQUIRES: Flush() succeeded after the last SaveBlob. Sets snapshot->id.
  Status SaveSnapshot(Snapshot* snapshot);
  WriteStats write_stats() const;

  // --- reading -----------------------------------------------------------------------------

  std::unique_ptr<BlobReader> NewBlobReader();
  Result<std::unique_ptr<BlobIdHasher>> NewHasher() const { return BlobIdHasher::Create(keys_); }
  // Every snapshot, oldest first. Snapshots that fail to load are reported through `bad`
  // (if given) and skipped; otherwise the first failure is returned.
  Result<std::vector<Snapshot>> LoadSnapshots(std::vector<std::pair<Id, Status>>* bad = nullptr);
  Result<Snapshot> LoadSnapshot(const Id& id);
  // Resolves "latest" or a unique prefix of a snapshot id. kNotFound or kInvalidArgument
  // (ambiguous prefix).
  Result<Id> ResolveSnapshot(std::string_view name);
  // ResolveSnapshot, then LoadSnapshot.
  Result<Snapshot> LoadNamedSnapshot(std::string_view name);

  // --- retention ----------------------------------------------------------------------------
  // Makes sure that every pack the index lists stays locked until at least `now` plus the
  // repository's lock period, so that a snapshot written now cannot lose data before its own lock
  // ends. Locks are extended in one batch, to `now` plus 1.5 lock periods, and only for packs
  // whose lock would end too soon, so most backups extend none (new objects are written locked for
  // 1.5 periods, see storage::LockedUntilFor). What each pack is locked until
  // is remembered in `ledger` (loaded from and saved to the cache; see retention.h). A no-op for
  // repositories without object lock.
  struct LockStats {
    size_t objects = 0;   // objects that must stay locked
    size_t asked = 0;     // of those, how many the ledger did not know (one request each)
    size_t extended = 0;  // how many locks were extended
  };
  Result<LockStats> KeepPacksLocked(storage::SystemTime now, class RetentionLedger* ledger);

  // --- records: small sealed objects beside the snapshots (drill records, audit checkpoints) --
  // Seals `payload` as a new object of `type` under the current epoch, stores it as `kind`, and
  // returns its id.
  Result<Id> SaveRecord(ObjectType type, storage::ObjectKind kind, ByteSpan payload);
  // Opens the record `id`. kDataLoss if it fails authentication.
  Result<Bytes> LoadRecord(ObjectType type, storage::ObjectKind kind, const Id& id);
  // The ids of every record of `kind`.
  Result<std::vector<Id>> ListRecords(storage::ObjectKind kind);

  // Writes one index object listing `packs` under the current epoch and returns its id. The
  // packs must already be committed. (Backups index their packs themselves; this is for
  // maintenance such as re-encryption.)
  Result<Id> WriteIndexObject(std::vector<IndexedPack> packs);
  // Refuses with the reason when this repository must not be written here (its object lock
  // cannot be kept by this storage).
  Status CheckWritable() const { return writable_; }

  // Reads and authenticates a pack's header (see ReadPackHeader in pack.h).
  Result<PackHeaderInfo> ReadPackHeader(const Id& pack_id, uint64_t pack_size);

 private:
  friend class BlobReader;
  Repository(std::unique_ptr<storage::Backend> backend, RepoConfig config, RepoKeys keys,
             std::string keystore_path);

  bool Claim(const Id& id);
  std::unique_ptr<PackWriter> AcquireWriter(BlobType type);
  void ReleaseWriter(BlobType type, std::unique_ptr<PackWriter> writer);
  Status FinishPack(PackWriter* writer);
  void CommitLoop();
  Status CommitPack(FinishedPack pack);
  Result<Id> WriteIndex(std::vector<IndexedPack> packs);
  Status FirstError();
  Status WritableOrError() const { return writable_; }
  void RecordError(const Status& s);

  // Windows of sealed pack bytes shared by the readers (remote storage only): 32 windows of
  // 4 MiB, two for each of 16 restore workers.
  static constexpr uint64_t kFrameWindow = 4u << 20;
  static constexpr size_t kFrameCacheBytes = 128u << 20;

  std::unique_ptr<storage::Backend> backend_;
  std::unique_ptr<FrameCache> frame_cache_;
  RepoConfig config_;
  RepoKeys keys_;
  std::string keystore_path_;
  CompressionMode compression_ = CompressionMode::kDefault;
  // Not OK when the repository must not be written: its object lock cannot be kept here.
  Status writable_;

  Index index_;
  std::vector<storage::ObjectInfo> unindexed_packs_;
  std::vector<std::pair<Id, Status>> bad_indexes_;
  std::vector<storage::ObjectInfo> listed_packs_;
  size_t listed_indexes_ = 0;

  std::mutex claims_mu_;
  std::unordered_set<Id, IdHash> claims_;  // saved this session, not yet indexed

  std::mutex writers_mu_;
  std::vector<std::unique_ptr<PackWriter>> free_data_writers_;
  std::vector<std::unique_ptr<PackWriter>> free_tree_writers_;

  // Finished packs wait here for the commit thread; the bound keeps writers from running far
  // ahead of the disk.
  BoundedQueue<FinishedPack> commit_queue_{2};
  std::thread committer_;
  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  size_t commits_in_flight_ = 0;
  std::vector<IndexedPack> unwritten_index_;  // committed packs not yet in an index object
  Status first_error_;
  std::atomic<bool> failed_{false};

  mutable std::mutex stats_mu_;
  WriteStats stats_;
};

}  // namespace phivault::repo
