#include "phivault/repo/repository.h"

#include <stdlib.h>

#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "phivault/base/file_util.h"
#include "phivault/repo/rekey.h"
#include "phivault/repo/retention.h"
#include "phivault/storage/mem_backend.h"

namespace phivault::repo {
namespace {

// A backend shared by several Repository objects (as two processes would share a directory).
class SharedBackend : public storage::Backend {
 public:
  explicit SharedBackend(storage::MemBackend* inner) : inner_(inner) {}
  std::string Location() const override { return "shared memory"; }
  Result<std::unique_ptr<storage::ObjectWriter>> Create(const storage::ObjectName& n) override {
    return inner_->Create(n);
  }
  Status ReadAt(const storage::ObjectName& n, uint64_t o, MutableByteSpan out) override {
    return inner_->ReadAt(n, o, out);
  }
  Result<Bytes> ReadAll(const storage::ObjectName& n) override { return inner_->ReadAll(n); }
  Result<storage::ObjectInfo> Stat(const storage::ObjectName& n) override {
    return inner_->Stat(n);
  }
  Status List(storage::ObjectKind k,
              const std::function<Status(const storage::ObjectInfo&)>& fn) override {
    return inner_->List(k, fn);
  }
  Status Remove(const storage::ObjectName& n) override { return inner_->Remove(n); }
  Status EnableRetention(const storage::RetentionPolicy& p) override {
    return inner_->EnableRetention(p);
  }
  storage::RetentionPolicy retention() const override { return inner_->retention(); }
  Result<storage::SystemTime> RetainedUntil(const storage::ObjectName& n) override {
    return inner_->RetainedUntil(n);
  }
  Status ExtendRetention(std::span<const storage::ObjectName> names,
                         storage::SystemTime until) override {
    return inner_->ExtendRetention(names, until);
  }

 private:
  storage::MemBackend* inner_;
};

Bytes Data(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng() % 13);
  return out;
}

class RepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/phivault-repo-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    keystore_dir_ = tmpl;
    options_.kdf = crypto::Argon2idParams{keys::kMinArgon2MemoryKib, 1, 2};
    options_.pack_size = 1 << 20;  // small packs so tests make several
    auto repo = Repository::Init(std::make_unique<SharedBackend>(&store_), keystore_dir_,
                                 AsBytes("s3cret phrase"), options_);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(*repo);
  }
  void TearDown() override {
    repo_.reset();
    ASSERT_EQ(system(("rm -rf '" + keystore_dir_ + "'").c_str()), 0);
  }

  Result<std::unique_ptr<Repository>> Reopen(std::string passphrase = "s3cret phrase") {
    return Repository::Open(
        std::make_unique<SharedBackend>(&store_), keystore_dir_,
        [passphrase]() -> Result<SecretBytes> { return SecretBytes(AsBytes(passphrase)); });
  }

  Id Save(Repository* repo, BlobType type, const Bytes& data) {
    auto hasher = repo->NewHasher();
    Id id = *(*hasher)->Compute(type, data);
    auto saved = repo->SaveBlob(type, id, data);
    EXPECT_TRUE(saved.ok()) << saved.status().ToString();
    return id;
  }

  size_t Count(storage::ObjectKind kind) {
    size_t n = 0;
    EXPECT_TRUE(store_
                    .List(kind,
                          [&](const storage::ObjectInfo&) {
                            ++n;
                            return OkStatus();
                          })
                    .ok());
    return n;
  }

  storage::MemBackend store_;
  std::string keystore_dir_;
  InitOptions options_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(RepositoryTest, SavedBlobsReadBackAfterReopen) {
  std::map<Id, Bytes> saved;
  for (int i = 0; i < 40; ++i) {
    Bytes d = Data(i % 3 == 0 ? 400000 : 2000 + static_cast<size_t>(i), static_cast<uint64_t>(i));
    saved[Save(repo_.get(), BlobType::kData, d)] = d;
  }
  ASSERT_TRUE(repo_->Flush().ok());
  EXPECT_GE(Count(storage::ObjectKind::kPack), 2u);
  EXPECT_GE(Count(storage::ObjectKind::kIndex), 1u);

  auto again = Reopen();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_TRUE((*again)->LoadIndex(false).ok());
  EXPECT_EQ((*again)->index().blob_count(), saved.size());
  auto reader = (*again)->NewBlobReader();
  for (const auto& [id, data] : saved) {
    auto blob = reader->Load(id, BlobType::kData);
    ASSERT_TRUE(blob.ok()) << blob.status().ToString();
    EXPECT_TRUE(std::equal(blob->begin(), blob->end(), data.begin(), data.end()));
  }
}

