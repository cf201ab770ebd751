#include "phivault/backup/drill.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>

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

// (parent, name) of a relative path with at least one component.
std::pair<std::string, std::string> SplitLast(const std::string& rel) {
  size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {".", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

// Opens directory `rel` below `root` for emptying it, first opening up a restored directory whose
// snapshot mode keeps its owner out, and then making it writable.
int OpenForEmptying(int root, const std::string& rel) {
  int dir = OpenDirBeneath(root, rel);
  if (dir < 0 && errno == EACCES && rel != ".") {
    auto [parent, name] = SplitLast(rel);
    int p = OpenDirBeneath(root, parent);
    if (p >= 0) {
      fchmodat(p, name.c_str(), S_IRWXU, AT_SYMLINK_NOFOLLOW);
      close(p);
    }
    dir = OpenDirBeneath(root, rel);
  }
  if (dir >= 0) fchmod(dir, S_IRWXU);
  return dir;
}

// Runs fn(i) for every i below n on two threads.
template <typename Fn>
void OnTwoThreads(size_t n, Fn fn) {
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::thread helper(worker);
  worker();
  helper.join();
}

}  // namespace

// Level by level, on two threads: every directory of a level is opened, its files and symlinks
// are unlinked and its subdirectories make the next level; then, deepest level first, each
// directory removes its emptied subdirectories. Directories are listed without a stat per entry
// (readdir's d_type), and every path is opened without following a symlink on the way, so a
// symlink swapped in while the removal runs cannot lead it outside the tree.
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
  std::mutex mu;
  Status status;
  auto keep_first = [&](Status s) {
    std::lock_guard<std::mutex> lock(mu);
    if (status.ok() && !s.ok()) status = std::move(s);
  };
  // A directory found so far: its path below the root, and the names of its subdirectories.
  struct Dir {
    std::string rel;
    std::vector<std::string> subdirs;
  };
  std::vector<std::vector<Dir>> levels{{Dir{".", {}}}};
  while (!levels.back().empty()) {
    std::vector<Dir>& level = levels.back();
    std::vector<Dir> next;
    OnTwoThreads(level.size(), [&](size_t i) {
      Dir& dir = level[i];
      int fd_dir = OpenForEmptying(fd, dir.rel);
      DIR* d = fd_dir < 0 ? nullptr : fdopendir(fd_dir);
      if (d == nullptr) {
        if (fd_dir >= 0) close(fd_dir);
        keep_first(ErrnoToStatus(errno, "open " + path + "/" + dir.rel));
        return;
      }
      while (struct dirent* e = readdir(d)) {
        std::string_view name = e->d_name;
        if (name == "." || name == "..") continue;
        bool is_dir = e->d_type == DT_DIR;
        if (e->d_type == DT_UNKNOWN) {
          struct stat st;
          is_dir = fstatat(fd_dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        }
        if (is_dir) {
          dir.subdirs.emplace_back(name);
        } else if (unlinkat(fd_dir, e->d_name, 0) != 0 && errno != ENOENT) {
          keep_first(ErrnoToStatus(errno, "remove " + path + "/" + dir.rel + "/" + e->d_name));
        }
      }
      closedir(d);
      std::lock_guard<std::mutex> lock(mu);
      for (const std::string& sub : dir.subdirs) {
        next.push_back(Dir{dir.rel == "." ? sub : dir.rel + "/" + sub, {}});
      }
    });
    levels.push_back(std::move(next));
  }
  // Each directory removes its (by now empty) subdirectories, deepest level first.
  for (size_t depth = levels.size() - 1; depth-- > 0;) {
    const std::vector<Dir>& level = levels[depth];
    OnTwoThreads(level.size(), [&](size_t i) {
      const Dir& dir = level[i];
      if (dir.subdirs.empty()) return;
      UniqueFd parent(OpenDirBeneath(fd, dir.rel));
      if (!parent.valid()) {
        keep_first(ErrnoToStatus(errno, "open " + path + "/" + dir.rel));
        return;
      }
      for (const std::string& sub : dir.subdirs) {
        if (unlinkat(parent.get(), sub.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
          keep_first(ErrnoToStatus(errno, "remove " + path + "/" + dir.rel + "/" + sub));
        }
      }
    });
  }
  root = UniqueFd();
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) {
    keep_first(ErrnoToStatus(errno, "remove " + path));
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
  ropts.read_back = true;
  ropts.discard = true;
  const double percent = options.sample_percent;
  ropts.file_filter = [percent](const std::string& path) {
    return InSample(path, percent);
  };
  auto t0 = std::chrono::steady_clock::now();
  Restorer restorer(repo);
  PHV_ASSIGN_OR_RETURN(RestoreResult restored, restorer.Run(snapshot.tree, ropts));
  out.restore_seconds = Since(t0);
  out.phases.push_back(DrillPhase{"restore", out.restore_seconds});
  out.files = restored.files_selected;
  // Each file was written, read back, checked and removed by the restore (RestoreOptions).
  out.files_verified = restored.files + restored.hardlinks;
  out.bytes_restored = restored.bytes;
  out.bytes_verified = restored.bytes;
  out.data_bytes = restored.bytes_verified;
  for (const RestoreFailure& f : restored.failures) {
    out.mismatches.push_back(
        DrillMismatch{f.path, "not restored: " + WithoutPath(f.error, f.path)});
  }
  std::stable_sort(out.mismatches.begin(), out.mismatches.end(),
                   [](const DrillMismatch& a, const DrillMismatch& b) { return a.path < b.path; });
  out.throughput =
      out.restore_seconds > 0 ? static_cast<double>(out.data_bytes) / out.restore_seconds : 0;
  auto t2 = std::chrono::steady_clock::now();
  PHV_RETURN_IF_ERROR(cleanup.Run().WithContext("remove the drill sandbox"));
  out.phases.push_back(DrillPhase{"cleanup", Since(t2)});
  out.total_seconds = Since(start);
  return out;
}

}  // namespace phivault::backup
