#include "phivault/backup/restorer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/core.h>

#include "phivault/backup/tree_walk.h"
#include "phivault/base/file_util.h"
#include "phivault/base/log.h"

namespace phivault::backup {
namespace {

using repo::Node;
using repo::NodeType;

constexpr uint64_t kBatchBytes = 8u << 20;
constexpr size_t kBatchFiles = 128;
// Read back in pieces that stay in a core's L2 cache between the read and the comparison.
constexpr size_t kReadBackPiece = 128u << 10;

struct PlannedFile {
  std::string rel;  // path relative to the target (the snapshot path without its leading '/')
  Node node;
};

struct PlannedLink {
  std::string rel;
  size_t first = 0;  // the file of files_ it links to
};

// The directory a worker is creating files in, opened once for all of them, so that each file
// is created, checked and removed by its name alone instead of by a walk of its whole path.
struct ParentDir {
  std::optional<std::string> rel;  // none before the first; "" for the target itself
  UniqueFd fd;
  Status error;  // why it could not be opened, for every file in it
};

struct timespec MtimeOf(const Node& n) {
  struct timespec ts;
  ts.tv_sec = n.mtime_sec;
  ts.tv_nsec = n.mtime_nsec;
  return ts;
}

class RestoreRun {
 public:
  RestoreRun(repo::Repository* repo, const RestoreOptions& options, RestoreProgress* progress)
      : repo_(repo),
        options_(options),
        progress_(progress),
        is_root_(geteuid() == 0),
        uid_(geteuid()),
        gid_(getegid()),
        umask_(CurrentUmask()) {}

  Result<RestoreResult> Run(const Id& root);

 private:
  bool Cancelled() const { return options_.cancel != nullptr && options_.cancel->load(); }
  void Failure(const std::string& rel, Status error);
  Status Plan(const Id& root);
  Result<WalkAction> PlanNode(const std::string& path, const Node& node);
  // Creates the symlink, fifo or device `node` as `name` in the directory open at `dir`; `rel`
  // is its path in the target, for messages.
  Status CreateSpecial(int dir, const char* name, const std::string& rel, const Node& node);
  void WorkerLoop();
  // Points `parent` at the directory of `rel`, opened below the target without following a
  // symlink, and returns rel's last component (a pointer into `rel`). Null, with parent->error
  // set, when that directory cannot be opened.
  const char* EnterParent(const std::string& rel, ParentDir* parent) const;
  // Restores `file`, whose name is `name` in the directory open at `dir`.
  Status RestoreFile(repo::BlobReader* reader, const PlannedFile& file, int dir, const char* name,
                     bool keep);
  // With RestoreOptions::discard: checks the restored `file` open at `fd`, then removes it
  // unless `keep`.
  Status CheckAndDiscard(int fd, const PlannedFile& file, int dir, const char* name, bool keep);
  static mode_t CurrentUmask();
  // True when a file created with `node`'s permission bits already has its final owner and mode,
  // so that fchown and fchmod can be skipped (two system calls per file).
  bool CreatedFinal(const Node& node) const;
  // Sets `node`'s mtime on `fd`, and first its owner and mode when `owner_and_mode`.
  Status SetMetadata(int fd, const Node& node, bool owner_and_mode);
  void RestoreLinks();
  void FinishDirectories();

  repo::Repository* repo_;
  const RestoreOptions& options_;
  RestoreProgress* progress_;
  const bool is_root_;
  const uid_t uid_;
  const gid_t gid_;
  const mode_t umask_;
  UniqueFd target_;
  ParentDir plan_parent_;  // the planner's, for directories, symlinks and special files

  std::vector<PlannedFile> dirs_;
  std::vector<PlannedFile> files_;
  std::vector<PlannedLink> links_;
  // (device, inode) of a hard-link group -> the file of files_ restored first.
  std::map<std::pair<uint64_t, uint64_t>, size_t> link_groups_;
  std::vector<std::pair<size_t, size_t>> batches_;
  std::atomic<size_t> next_batch_{0};