TEST_F(RepositoryTest, DeduplicatesWithinAndAcrossSessions) {
  Bytes d = Data(100000, 1);
  Id id = Save(repo_.get(), BlobType::kData, d);
  auto again = repo_->SaveBlob(BlobType::kData, id, d);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  ASSERT_TRUE(repo_->Flush().ok());
  EXPECT_EQ(repo_->write_stats().blobs_added, 1u);

  auto second = Reopen();
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE((*second)->LoadIndex(true).ok());
  auto third = (*second)->SaveBlob(BlobType::kData, id, d);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(*third);
}

TEST_F(RepositoryTest, ConcurrentSaversProduceAConsistentIndex) {
  std::vector<std::thread> threads;
  std::mutex mu;
  std::map<Id, Bytes> saved;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto hasher = repo_->NewHasher();
      for (int i = 0; i < 60; ++i) {
        // Overlapping seeds between threads exercise in-session deduplication.
        Bytes d = Data(20000 + static_cast<size_t>(i) * 1000, static_cast<uint64_t>(i + t * 30));
        Id id = *(*hasher)->Compute(BlobType::kData, d);
        ASSERT_TRUE(repo_->SaveBlob(BlobType::kData, id, d).ok());
        std::lock_guard<std::mutex> lock(mu);
        saved[id] = d;
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(repo_->Flush().ok());
  EXPECT_EQ(repo_->write_stats().blobs_added, saved.size());
  auto again = Reopen();
  ASSERT_TRUE((*again)->LoadIndex(false).ok());
  EXPECT_EQ((*again)->index().blob_count(), saved.size());
  EXPECT_TRUE((*again)->unindexed_packs().empty());
}

TEST_F(RepositoryTest, WrongPassphraseIsUnauthenticated) {
  auto r = Reopen("wrong phrase");
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
}

TEST_F(RepositoryTest, MissingKeystoreIsTagged) {
  ASSERT_EQ(system(("rm -rf '" + keystore_dir_ + "'").c_str()), 0);
  auto r = Reopen();
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().tag(), ErrorTag::kKeystore);
}

TEST_F(RepositoryTest, EditedConfigIsRefused) {
  ASSERT_TRUE(store_
                  .MutateForTesting({storage::ObjectKind::kConfig, ""},
                                    [](Bytes& b) {
                                      std::string s(b.begin(), b.end());
                                      s.replace(s.find("\"min\": 65536"), 12, "\"min\": 65537");
                                      b.assign(s.begin(), s.end());
                                    })
                  .ok());
  EXPECT_EQ(Reopen().status().code(), StatusCode::kDataLoss);
}

TEST_F(RepositoryTest, NewerFormatIsRefusedBeforeAskingForThePassphrase) {
  ASSERT_TRUE(store_
                  .MutateForTesting({storage::ObjectKind::kConfig, ""},
                                    [](Bytes& b) {
                                      std::string s(b.begin(), b.end());
                                      s.replace(s.find("\"version\": 1"), 12, "\"version\": 7");
                                      b.assign(s.begin(), s.end());
                                    })
                  .ok());
  bool asked = false;
  auto r = Repository::Open(std::make_unique<SharedBackend>(&store_), keystore_dir_,
                            [&]() -> Result<SecretBytes> {
                              asked = true;
                              return SecretBytes(AsBytes("s3cret phrase"));
                            });
  EXPECT_EQ(r.status().tag(), ErrorTag::kFormatVersion);
  EXPECT_FALSE(asked);
}

TEST_F(RepositoryTest, NoRepositoryIsTagged) {
  storage::MemBackend empty;
  auto r = Repository::Open(std::make_unique<SharedBackend>(&empty), keystore_dir_,
                            []() -> Result<SecretBytes> { return SecretBytes(); });
  EXPECT_EQ(r.status().tag(), ErrorTag::kRepositoryMissing);
}

