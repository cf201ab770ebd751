#include "phivault/backup/drill.h"

#include <dirent.h>
#include <fcntl.h>
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

// Checks that `file` is in the sandbox as a regular file of the snapshot's size. Its bytes were
// read back and compared by the restore itself (RestoreOptions::read_back).
std::optional<DrillMismatch> CheckFile(int sandbox, const FileToVerify& file) {
  const std::string rel = file.path.substr(1);
  struct stat st;
  if (fstatat(sandbox, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return DrillMismatch{file.path, "missing from the restore: " + std::string(strerror(errno))};
  }
  if (!S_ISREG(st.st_mode)) return DrillMismatch{file.path, "restored as something else"};
  if (static_cast<uint64_t>(st.st_size) != file.node.size) {
    return DrillMismatch{file.path, "restored with " + std::to_string(st.st_size) +
                                        " bytes, the snapshot has " +
                                        std::to_string(file.node.size)};
  }
  return std::nullopt;
}

// Opens subdirectory `name` of `parent` for emptying it: never through a symlink, and opening up a
// restored read-only directory (its snapshot mode) first.
int OpenSubdir(int parent, const char* name) {
  int sub = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (sub < 0 && errno == EACCES) {
    fchmodat(parent, name, S_IRWXU, 0);
    sub = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (sub >= 0) fchmod(sub, S_IRWXU);
  return sub;
}

// Keeps the first error.
void KeepFirst(Status* first, Status s) {
  if (first->ok() && !s.ok()) *first = std::move(s);
}

// Removes everything inside the open directory `dir` (which it closes), without following
// symlinks and without a stat per entry: readdir's d_type says what each entry is.
Status EmptyDir(int dir, const std::string& what) {
  DIR* d = fdopendir(dir);
  if (d == nullptr) {
    close(dir);
    return ErrnoToStatus(errno, "open " + what);
  }
  rewinddir(d);  // a dup()ed descriptor shares the position of an earlier listing
  Status status;
  while (struct dirent* e = readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st;
      is_dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    if (is_dir) {
      int sub = OpenSubdir(dirfd(d), e->d_name);
      if (sub < 0) {
        KeepFirst(&status, ErrnoToStatus(errno, "open " + what + "/" + std::string(name)));
        continue;
      }
      KeepFirst(&status, EmptyDir(sub, what + "/" + std::string(name)));
    }
    if (unlinkat(dirfd(d), e->d_name, is_dir ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
      KeepFirst(&status, ErrnoToStatus(errno, "remove " + what + "/" + std::string(name)));
    }
  }
  closedir(d);
  return status;
}

}  // namespace

Status RemoveTree(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return OkStatus();
    if (errno == ENOTDIR || errno == ELOOP) {
      return unlink(path.c_str()) == 0 ? OkStatus() : ErrnoToStatus(errno, "remove " + path);
    }
    return ErrnoToStatus(errno, "open " + path);
  }
  UniqueFd root(fd);
  fchmod(fd, S_IRWXU);
  // The top level's subdirectories are emptied on two threads: unlinking is most of the cost.
  std::vector<std::string> subdirs;
  if (DIR* d = fdopendir(dup(fd))) {
    while (struct dirent* e = readdir(d)) {
      std::string_view name = e->d_name;
      if (name != "." && name != ".." && e->d_type == DT_DIR) subdirs.emplace_back(name);
    }
    closedir(d);
  }
  std::mutex mu;
  Status status;
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next.fetch_add(1); i < subdirs.size(); i = next.fetch_add(1)) {
      int sub = OpenSubdir(fd, subdirs[i].c_str());
      Status s = sub < 0 ? ErrnoToStatus(errno, "open " + path + "/" + subdirs[i])
                         : EmptyDir(sub, path + "/" + subdirs[i]);
      std::lock_guard<std::mutex> lock(mu);
      KeepFirst(&status, std::move(s));
    }
  };
  std::thread helper(worker);
  worker();
  helper.join();
  // What is left: files, and the emptied subdirectories.
  KeepFirst(&status, EmptyDir(dup(fd), path));
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) {
    KeepFirst(&status, ErrnoToStatus(errno, "remove " + path));
  }
  return status;
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
  out.data_bytes = restored.bytes_verified;
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
  for (const FileToVerify& f : files) {
    if (options.cancel != nullptr && options.cancel->load()) break;
    auto bad = CheckFile(sandbox_fd, f);
    if (bad) {
      out.mismatches.push_back(std::move(*bad));
    } else {
      out.files_verified++;
      out.bytes_verified += f.node.size;
    }
  }
  if (options.cancel != nullptr && options.cancel->load()) {
    return CancelledError("drill interrupted");
  }
  out.verify_seconds = Since(t1);
  out.phases.push_back(DrillPhase{"verify", out.verify_seconds});
  // A failed restore of a file shows up twice (not restored, then missing); keep the first.
  std::stable_sort(out.mismatches.begin(), out.mismatches.end(),
                   [](const DrillMismatch& a, const DrillMismatch& b) { return a.path < b.path; });
  out.mismatches.erase(
      std::unique(out.mismatches.begin(), out.mismatches.end(),
                  [](const DrillMismatch& a, const DrillMismatch& b) { return a.path == b.path; }),
      out.mismatches.end());
  const double busy = out.restore_seconds + out.verify_seconds;
  out.throughput = busy > 0 ? static_cast<double>(out.data_bytes) / busy : 0;
  sandbox_owner = UniqueFd();
  auto t2 = std::chrono::steady_clock::now();
  PHV_RETURN_IF_ERROR(cleanup.Run().WithContext("remove the drill sandbox"));
  out.phases.push_back(DrillPhase{"cleanup", Since(t2)});
  out.total_seconds = Since(start);
  return out;
}

}  // namespace phivault::backup