  std::mutex mu_;
  RestoreResult result_;
  std::vector<uint8_t> file_ok_;  // one byte per file, each written by one worker only
  std::vector<uint8_t> linked_;   // one byte per file: 1 when hard links to it follow
};

void RestoreRun::Failure(const std::string& rel, Status error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error.code() == StatusCode::kDataLoss) result_.data_loss = true;
  result_.failures.push_back(RestoreFailure{"/" + rel, std::move(error)});
}

Result<WalkAction> RestoreRun::PlanNode(const std::string& path, const Node& node) {
  if (Cancelled()) return CancelledError("restore interrupted");
  if (!IsIncluded(options_.includes, path)) return WalkAction::kSkipSubtree;
  std::string rel = path.substr(1);
  if (IsOnlyAncestor(options_.includes, path) && node.type != NodeType::kDirectory) {
    return WalkAction::kSkipSubtree;
  }
  const char* name = nullptr;  // in plan_parent_; files are created by the workers
  if (node.type != NodeType::kFile) {
    name = EnterParent(rel, &plan_parent_);
    if (name == nullptr) {
      // Not a directory this restore made: nothing below it is restored.
      Failure(rel, plan_parent_.error);
      return WalkAction::kSkipSubtree;
    }
  }
  switch (node.type) {
    case NodeType::kDirectory:
      if (mkdirat(plan_parent_.fd.get(), name, 0700) != 0 && errno != EEXIST) {
        return ErrnoToStatus(errno, "create directory " + path);
      }
      dirs_.push_back(PlannedFile{rel, node});
      dirs_.back().node.content.clear();
      break;
    case NodeType::kFile:
      if (options_.file_filter && !options_.file_filter(path)) break;
      if (node.links > 1) {
        auto key = std::make_pair(node.device, node.inode);
        auto [it, first] = link_groups_.try_emplace(key, files_.size());
        if (!first) {
          links_.push_back(PlannedLink{rel, it->second});
          break;
        }
      }
      progress_->files_total.fetch_add(1, std::memory_order_relaxed);
      progress_->bytes_total.fetch_add(node.size, std::memory_order_relaxed);
      files_.push_back(PlannedFile{rel, node});
      break;
    default: {
      Status s = CreateSpecial(plan_parent_.fd.get(), name, rel, node);
      if (!s.ok()) Failure(rel, std::move(s));
      break;
    }
  }
  return WalkAction::kContinue;
}

Status RestoreRun::CreateSpecial(int dir, const char* name, const std::string& rel,
                                 const Node& node) {
  switch (node.type) {
    case NodeType::kSymlink:
      if (symlinkat(node.target.c_str(), dir, name) != 0) {
        return ErrnoToStatus(errno, "create symlink /" + rel);
      }
      ++result_.symlinks;
      break;
    case NodeType::kFifo:
      if (mkfifoat(dir, name, 0600) != 0) return ErrnoToStatus(errno, "create fifo /" + rel);
      ++result_.special;
      break;
    case NodeType::kCharDevice:
    case NodeType::kBlockDevice: {
      mode_t kind = node.type == NodeType::kCharDevice ? S_IFCHR : S_IFBLK;
      if (mknodat(dir, name, kind | 0600, static_cast<dev_t>(node.rdev)) != 0) {
        return ErrnoToStatus(errno, "create device /" + rel);
      }
      ++result_.special;
      break;
    }
    case NodeType::kSocket:
      ++result_.skipped_sockets;  // a socket is created by the program that listens on it
      return OkStatus();
    default: return OkStatus();
  }
  if (is_root_ && fchownat(dir, name, node.uid, node.gid, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoToStatus(errno, "set owner of /" + rel);
  }
  if (node.type != NodeType::kSymlink && fchmodat(dir, name, node.mode, 0) != 0) {
    return ErrnoToStatus(errno, "set mode of /" + rel);
  }
  struct timespec times[2] = {MtimeOf(node), MtimeOf(node)};
  if (utimensat(dir, name, times, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoToStatus(errno, "set mtime of /" + rel);
  }
  return OkStatus();
}

Status RestoreRun::Plan(const Id& root) {
  auto reader = repo_->NewBlobReader();
  PHV_RETURN_IF_ERROR(WalkTree(
      reader.get(), root, [this](const std::string& p, const Node& n) { return PlanNode(p, n); }));
  size_t begin = 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < files_.size(); ++i) {
    bytes += files_[i].node.size;
    if (bytes >= kBatchBytes || i + 1 - begin >= kBatchFiles || i + 1 == files_.size()) {
      batches_.emplace_back(begin, i + 1);
      begin = i + 1;
      bytes = 0;
    }
  }
  file_ok_.assign(files_.size(), 0);
  linked_.assign(files_.size(), 0);
  for (const PlannedLink& l : links_) linked_[l.first] = 1;
  result_.files_selected = files_.size() + links_.size();
  return OkStatus();
}

mode_t RestoreRun::CurrentUmask() {
  // The only way to read the umask is to set it; this runs before any worker thread exists.
  mode_t mask = umask(077);
  umask(mask);
  return mask;
}

bool RestoreRun::CreatedFinal(const Node& node) const {
  return node.uid == uid_ && node.gid == gid_ && (node.mode & ~0777u) == 0 &&
         (node.mode & umask_) == 0;
}

Status RestoreRun::SetMetadata(int fd, const Node& node, bool owner_and_mode) {
  if (owner_and_mode) {
    if (is_root_ && fchown(fd, node.uid, node.gid) != 0) return ErrnoToStatus(errno, "set owner");
    if (fchmod(fd, node.mode) != 0) return ErrnoToStatus(errno, "set mode");
  }
  struct timespec times[2] = {MtimeOf(node), MtimeOf(node)};
  if (futimens(fd, times) != 0) return ErrnoToStatus(errno, "set mtime");
  return OkStatus();
}

// A worker's buffer for reading files back. It holds restored plaintext, so it is wiped when the
// worker's thread ends rather than after every read, which would double the memory traffic of
// the read-back.
class ReadBackBuffer {
 public:
  ReadBackBuffer() : bytes_(kReadBackPiece) {}
  ~ReadBackBuffer() { SecureWipe(bytes_.data(), bytes_.size()); }
  ReadBackBuffer(const ReadBackBuffer&) = delete;
  ReadBackBuffer& operator=(const ReadBackBuffer&) = delete;
  MutableByteSpan First(size_t n) { return MutableByteSpan(bytes_.data(), n); }

 private:
  Bytes bytes_;
};

// Reads [offset, offset + expected.size()) of `fd` back and compares it with `expected`, or, for
// a hole (`expected` empty), checks that `hole` bytes read as zeros.
static Status ReadBack(int fd, uint64_t offset, ByteSpan expected, const Id& blob,
                       uint64_t hole = 0) {
  thread_local ReadBackBuffer buffer;
  const uint64_t length = expected.empty() ? hole : expected.size();
  for (uint64_t done = 0; done < length;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(length - done, kReadBackPiece));
    MutableByteSpan buf = buffer.First(n);
    PHV_RETURN_IF_ERROR(PreadExact(fd, buf, offset + done, "read back"));
    const bool same = expected.empty()
                          ? std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0; })
                          : std::memcmp(buf.data(), expected.data() + done, n) == 0;
    if (!same) {
      return DataLossError(
          "read back: bytes " + std::to_string(offset + done) + "+" + std::to_string(n) +
          " differ from " +
          (expected.empty() ? std::string("the hole there") : "blob " + blob.Hex()));
    }
    done += n;
  }
  return OkStatus();
}