TEST_F(RepositoryTest, UnindexedPacksAreAdoptedAndReused) {
  Bytes d = Data(300000, 3);
  Id id = Save(repo_.get(), BlobType::kData, d);
  ASSERT_TRUE(repo_->Flush().ok());
  // Simulate a backup killed after its pack was committed but before its index was written.
  std::vector<storage::ObjectName> indexes;
  ASSERT_TRUE(store_
                  .List(storage::ObjectKind::kIndex,
                        [&](const storage::ObjectInfo& i) {
                          indexes.push_back(i.name);
                          return OkStatus();
                        })
                  .ok());
  for (const auto& n : indexes) ASSERT_TRUE(store_.Remove(n).ok());

  auto again = Reopen();
  ASSERT_TRUE((*again)->LoadIndex(false).ok());
  EXPECT_EQ((*again)->unindexed_packs().size(), 1u);
  EXPECT_FALSE((*again)->index().Contains(id));

  auto adopter = Reopen();
  ASSERT_TRUE((*adopter)->LoadIndex(true).ok());
  EXPECT_TRUE((*adopter)->index().Contains(id));
  auto reused = (*adopter)->SaveBlob(BlobType::kData, id, d);
  ASSERT_TRUE(reused.ok());
  EXPECT_FALSE(*reused);
  EXPECT_EQ(Count(storage::ObjectKind::kIndex), 1u);  // the adoption wrote one
}

