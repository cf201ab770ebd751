// Backup, restore and check through the libraries, on a real directory tree and a local
// repository in a temporary directory.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "phivault/backup/archiver.h"
#include "phivault/backup/checker.h"
#include "phivault/backup/drill.h"
#include "phivault/backup/restorer.h"
#include "phivault/base/file_util.h"
#include "phivault/storage/local_backend.h"

namespace phivault::backup {
namespace {

void WriteFile(const std::string& path, const Bytes& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

Bytes Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

Bytes Slurp(const std::string& path) { return ReadFile(path).value_or(Bytes{}); }

class BackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/phivault-backup-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    src_ = dir_ + "/src";
    ASSERT_TRUE(MakeDirs(src_ + "/sub/deeper", 0755).ok());
    WriteFile(src_ + "/big.bin", Random(3 << 20, 1));
    WriteFile(src_ + "/small.txt", Bytes{'h', 'i'});
    WriteFile(src_ + "/empty", Bytes{});
    WriteFile(src_ + "/sub/deeper/copy.bin", Random(3 << 20, 1));
    ASSERT_EQ(symlink("big.bin", (src_ + "/link").c_str()), 0);
    OpenRepo();
  }
  void TearDown() override {
    repo_.reset();
    ASSERT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
  }

  void OpenRepo() {
    repo::InitOptions options;
    options.kdf = crypto::Argon2idParams{keys::kMinArgon2MemoryKib, 1, 2};
    options.pack_size = 1 << 20;
    auto backend = storage::LocalBackend::Create(dir_ + "/repo");
    ASSERT_TRUE(backend.ok()) << backend.status().ToString();
    auto repo = repo::Repository::Init(std::move(*backend), dir_ + "/keys", AsBytes("pw"), options);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(*repo);
  }

