#include "phivault/backup/drill.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>

#include "phivault/backup/tree_walk.h"
#include "phivault/base/file_util.h"
#include "phivault/base/log.h"
#include "phivault/crypto/crypto.h"

namespace phivault::backup {
namespace {

constexpr std::string_view kSandboxPrefix = "drill-sandbox-";

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The same files on every run: a hash of the path decides.
bool InSample(const std::string& path, double percent) {
  if (percent >= 100) return true;
  Id h = crypto::Sha256(AsBytes(path));
  uint64_t v = LoadLE64(h.bytes.data()) % 10000;
  return static_cast<double>(v) < percent * 100;
}

// A restore error with the file's name taken out: records name objects, not patient files.
std::string WithoutPath(const Status& s, const std::string& path) {
  std::string text = s.ToString();
  for (const std::string& p : {path, path.substr(1)}) {
    if (p.empty()) continue;
    for (size_t at = text.find(p); at != std::string::npos; at = text.find(p, at)) {
      text.replace(at, p.size(), "<file>");
    }
  }
  return text;
}

struct FileToVerify {
  std::string path;  // snapshot path
  repo::Node node;
};

// Reads `file` back from the sandbox and compares every byte with the snapshot. Returns the
// mismatch, if any, and adds the bytes read to `bytes`.
std::optional<DrillMismatch> VerifyFile(int sandbox, const FileToVerify& file,
                                        repo::BlobIdHasher* hasher, Bytes* buf, uint64_t* bytes) {
  const std::string rel = file.path.substr(1);
  auto mismatch = [&](std::string where) {
    return DrillMismatch{file.path, std::move(where)};
  };
  int fd = openat(sandbox, rel.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return mismatch("file missing from the restore: " + std::string(strerror(errno)));
  UniqueFd owner(fd);
  uint64_t offset = 0;
  for (const repo::Extent& e : file.node.content) {
    buf->resize(static_cast<size_t>(e.length));
    Status s = PreadExact(fd, *buf, offset, "restored file");
    if (!s.ok()) {
      return mismatch("short file: ends before byte " + std::to_string(offset + e.length) + " of " +
                      std::to_string(file.node.size));
    }
    if (e.hole) {
      if (std::any_of(buf->begin(), buf->end(), [](uint8_t b) { return b != 0; })) {
        return mismatch("bytes " + std::to_string(offset) + "+" + std::to_string(e.length) +
                        " should be a hole (zeros) and are not");
      }
    } else {
      auto id = hasher->Compute(repo::BlobType::kData, *buf);
      if (!id.ok() || *id != e.blob) {
        return mismatch("bytes " + std::to_string(offset) + "+" + std::to_string(e.length) +
                        " do not match blob " + e.blob.Hex());
      }
    }
    offset += e.length;
    *bytes += e.length;
  }
  uint8_t extra;
  if (pread(fd, &extra, 1, static_cast<off_t>(offset)) != 0) {
    return mismatch("longer than the snapshot's " + std::to_string(offset) + " bytes");
  }
  return std::nullopt;
}

int MakeWritable(const char* path, const struct stat* st, int type, struct FTW*) {
  if (type == FTW_D) chmod(path, (st->st_mode & 07777) | S_IRWXU);
  return 0;
}

int RemoveEntry(const char* path, const struct stat*, int type, struct FTW*) {
  int rc = (type == FTW_DP || type == FTW_D) ? rmdir(path) : unlink(path);
  return rc == 0 || errno == ENOENT ? 0 : errno;
}

}  // namespace

Status RemoveTree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? OkStatus() : ErrnoToStatus(errno, "stat " + path);
  }
  // Restored directories may be read-only (their snapshot mode); open them up first.
  nftw(path.c_str(), MakeWritable, 32, FTW_PHYS);
  int rc = nftw(path.c_str(), RemoveEntry, 32, FTW_PHYS | FTW_DEPTH);
  if (rc != 0) return ErrnoToStatus(rc > 0 ? rc : errno, "remove " + path);
  return OkStatus();
}

Result<size_t> RemoveStaleSandboxes(const std::string& sandbox_root) {
  DIR* dir = opendir(sandbox_root.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return size_t{0};
    return ErrnoToStatus(errno, "open " + sandbox_root);
  }
  std::vector<std::string> stale;
  while (struct dirent* e = readdir(dir)) {
    if (std::string_view(e->d_name).starts_with(kSandboxPrefix)) stale.push_back(e->d_name);
  }
  closedir(dir);
  for (const std::string& name : stale) {
    PHV_RETURN_IF_ERROR(RemoveTree(JoinPath(sandbox_root, name)));
  }
  return stale.size();
}