TEST_F(RepositoryTest, CorruptedFrameIsNamedOnRead) {
  Bytes d = Data(200000, 4);
  Id id = Save(repo_.get(), BlobType::kData, d);
  ASSERT_TRUE(repo_->Flush().ok());
  std::string pack_hex;
  ASSERT_TRUE(store_
                  .List(storage::ObjectKind::kPack,
                        [&](const storage::ObjectInfo& i) {
                          pack_hex = i.name.id;
                          return OkStatus();
                        })
                  .ok());
  ASSERT_TRUE(
      store_.MutateForTesting({storage::ObjectKind::kPack, pack_hex}, [](Bytes& b) { b[100] ^= 1; })
          .ok());
  auto again = Reopen();
  ASSERT_TRUE((*again)->LoadIndex(false).ok());
  auto blob = (*again)->NewBlobReader()->Load(id, BlobType::kData);
  EXPECT_EQ(blob.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(blob.status().message().find(pack_hex), std::string_view::npos);
}

TEST_F(RepositoryTest, SnapshotsResolveByPrefixAndLatest) {
  ASSERT_TRUE(repo_->Flush().ok());
  Snapshot a, b;
  a.time_ns = 1000;
  a.paths = {"/a"};
  a.host = "h";
  b = a;
  b.time_ns = 2000;
  ASSERT_TRUE(repo_->SaveSnapshot(&a).ok());
  ASSERT_TRUE(repo_->SaveSnapshot(&b).ok());
  EXPECT_EQ(*repo_->ResolveSnapshot("latest"), b.id);
  EXPECT_EQ(*repo_->ResolveSnapshot(a.id.Hex().substr(0, 10)), a.id);
  EXPECT_EQ(repo_->ResolveSnapshot("ffffffffffffffff").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(repo_->ResolveSnapshot("not-hex").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(repo_->ResolveSnapshot("").status().code(), StatusCode::kInvalidArgument);
  auto all = repo_->LoadSnapshots();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].id, a.id);
}

TEST(RepositoryRetentionTest, LocksAreExtendedInBatchesOnlyWhenDue) {
  char tmpl[] = "/tmp/phivault-repo-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string ks = tmpl;
  storage::MemBackend store(/*lockable=*/true);
  storage::SystemTime now = std::chrono::system_clock::now();
  store.SetClockForTesting([&] { return now; });
  InitOptions options;
  options.kdf = crypto::Argon2idParams{keys::kMinArgon2MemoryKib, 1, 2};
  options.pack_size = 1 << 20;
  options.object_lock = {10, storage::RetentionMode::kCompliance};
  auto repo = Repository::Init(std::make_unique<SharedBackend>(&store), ks, AsBytes("pw"), options);
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  EXPECT_EQ((*repo)->config().object_lock.days, 10u);
  auto save = [&](uint64_t seed) {
    Bytes d = Data(600'000, seed);
    auto hasher = (*repo)->NewHasher();
    ASSERT_TRUE(
        (*repo)->SaveBlob(BlobType::kData, *(*hasher)->Compute(BlobType::kData, d), d).ok());
    ASSERT_TRUE((*repo)->Flush().ok());
  };
  for (uint64_t i = 0; i < 4; ++i) save(i);
  RetentionLedger ledger;

  // Right after writing: every object is locked 15 days ahead, nothing to extend.
  auto s1 = (*repo)->KeepPacksLocked(now, &ledger);
  ASSERT_TRUE(s1.ok()) << s1.status().ToString();
  EXPECT_GT(s1->objects, 4u);
  EXPECT_EQ(s1->asked, s1->objects);
  EXPECT_EQ(s1->extended, 0u);

  // Four days later: still nothing due, and the ledger answers without asking.
  auto s2 = (*repo)->KeepPacksLocked(now + std::chrono::days(4), &ledger);
  EXPECT_EQ(s2->asked, 0u);
  EXPECT_EQ(s2->extended, 0u);

  // Six days later a lock would end before day 16: all are extended at once, to day 21.
  uint64_t before = store.retention_updates();
  auto s3 = (*repo)->KeepPacksLocked(now + std::chrono::days(6), &ledger);
  EXPECT_EQ(s3->extended, s3->objects);
  EXPECT_EQ(store.retention_updates() - before, s3->objects);
  auto config_lock = store.RetainedUntil({storage::ObjectKind::kConfig, ""});
  EXPECT_EQ(*config_lock, now + std::chrono::days(6) + std::chrono::hours(36 * 10));

  // The next day again nothing is due.
  auto s4 = (*repo)->KeepPacksLocked(now + std::chrono::days(7), &ledger);
  EXPECT_EQ(s4->extended, 0u);
  // Deleting a locked pack is refused.
  store.SetClockForTesting([&] { return now + std::chrono::days(20); });
  bool refused = false;
  (*repo)->index().ForEachPack([&](const PackRecord& p) {
    refused = store.Remove({storage::ObjectKind::kPack, p.id.Hex()}).tag() == ErrorTag::kRetention;
  });
  EXPECT_TRUE(refused);
  ASSERT_EQ(system(("rm -rf '" + ks + "'").c_str()), 0);
}

TEST(RepositoryRetentionTest, LockedRepositoryOnStorageWithoutLocksIsReadOnly) {
  char tmpl[] = "/tmp/phivault-repo-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string ks = tmpl;
  storage::MemBackend plain;
  InitOptions options;
  options.kdf = crypto::Argon2idParams{keys::kMinArgon2MemoryKib, 1, 2};
  options.object_lock = {10, storage::RetentionMode::kCompliance};
  // Init refuses before writing anything.
  auto refused =
      Repository::Init(std::make_unique<SharedBackend>(&plain), ks, AsBytes("pw"), options);
  EXPECT_EQ(refused.status().tag(), ErrorTag::kRetention);
  EXPECT_EQ(plain.Stat({storage::ObjectKind::kConfig, ""}).status().code(), StatusCode::kNotFound);
  // A locked repository copied onto storage without locks opens, but refuses writes.
  storage::MemBackend lockable(true);
  ASSERT_TRUE(
      Repository::Init(std::make_unique<SharedBackend>(&lockable), ks, AsBytes("pw"), options)
          .ok());
  auto config = lockable.ReadAll({storage::ObjectKind::kConfig, ""});
  ASSERT_TRUE(plain.Save({storage::ObjectKind::kConfig, ""}, *config).ok());
  auto reopened = Repository::Open(std::make_unique<SharedBackend>(&plain), ks,
                                   [] { return Result<SecretBytes>(SecretBytes(AsBytes("pw"))); });
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  Bytes d = Data(1000, 1);
  EXPECT_EQ((*reopened)->SaveBlob(BlobType::kData, Id(), d).status().tag(), ErrorTag::kRetention);
  ASSERT_EQ(system(("rm -rf '" + ks + "'").c_str()), 0);
}

// --- re-encryption (rekey.h) ------------------------------------------------------------------

class ReencryptTest : public RepositoryTest {
 protected:
  // Fills the repository: blobs in several packs and a chain of two snapshots.
  void Fill() {
    for (int i = 0; i < 40; ++i) {
      Bytes d =
          Data(i % 2 == 0 ? 300000 : 3000 + static_cast<size_t>(i), 100 + static_cast<uint64_t>(i));
      blobs_[Save(repo_.get(), BlobType::kData, d)] = d;
    }
    ASSERT_TRUE(repo_->Flush().ok());
    Snapshot a;
    a.time_ns = 1000;
    a.paths = {"/a"};
    a.host = "h";
    ASSERT_TRUE(repo_->SaveSnapshot(&a).ok());
    Snapshot b = a;
    b.time_ns = 2000;
    b.parent = a.id;
    ASSERT_TRUE(repo_->SaveSnapshot(&b).ok());
    repo_.reset();
    packs_before_ = Count(storage::ObjectKind::kPack);
  }
  std::string KeystorePath() {
    auto config = store_.ReadAll(ConfigName());
    return keys::KeystorePath(keystore_dir_, RepoConfig::Parse(*config)->id);
  }
  // Starts a re-encryption in the keystore, as `key rotate --reencrypt` does.
  void StartReencryption() {
    auto ks = keys::Keystore::Load(KeystorePath());
    ASSERT_TRUE(ks.ok());
    ASSERT_TRUE(ks->Unlock(AsBytes("s3cret phrase")).ok());
    ASSERT_TRUE(ks->StartEpoch(/*retire_others=*/true).ok());
    ASSERT_TRUE(ks->Save(KeystorePath()).ok());
  }
  Result<ReencryptStats> Run(const ReencryptOptions& options = {}) {
    auto repo = Reopen();
    if (!repo.ok()) return repo.status();
    PHV_RETURN_IF_ERROR((*repo)->LoadIndex(/*adopt=*/true));
    return Reencrypt(repo->get(), options);
  }
  void DropOldKeys() {
    auto ks = keys::Keystore::Load(KeystorePath());
    ASSERT_TRUE(ks->Unlock(AsBytes("s3cret phrase")).ok());
    EXPECT_EQ(ks->DropRetiringEpochs(), std::vector<uint32_t>{1});
    ASSERT_TRUE(ks->Save(KeystorePath()).ok());
  }
  void ExpectAllBlobsReadable() {
    auto repo = Reopen();
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    ASSERT_TRUE((*repo)->LoadIndex(false).ok());
    EXPECT_TRUE((*repo)->bad_indexes().empty());
    auto reader = (*repo)->NewBlobReader();
    for (const auto& [id, data] : blobs_) {
      auto got = reader->Load(id, BlobType::kData);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      EXPECT_TRUE(std::equal(got->begin(), got->end(), data.begin(), data.end()));
    }
  }

  std::map<Id, Bytes> blobs_;
  size_t packs_before_ = 0;
};

TEST_F(ReencryptTest, EveryObjectMovesAndTheOldKeystoreOpensNothing) {
  Fill();
  const Bytes old_keystore = *ReadFile(KeystorePath());
  StartReencryption();
  auto stats = Run();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->epoch, 2u);
  EXPECT_EQ(stats->packs_resealed, packs_before_);
  EXPECT_EQ(stats->packs_already_resealed, 0u);
  EXPECT_EQ(stats->snapshots_resealed, 2u);
  EXPECT_EQ(Count(storage::ObjectKind::kPack), packs_before_);  // old copies removed
  size_t checked = 0;
  auto stale = ObjectsNotUnder(&store_, 2, &checked);
  ASSERT_TRUE(stale.ok());
  EXPECT_TRUE(stale->empty());
  EXPECT_EQ(checked, stats->objects_verified);
  DropOldKeys();
  ExpectAllBlobsReadable();

  // The snapshot chain survives under new ids.
  auto repo = Reopen();
  auto snaps = (*repo)->LoadSnapshots();
  ASSERT_TRUE(snaps.ok());
  ASSERT_EQ(snaps->size(), 2u);
  EXPECT_EQ((*snaps)[1].parent, (*snaps)[0].id);
  EXPECT_EQ(stats->snapshot_ids.size(), 2u);
  EXPECT_EQ(stats->snapshot_ids[1].second, (*snaps)[1].id);

  // The saved copy of the old keystore unlocks, but its keys open no object.
  auto old = keys::Keystore::Parse(old_keystore, "old keystore");
  ASSERT_TRUE(old.ok());
  ASSERT_TRUE(old->Unlock(AsBytes("s3cret phrase")).ok());
  auto old_keys = RepoKeys::Derive(old->keys(), old->repository_id());
  ASSERT_TRUE(old_keys.ok());
  EpochKeyLookup lookup = [&](uint32_t e) {
    return old_keys->EpochKey(e);
  };
  size_t tried = 0;
  for (storage::ObjectKind kind : {storage::ObjectKind::kIndex, storage::ObjectKind::kSnapshot}) {
    ASSERT_TRUE(store_
                    .List(kind,
                          [&](const storage::ObjectInfo& i) {
                            auto raw = store_.ReadAll(i.name);
                            ObjectType t = kind == storage::ObjectKind::kIndex
                                               ? ObjectType::kIndex
                                               : ObjectType::kSnapshot;
                            EXPECT_FALSE(OpenBody(t, *Id::FromHex(i.name.id), *raw, lookup).ok());
                            ++tried;
                            return OkStatus();
                          })
                    .ok());
  }
  ASSERT_TRUE(
      store_
          .List(storage::ObjectKind::kPack,
                [&](const storage::ObjectInfo& i) {
                  EXPECT_FALSE(
                      ReadPackHeader(&store_, *Id::FromHex(i.name.id), i.size, lookup).ok());
                  ++tried;
                  return OkStatus();
                })
          .ok());
  EXPECT_EQ(tried, checked);
  // The old keystore opened with the current repository sees no usable index.
  const Bytes current = *ReadFile(KeystorePath());
  ASSERT_TRUE(WriteFileAtomic(KeystorePath(), old_keystore, 0600).ok());
  auto with_old = Reopen();
  ASSERT_TRUE(with_old.ok());
  ASSERT_TRUE((*with_old)->LoadIndex(false).ok());
  EXPECT_EQ((*with_old)->index().blob_count(), 0u);
  EXPECT_FALSE((*with_old)->bad_indexes().empty());
  ASSERT_TRUE(WriteFileAtomic(KeystorePath(), current, 0600).ok());
}

TEST_F(ReencryptTest, AnInterruptedRunResumesWithoutSecondCopies) {
  Fill();
  ASSERT_GE(packs_before_, 3u);
  StartReencryption();
  ReencryptOptions stop;
  stop.stop_after_packs = 1;
  auto first = Run(stop);
  EXPECT_EQ(first.status().code(), StatusCode::kCancelled);
  // Old and new copies coexist; everything stays readable.
  EXPECT_GT(Count(storage::ObjectKind::kPack), packs_before_);
  ExpectAllBlobsReadable();

  auto second = Run();
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GE(second->packs_already_resealed, 1u);
  EXPECT_EQ(second->packs_resealed + second->packs_already_resealed, packs_before_);
  EXPECT_EQ(Count(storage::ObjectKind::kPack), packs_before_);
  EXPECT_EQ(Count(storage::ObjectKind::kSnapshot), 2u);
  DropOldKeys();
  ExpectAllBlobsReadable();
}

TEST_F(ReencryptTest, ADamagedPackStopsTheRunAndNothingIsRemoved) {
  Fill();
  StartReencryption();
  // Flip one byte inside the first frame of some pack.
  std::string victim;
  ASSERT_TRUE(store_
                  .List(storage::ObjectKind::kPack,
                        [&](const storage::ObjectInfo& i) {
                          if (victim.empty()) victim = i.name.id;
                          return OkStatus();
                        })
                  .ok());
  storage::ObjectName name{storage::ObjectKind::kPack, victim};
  Bytes raw = *store_.ReadAll(name);
  raw[kEnvelopeSize + 5] ^= 0x01;
  ASSERT_TRUE(store_.Remove(name).ok());
  ASSERT_TRUE(store_.Save(name, raw).ok());
  auto stats = Run();
  EXPECT_EQ(stats.status().code(), StatusCode::kDataLoss) << stats.status().ToString();
  EXPECT_NE(stats.status().message().find(victim), std::string::npos);
  // Nothing old was removed: both snapshots are still there, under epoch 1.
  EXPECT_EQ(Count(storage::ObjectKind::kSnapshot), 2u);
  EXPECT_GE(Count(storage::ObjectKind::kPack), packs_before_);
}

TEST(ReencryptLockTest, ObjectLockRefusesReencryption) {
  char tmpl[] = "/tmp/phivault-repo-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string ks = tmpl;
  storage::MemBackend lockable(true);
  InitOptions options;
  options.kdf = crypto::Argon2idParams{keys::kMinArgon2MemoryKib, 1, 2};
  options.object_lock = {10, storage::RetentionMode::kCompliance};
  auto repo =
      Repository::Init(std::make_unique<SharedBackend>(&lockable), ks, AsBytes("pw"), options);
  ASSERT_TRUE(repo.ok());
  auto stats = Reencrypt(repo->get(), {});
  EXPECT_EQ(stats.status().tag(), ErrorTag::kRetention);
  ASSERT_EQ(system(("rm -rf '" + ks + "'").c_str()), 0);
}

}  // namespace
}  // namespace phivault::repo