// Checks that the hole [offset, offset + length) of `fd` reads as zeros. What the file system
// reports as no data (SEEK_DATA) reads as zeros by definition and costs nothing to check, so
// only the ranges it reports as data are read back; a file system without SEEK_DATA reads the
// whole range.
static Status ReadBackHole(int fd, uint64_t offset, uint64_t length) {
  const uint64_t end = offset + length;
  for (uint64_t pos = offset; pos < end;) {
    const off_t data = lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return OkStatus();  // no data from here to the end of the file
      if (errno == EINVAL || errno == EOPNOTSUPP) {
        return ReadBack(fd, pos, ByteSpan(), Id(), end - pos);
      }
      return ErrnoToStatus(errno, "read back: find data");
    }
    if (static_cast<uint64_t>(data) >= end) return OkStatus();
    const off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return ErrnoToStatus(errno, "read back: find a hole");
    const uint64_t stop = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    PHV_RETURN_IF_ERROR(ReadBack(fd, static_cast<uint64_t>(data), ByteSpan(), Id(),
                                 stop - static_cast<uint64_t>(data)));
    pos = stop;
  }
  return OkStatus();
}

Status RestoreRun::CheckAndDiscard(int fd, const PlannedFile& file, int dir, const char* name,
                                   bool keep) {
  const Node& node = file.node;
  struct stat opened, named;
  if (fstat(fd, &opened) != 0) return ErrnoToStatus(errno, "check the restored file");
  if (fstatat(dir, name, &named, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoToStatus(errno, "check the restored file's name");
  }
  if (named.st_dev != opened.st_dev || named.st_ino != opened.st_ino || !S_ISREG(named.st_mode)) {
    return DataLossError("the restored file's name leads to something else");
  }
  std::string wrong;
  if (static_cast<uint64_t>(named.st_size) != node.size) {
    wrong = "has " + std::to_string(named.st_size) + " bytes, the snapshot " +
            std::to_string(node.size);
  } else if ((named.st_mode & 0777) != (node.mode & 0777)) {
    wrong =
        fmt::format("has mode {:04o}, the snapshot {:04o}", named.st_mode & 0777, node.mode & 0777);
  } else if (named.st_mtim.tv_sec != node.mtime_sec) {
    wrong = "has a different mtime from the snapshot's";
  } else if (is_root_ && (named.st_uid != node.uid || named.st_gid != node.gid)) {
    wrong = "has a different owner from the snapshot's";
  }
  if (!wrong.empty()) return DataLossError("the restored file " + wrong);
  if (!keep && unlinkat(dir, name, 0) != 0) {
    return ErrnoToStatus(errno, "remove the verified file");
  }
  return OkStatus();
}

Status RestoreRun::RestoreFile(repo::BlobReader* reader, const PlannedFile& file, int dir,
                               const char* name, bool keep) {
  const Node& node = file.node;
  // The parent directories stay owner-only until the restore ends, so creating the file with
  // its final permissions exposes nothing while it is being written.
  const bool created_final = CreatedFinal(node);
  const int access = options_.read_back ? O_RDWR : O_WRONLY;
  int fd = openat(dir, name, access | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  created_final ? static_cast<mode_t>(node.mode) : 0600);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExistsError("exists in the target; not overwritten");
    return ErrnoToStatus(errno, "create");
  }
  UniqueFd owner(fd);
  bool sparse = false;
  for (const repo::Extent& e : node.content) sparse = sparse || e.hole;
  if (sparse && ftruncate(fd, static_cast<off_t>(node.size)) != 0) {
    return ErrnoToStatus(errno, "set size");
  }
  uint64_t offset = 0;
  uint64_t verified = 0;
  for (const repo::Extent& e : node.content) {
    if (!e.hole) {
      PHV_ASSIGN_OR_RETURN(ByteSpan blob, reader->Load(e.blob, repo::BlobType::kData));
      if (blob.size() != e.length) {
        return DataLossError("blob " + e.blob.Hex() + " has " + std::to_string(blob.size()) +
                             " bytes, the tree says " + std::to_string(e.length));
      }
      PHV_RETURN_IF_ERROR(PwriteAll(fd, blob, offset, "file content"));
      if (options_.read_back) PHV_RETURN_IF_ERROR(ReadBack(fd, offset, blob, e.blob));
      verified += blob.size();
    } else if (options_.read_back) {
      PHV_RETURN_IF_ERROR(ReadBackHole(fd, offset, e.length));
    }
    offset += e.length;
    progress_->bytes_done.fetch_add(e.length, std::memory_order_relaxed);
  }
  if (offset != node.size) {
    return DataLossError("content list covers " + std::to_string(offset) + " bytes, size is " +
                         std::to_string(node.size));
  }
  PHV_RETURN_IF_ERROR(SetMetadata(fd, node, !created_final));
  if (options_.discard) PHV_RETURN_IF_ERROR(CheckAndDiscard(fd, file, dir, name, keep));
  std::lock_guard<std::mutex> lock(mu_);
  result_.bytes_verified += verified;
  result_.bytes += node.size;
  ++result_.files;
  return OkStatus();
}