Result<DrillOutcome> RunDrill(repo::Repository* repo, const repo::Snapshot& snapshot,
                              const DrillOptions& options) {
  DrillOutcome out;
  const auto start = std::chrono::steady_clock::now();
  PHV_RETURN_IF_ERROR(MakeDirs(options.sandbox_root, 0700));
  std::string sandbox = JoinPath(options.sandbox_root, std::string(kSandboxPrefix) + "XXXXXX");
  if (mkdtemp(sandbox.data()) == nullptr) return ErrnoToStatus(errno, "create drill sandbox");
  // From here on the sandbox goes away on every path out of this function.
  struct Cleanup {
    std::string dir;
    bool done = false;
    Status Run() {
      done = true;
      return RemoveTree(dir);
    }
    ~Cleanup() {
      if (done) return;
      Status s = RemoveTree(dir);
      if (!s.ok()) PHV_LOG(kError, "drill sandbox not removed: {}", s.ToString());
    }
  } cleanup{sandbox};

  RestoreOptions ropts;
  ropts.target = sandbox;
  ropts.threads = options.threads;
  ropts.cancel = options.cancel;
  const double percent = options.sample_percent;
  ropts.file_filter = [percent](const std::string& path) {
    return InSample(path, percent);
  };
  auto t0 = std::chrono::steady_clock::now();
  Restorer restorer(repo);
  PHV_ASSIGN_OR_RETURN(RestoreResult restored, restorer.Run(snapshot.tree, ropts));
  out.restore_seconds = Since(t0);
  out.phases.push_back(DrillPhase{"restore", out.restore_seconds});
  out.bytes_restored = restored.bytes;
  for (const RestoreFailure& f : restored.failures) {
    out.mismatches.push_back(
        DrillMismatch{f.path, "not restored: " + WithoutPath(f.error, f.path)});
  }

  // Verify: the list of sampled files, then workers reading them back.
  auto t1 = std::chrono::steady_clock::now();
  std::vector<FileToVerify> files;
  {
    auto reader = repo->NewBlobReader();
    PHV_RETURN_IF_ERROR(
        WalkTree(reader.get(), snapshot.tree,
                 [&](const std::string& path, const repo::Node& node) -> Result<WalkAction> {
                   if (node.type == repo::NodeType::kFile && InSample(path, percent)) {
                     files.push_back(FileToVerify{path, node});
                   }
                   return WalkAction::kContinue;
                 }));
  }
  out.files = files.size();
  int sandbox_fd = open(sandbox.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sandbox_fd < 0) return ErrnoToStatus(errno, "open drill sandbox");
  UniqueFd sandbox_owner(sandbox_fd);
  std::mutex mu;
  std::atomic<size_t> next{0};
  Status first_error;
  auto worker = [&] {
    auto hasher = repo->NewHasher();
    if (!hasher.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      first_error = hasher.status();
      return;
    }
    Bytes buf;
    for (size_t i = next.fetch_add(1); i < files.size(); i = next.fetch_add(1)) {
      if (options.cancel != nullptr && options.cancel->load()) return;
      uint64_t bytes = 0;
      auto bad = VerifyFile(sandbox_fd, files[i], hasher->get(), &buf, &bytes);
      std::lock_guard<std::mutex> lock(mu);
      if (bad) {
        out.mismatches.push_back(std::move(*bad));
      } else {
        out.files_verified++;
        out.bytes_verified += bytes;
      }
    }
    SecureWipe(buf.data(), buf.size());
  };
  unsigned n = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < n; ++i) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();
  PHV_RETURN_IF_ERROR(first_error);
  if (options.cancel != nullptr && options.cancel->load()) {
    return CancelledError("drill interrupted");
  }
  out.verify_seconds = Since(t1);
  out.phases.push_back(DrillPhase{"verify", out.verify_seconds});
  // A failed restore of a file shows up twice (not restored, then missing); keep the first.
  std::sort(out.mismatches.begin(), out.mismatches.end(),
            [](const DrillMismatch& a, const DrillMismatch& b) { return a.path < b.path; });
  out.mismatches.erase(
      std::unique(out.mismatches.begin(), out.mismatches.end(),
                  [](const DrillMismatch& a, const DrillMismatch& b) { return a.path == b.path; }),
      out.mismatches.end());
  const double busy = out.restore_seconds + out.verify_seconds;
  out.throughput = busy > 0 ? static_cast<double>(out.bytes_verified) / busy : 0;
  sandbox_owner = UniqueFd();
  auto t2 = std::chrono::steady_clock::now();
  PHV_RETURN_IF_ERROR(cleanup.Run().WithContext("remove the drill sandbox"));
  out.phases.push_back(DrillPhase{"cleanup", Since(t2)});
  out.total_seconds = Since(start);
  return out;
}

}  // namespace phivault::backup