  BackupResult Backup() {
    BackupOptions options;
    options.paths = {src_};
    options.cache_dir = dir_ + "/cache";
    EXPECT_TRUE(repo_->LoadIndex(true).ok());
    Archiver archiver(repo_.get());
    auto r = archiver.Run(options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : BackupResult{};
  }

  // Flips one bit in the middle of every data pack (the small tree pack is left alone); returns
  // how many packs it changed.
  size_t FlipABitInEveryDataPack() {
    std::vector<std::string> packs;
    EXPECT_TRUE(repo_->backend()
                    ->List(storage::ObjectKind::kPack,
                           [&](const storage::ObjectInfo& i) {
                             packs.push_back(i.name.id);
                             return OkStatus();
                           })
                    .ok());
    auto* local = dynamic_cast<storage::LocalBackend*>(repo_->backend());
    if (local == nullptr) return 0;
    size_t flipped = 0;
    for (const std::string& id : packs) {
      std::string path = local->PathOf({storage::ObjectKind::kPack, id});
      Bytes data = Slurp(path);
      if (data.size() < (1u << 20)) continue;
      data[data.size() / 2] ^= 0x10;
      chmod(path.c_str(), 0600);
      WriteFile(path, data);
      ++flipped;
    }
    return flipped;
  }

  std::string dir_;
  std::string src_;
  std::unique_ptr<repo::Repository> repo_;
};

TEST_F(BackupTest, RestoreReproducesTheTree) {
  BackupResult b = Backup();
  EXPECT_EQ(b.snapshot.summary.files_new, 4u);
  EXPECT_TRUE(b.unreadable.empty());
  Restorer restorer(repo_.get());
  RestoreOptions options;
  options.target = dir_ + "/out";
  auto r = restorer.Run(b.snapshot.tree, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->failures.empty());
  EXPECT_EQ(r->files, 4u);
  EXPECT_EQ(r->symlinks, 1u);
  const std::string out = dir_ + "/out" + src_;
  EXPECT_EQ(Slurp(out + "/big.bin"), Slurp(src_ + "/big.bin"));
  EXPECT_EQ(Slurp(out + "/sub/deeper/copy.bin"), Slurp(src_ + "/big.bin"));
  EXPECT_EQ(Slurp(out + "/small.txt"), (Bytes{'h', 'i'}));
  char target[64] = {};
  ASSERT_EQ(readlink((out + "/link").c_str(), target, sizeof target - 1), 7);
  EXPECT_STREQ(target, "big.bin");
}

// Regular files below `dir`, recursively, as paths relative to it.
std::vector<std::string> RegularFilesBelow(const std::string& dir, const std::string& rel = "") {
  std::vector<std::string> out;
  DIR* d = opendir((dir + rel).c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (lstat((dir + rel + "/" + name).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      for (std::string& f : RegularFilesBelow(dir, rel + "/" + name)) out.push_back(std::move(f));
    } else if (S_ISREG(st.st_mode)) {
      out.push_back(rel + "/" + name);
    }
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Entries of directory `dir`, "." and ".." not counted.
size_t EntriesIn(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  size_t n = 0;
  while (struct dirent* e = readdir(d))
    n += std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..";
  closedir(d);
  return n;
}

TEST_F(BackupTest, ADiscardingRestoreVerifiesEachFileAndRemovesItAtOnce) {
  ASSERT_EQ(link((src_ + "/big.bin").c_str(), (src_ + "/hard").c_str()), 0);
  BackupResult b = Backup();
  Restorer restorer(repo_.get());
  RestoreOptions options;
  options.target = dir_ + "/out";
  options.read_back = true;
  options.discard = true;
  auto r = restorer.Run(b.snapshot.tree, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->failures.empty()) << r->failures[0].error.ToString();
  EXPECT_EQ(r->files_selected, 5u);
  EXPECT_EQ(r->files, 4u);
  EXPECT_EQ(r->hardlinks, 1u);
  EXPECT_EQ(r->bytes_verified, (6u << 20) + 2u);
  // Only the hard-linked pair is left, for the caller to remove; the symlink and the directories
  // stay too.
  EXPECT_EQ(RegularFilesBelow(dir_ + "/out" + src_),
            (std::vector<std::string>{"/big.bin", "/hard"}));
  EXPECT_EQ(Slurp(dir_ + "/out" + src_ + "/hard"), Slurp(src_ + "/big.bin"));
  struct stat st;
  EXPECT_EQ(lstat((dir_ + "/out" + src_ + "/link").c_str(), &st), 0);
  EXPECT_EQ(lstat((dir_ + "/out" + src_ + "/sub/deeper").c_str(), &st), 0);
}

TEST_F(BackupTest, ADrillVerifiesEveryFileAndLeavesNothingBehind) {
  BackupResult b = Backup();
  DrillOptions options;
  options.sandbox_root = dir_ + "/sandboxes";
  auto d = RunDrill(repo_.get(), b.snapshot, options);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_TRUE(d->passed());
  EXPECT_TRUE(d->mismatches.empty());
  EXPECT_EQ(d->files, 4u);
  EXPECT_EQ(d->files_verified, 4u);
  EXPECT_EQ(d->data_bytes, (6u << 20) + 2u);
  ASSERT_EQ(d->phases.size(), 2u);
  EXPECT_EQ(d->phases[0].name, "restore");
  EXPECT_EQ(d->phases[1].name, "cleanup");
  EXPECT_GT(d->throughput, 0);
  EXPECT_EQ(EntriesIn(options.sandbox_root), 0u) << "the sandbox was left behind";
}

TEST_F(BackupTest, ADrillOfADamagedRepositoryFailsAndStillRemovesItsSandbox) {
  BackupResult b = Backup();
  ASSERT_GT(FlipABitInEveryDataPack(), 0u);
  DrillOptions options;
  options.sandbox_root = dir_ + "/sandboxes";
  auto d = RunDrill(repo_.get(), b.snapshot, options);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_FALSE(d->passed());
  ASSERT_FALSE(d->mismatches.empty());
  EXPECT_LT(d->files_verified, 4u);
  // The record's text names the object, never the file.
  for (const DrillMismatch& m : d->mismatches) {
    EXPECT_EQ(m.where.find("big.bin"), std::string::npos) << m.where;
    EXPECT_EQ(m.where.find("copy.bin"), std::string::npos) << m.where;
  }
  EXPECT_EQ(EntriesIn(options.sandbox_root), 0u) << "the sandbox was left behind";
}

TEST_F(BackupTest, RemoveTreeEmptiesReadOnlyDirectoriesAndNeverFollowsSymlinks) {
  const std::string tree = dir_ + "/tree";
  ASSERT_TRUE(MakeDirs(tree + "/a/b/c", 0755).ok());
  ASSERT_TRUE(MakeDirs(tree + "/d", 0755).ok());
  WriteFile(tree + "/top", Bytes{'x'});
  WriteFile(tree + "/a/b/c/deep", Bytes{'y'});
  ASSERT_EQ(symlink(src_.c_str(), (tree + "/a/to-src").c_str()), 0);
  ASSERT_EQ(symlink((src_ + "/small.txt").c_str(), (tree + "/d/to-file").c_str()), 0);
  ASSERT_EQ(chmod((tree + "/a/b/c").c_str(), 0500), 0);
  ASSERT_EQ(chmod((tree + "/a/b").c_str(), 0), 0);
  ASSERT_TRUE(RemoveTree(tree).ok());
  struct stat st;
  EXPECT_NE(lstat(tree.c_str(), &st), 0);
  EXPECT_EQ(Slurp(src_ + "/small.txt"), (Bytes{'h', 'i'})) << "a symlink's target was removed";
  EXPECT_EQ(RegularFilesBelow(src_).size(), 4u);
  EXPECT_TRUE(RemoveTree(tree).ok()) << "an absent tree is not an error";
}

TEST_F(BackupTest, RestoreNeverWritesThroughASymlinkInTheTarget) {
  BackupResult b = Backup();
  // The target already holds the snapshot's directory "sub" as a symlink to a directory
  // elsewhere: a restore must neither create "deeper" nor write "copy.bin" there.
  const std::string out = dir_ + "/out" + src_;
  const std::string elsewhere = dir_ + "/elsewhere";
  ASSERT_TRUE(MakeDirs(out, 0700).ok());
  ASSERT_TRUE(MakeDirs(elsewhere, 0700).ok());
  ASSERT_EQ(symlink(elsewhere.c_str(), (out + "/sub").c_str()), 0);
  Restorer restorer(repo_.get());
  RestoreOptions options;
  options.target = dir_ + "/out";
  auto r = restorer.Run(b.snapshot.tree, options);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_FALSE(r->failures.empty());
  bool named = false;
  for (const RestoreFailure& f : r->failures) named = named || f.path == src_ + "/sub/deeper";
  EXPECT_TRUE(named) << r->failures[0].path << ": " << r->failures[0].error.ToString();
  EXPECT_EQ(EntriesIn(elsewhere), 0u) << "the restore wrote through the symlink";
  EXPECT_EQ(Slurp(out + "/big.bin"), Slurp(src_ + "/big.bin")) << "the rest is restored";
  EXPECT_EQ(r->files, 3u);
}

TEST_F(BackupTest, DuplicateContentIsStoredOnce) {
  BackupResult b = Backup();
  // Two 3 MiB copies of the same random data: about 3 MiB stored, not 6.
  EXPECT_LT(b.snapshot.summary.bytes_added, 4u << 20);
  EXPECT_GT(b.snapshot.summary.bytes_added, 3u << 20);
}

TEST_F(BackupTest, SecondBackupReadsNothingUnchanged) {
  Backup();
  BackupResult second = Backup();
  EXPECT_EQ(second.snapshot.summary.files_unchanged, 4u);
  EXPECT_EQ(second.snapshot.summary.bytes_read, 0u);
  WriteFile(src_ + "/small.txt", Bytes{'h', 'o'});
  BackupResult third = Backup();
  EXPECT_EQ(third.snapshot.summary.files_changed, 1u);
  EXPECT_EQ(third.snapshot.summary.files_unchanged, 3u);
  EXPECT_EQ(third.snapshot.summary.bytes_read, 2u);
}

TEST_F(BackupTest, CheckFindsAFlippedBitAndRestoreRefusesTheFile) {
  BackupResult b = Backup();
  Checker clean(repo_.get());
  auto ok = clean.Run(CheckOptions{true, 0});
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->problems.empty());

  const size_t flipped = FlipABitInEveryDataPack();
  ASSERT_GT(flipped, 0u);

  Checker checker(repo_.get());
  auto report = checker.Run(CheckOptions{true, 0});
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), flipped);
  EXPECT_EQ(report->problems[0].error.code(), StatusCode::kDataLoss);
  EXPECT_EQ(report->problems[0].object.rfind("pack ", 0), 0u);

  Restorer restorer(repo_.get());
  RestoreOptions options;
  options.target = dir_ + "/out";
  auto r = restorer.Run(b.snapshot.tree, options);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->data_loss);
  struct stat st;
  EXPECT_NE(lstat((dir_ + "/out" + src_ + "/big.bin").c_str(), &st), 0)
      << "a file with unverifiable content must not be left in the target";
  EXPECT_EQ(Slurp(dir_ + "/out" + src_ + "/small.txt"), (Bytes{'h', 'i'}));
}

TEST_F(BackupTest, ADamagedFilesCacheIsDiscardedAndEveryFileReadAgain) {
  Backup();
  const std::string cache = dir_ + "/cache/" + repo_->config().id.Hex() + "/files";
  Bytes data = Slurp(cache);
  ASSERT_GT(data.size(), 60u);
  data[data.size() - 20] ^= 0x01;
  WriteFile(cache, data);
  BackupResult second = Backup();
  EXPECT_EQ(second.snapshot.summary.files_unchanged, 0u);
  EXPECT_EQ(second.snapshot.summary.files_changed + second.snapshot.summary.files_new, 4u);
  EXPECT_EQ(second.snapshot.summary.bytes_read, (6u << 20) + 2u);
  // The file contents were all stored already; only trees of ancestors whose mtime changed
  // (the test directory gained a cache) are new.
  EXPECT_LT(second.snapshot.summary.bytes_added, 64u * 1024);
}

TEST(ExcludeTest, PatternsMatchNamesOrWholePaths) {
  EXPECT_TRUE(IsExcluded({"*.tmp"}, "/a/b/x.tmp"));
  EXPECT_FALSE(IsExcluded({"*.tmp"}, "/a/b/x.tmpl"));
  EXPECT_TRUE(IsExcluded({"/a/*/x"}, "/a/b/x"));
  EXPECT_FALSE(IsExcluded({"/a/*/x"}, "/a/b/c/x"));
  EXPECT_FALSE(IsExcluded({}, "/a"));
}

}  // namespace
}  // namespace phivault::backup