const char* RestoreRun::EnterParent(const std::string& rel, ParentDir* parent) const {
  const size_t slash = rel.rfind('/');
  const size_t length = slash == std::string::npos ? 0 : slash;
  const char* name = rel.c_str() + (slash == std::string::npos ? 0 : slash + 1);
  if (!parent->rel || std::string_view(*parent->rel) != std::string_view(rel).substr(0, length)) {
    parent->fd.Reset();
    parent->rel = rel.substr(0, length);
    parent->error = OkStatus();
    // The planner created every directory below the target; one that is now a symlink, or that
    // leads out of the target, was not made by this restore, and nothing is written through it.
    const int fd = length == 0 ? dup(target_.get()) : OpenDirBeneath(target_.get(), *parent->rel);
    if (fd < 0) {
      parent->error = ErrnoToStatus(errno, "open the parent directory");
    } else {
      parent->fd = UniqueFd(fd);
    }
  }
  return parent->error.ok() ? name : nullptr;
}

void RestoreRun::WorkerLoop() {
  auto reader = repo_->NewBlobReader();
  ParentDir parent;
  while (!Cancelled()) {
    size_t b = next_batch_.fetch_add(1);
    if (b >= batches_.size()) return;
    for (size_t i = batches_[b].first; i < batches_[b].second; ++i) {
      const PlannedFile& f = files_[i];
      const char* name = EnterParent(f.rel, &parent);
      Status s = name != nullptr
                     ? RestoreFile(reader.get(), f, parent.fd.get(), name, linked_[i] != 0)
                     : parent.error;
      progress_->files_done.fetch_add(1, std::memory_order_relaxed);
      if (s.ok()) {
        file_ok_[i] = 1;
        continue;
      }
      // A file that could not be completed must not stay behind looking restored.
      if (s.code() != StatusCode::kAlreadyExists && name != nullptr) {
        unlinkat(parent.fd.get(), name, 0);
      }
      Failure(f.rel, std::move(s));
    }
  }
}

void RestoreRun::RestoreLinks() {
  ParentDir from, to;
  for (const PlannedLink& l : links_) {
    const std::string& first = files_[l.first].rel;
    if (file_ok_[l.first] == 0) {
      Failure(l.rel, NotFoundError("hard link to /" + first + ", which was not restored"));
      continue;
    }
    const char* from_name = EnterParent(first, &from);
    const char* to_name = from_name != nullptr ? EnterParent(l.rel, &to) : nullptr;
    if (to_name == nullptr) {
      Failure(l.rel, from.error.ok() ? to.error : from.error);
      continue;
    }
    if (linkat(from.fd.get(), from_name, to.fd.get(), to_name, 0) != 0) {
      Failure(l.rel, ErrnoToStatus(errno, "create hard link"));
      continue;
    }
    ++result_.hardlinks;
  }
}

void RestoreRun::FinishDirectories() {
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    int fd = OpenDirBeneath(target_.get(), it->rel);
    if (fd < 0) {
      Failure(it->rel, ErrnoToStatus(errno, "open directory"));
      continue;
    }
    UniqueFd owner(fd);
    Status s = SetMetadata(fd, it->node, /*owner_and_mode=*/true);
    if (!s.ok()) Failure(it->rel, std::move(s));
    ++result_.dirs;
  }
}

Result<RestoreResult> RestoreRun::Run(const Id& root) {
  const auto started = std::chrono::steady_clock::now();
  PHV_ASSIGN_OR_RETURN(std::string target, AbsolutePath(options_.target));
  PHV_RETURN_IF_ERROR(MakeDirs(target, 0700));
  int fd = open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open restore target " + target);
  target_ = UniqueFd(fd);

  PHV_RETURN_IF_ERROR(Plan(root));
  unsigned threads = options_.threads;
  if (threads == 0) {
    // Remote storage answers each read after a round trip: enough workers keep it busy.
    threads = std::max(2 * std::max(1u, std::thread::hardware_concurrency()),
                       repo_->backend()->PreferredConcurrency());
  }
  std::vector<std::thread> workers;
  for (unsigned i = 0; i < threads; ++i) workers.emplace_back([this] { WorkerLoop(); });
  for (auto& t : workers) t.join();
  if (Cancelled()) return CancelledError("restore interrupted");
  RestoreLinks();
  FinishDirectories();
  if (fsync(target_.get()) != 0) PHV_LOG(kWarning, "fsync of the restore target failed");
  result_.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::move(result_);
}

}  // namespace

Result<RestoreResult> Restorer::Run(const Id& root, const RestoreOptions& options) {
  RestoreRun run(repo_, options, &progress_);
  return run.Run(root);
}

}  // namespace phivault::backup
