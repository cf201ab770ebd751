#include "phivault/backup/archiver.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "phivault/backup/files_cache.h"
#include "phivault/base/file_util.h"
#include "phivault/base/log.h"
#include "phivault/base/provenance.h"
#include "phivault/base/queue.h"
#include "phivault/chunk/chunker.h"
#include "phivault/repo/retention.h"

namespace phivault::backup {
namespace {

using repo::Extent;
using repo::Node;
using repo::NodeType;

constexpr size_t kReadBufferSize = 8u << 20;
constexpr size_t kFileQueueCapacity = 4096;
constexpr size_t kChunksPerSaver = 4;
constexpr size_t kBatchBytes = 256 * 1024;

// One file system object found by the walk. Directories own their children; a file's content
// list is filled in by the reader that reads it.
struct FsEntry {
  Node node;
  std::vector<std::unique_ptr<FsEntry>> children;
  bool omitted = false;  // could not be read; left out of the snapshot
};

struct FileJob {
  FsEntry* entry = nullptr;
  std::string path;
  PathHash hash{};
  FileStamp stamp;
  bool known = false;  // the files cache had an entry for this path
};

// Chunks on their way from a reader to a saver. Small chunks travel in batches of up to
// kBatchBytes so that a tree of small files does not cost two thread wake-ups per file.
struct ChunkJob {
  Bytes data;                                 // the chunks, back to back
  std::vector<std::pair<Id, size_t>> chunks;  // id and length of each
};

// Where the pipeline's threads spend their time, summed over threads, for the debug log and
// the stage profile in doc/benchmarks.md.
struct StageTimes {
  std::atomic<int64_t> read_ns{0};
  std::atomic<int64_t> chunk_ns{0};
  std::atomic<int64_t> hash_ns{0};
  std::atomic<int64_t> push_wait_ns{0};
  std::atomic<int64_t> pop_wait_ns{0};
  std::atomic<int64_t> save_ns{0};
};

// Adds the time between construction and destruction to a counter.
class StageTimer {
 public:
  explicit StageTimer(std::atomic<int64_t>* sink)
      : sink_(sink), start_(std::chrono::steady_clock::now()) {}
  ~StageTimer() {
    sink_->fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::steady_clock::now() - start_)
                         .count(),
                     std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t>* sink_;
  std::chrono::steady_clock::time_point start_;
};

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool IsAllZero(ByteSpan data) {
  return !data.empty() && data[0] == 0 &&
         std::memcmp(data.data(), data.data() + 1, data.size() - 1) == 0;
}

void AppendHole(std::vector<Extent>* out, uint64_t length) {
  if (length == 0) return;
  if (!out->empty() && out->back().hole) {
    out->back().length += length;
  } else {
    out->push_back(Extent{length, true, Id{}});
  }
}

std::string ChildPath(const std::string& dir, std::string_view name) {
  std::string out = dir;
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

// Resolves and caches user and group names. Used by the walker thread only.
class NameCache {
 public:
  const std::string& User(uint32_t uid) {
    auto [it, fresh] = users_.try_emplace(uid);
    if (fresh) {
      struct passwd pw, *res = nullptr;
      char buf[4096];
      if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res != nullptr) {
        it->second = pw.pw_name;
      }
    }
    return it->second;
  }
  const std::string& Group(uint32_t gid) {
    auto [it, fresh] = groups_.try_emplace(gid);
    if (fresh) {
      struct group gr, *res = nullptr;
      char buf[4096];
      if (getgrgid_r(gid, &gr, buf, sizeof buf, &res) == 0 && res != nullptr) {
        it->second = gr.gr_name;
      }
    }
    return it->second;
  }

 private:
  std::unordered_map<uint32_t, std::string> users_;
  std::unordered_map<uint32_t, std::string> groups_;
};

NodeType TypeOf(mode_t mode) {
  if (S_ISDIR(mode)) return NodeType::kDirectory;
  if (S_ISLNK(mode)) return NodeType::kSymlink;
  if (S_ISFIFO(mode)) return NodeType::kFifo;
  if (S_ISSOCK(mode)) return NodeType::kSocket;
  if (S_ISCHR(mode)) return NodeType::kCharDevice;
  if (S_ISBLK(mode)) return NodeType::kBlockDevice;
  return NodeType::kFile;
}

// One backup run: the walker, the reader and saver pools and the tree builder.
class BackupRun {
 public:
  BackupRun(repo::Repository* repo, const BackupOptions& options, BackupProgress* progress,
            FilesCache* cache)
      : repo_(repo),
        options_(options),
        progress_(progress),
        cache_(cache),
        chunker_(repo->keys().gear_table(), repo->config().chunker),
        files_(kFileQueueCapacity),
        chunks_(kChunksPerSaver * Threads()) {}

  unsigned Threads() const {
    if (options_.threads != 0) return options_.threads;
    return std::max(1u, std::thread::hardware_concurrency());
  }

  Result<BackupResult> Run(std::vector<std::string> roots);

 private:
  bool Stopped() const {
    return failed_.load() || (options_.cancel != nullptr && options_.cancel->load());
  }
  void Fail(const Status& s);
  Status FirstError();

  Node NodeFromStat(std::string name, const struct stat& st);
  // Walks the source path `path`, whose lstat is `st`.
  void AddRoot(const std::string& path, const struct stat& st);
  FsEntry* AncestorDir(const std::string& path);
  void WalkEntry(FsEntry* parent, std::string name, const std::string& path, const struct stat& st);
  void WalkDir(FsEntry* dir, const std::string& path);
  void QueueFile(FsEntry* entry, const std::string& path, const struct stat& st);
  void Unreadable(const std::string& path, Status error);

  void ReaderLoop();
  // What one reader thread owns.
  struct ReaderState {
    std::unique_ptr<repo::BlobIdHasher> hasher;
    Bytes buffer;
    ChunkJob pending;  // small chunks not yet handed to a saver
  };
  Status ReadOneFile(const FileJob& job, ReaderState* rs, std::vector<Extent>* out);
  Status ReadRegion(int fd, uint64_t start, uint64_t end, ReaderState* rs, std::vector<Extent>* out,
                    uint64_t* read_total);
  Status EmitChunk(ByteSpan data, ReaderState* rs, std::vector<Extent>* out);
  Status Hand(ChunkJob* job);
  void SaverLoop();

  Result<Id> SaveTree(FsEntry* dir, repo::BlobIdHasher* hasher);

  repo::Repository* repo_;
  const BackupOptions& options_;
  BackupProgress* progress_;
  FilesCache* cache_;
  chunk::Chunker chunker_;
  NameCache names_;

  FsEntry root_;
  BoundedQueue<FileJob> files_;
  BoundedQueue<ChunkJob> chunks_;

  std::mutex mu_;
  Status first_error_;
  std::atomic<bool> failed_{false};
  std::vector<UnreadableFile> unreadable_;

  std::atomic<uint64_t> files_new_{0};
  std::atomic<uint64_t> files_changed_{0};
  uint64_t files_unchanged_ = 0;
  uint64_t dirs_ = 0;
  std::atomic<uint64_t> total_bytes_{0};
  StageTimes times_;
};

void BackupRun::Fail(const Status& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (first_error_.ok()) first_error_ = s;
  failed_.store(true);
  files_.Close();
  chunks_.Close();
}

Status BackupRun::FirstError() {
  std::lock_guard<std::mutex> lock(mu_);
  return first_error_;
}

void BackupRun::Unreadable(const std::string& path, Status error) {
  PHV_LOG(kWarning, "a file could not be read: {}", StatusCodeName(error.code()));
  std::lock_guard<std::mutex> lock(mu_);
  unreadable_.push_back(UnreadableFile{path, std::move(error)});
}

Node BackupRun::NodeFromStat(std::string name, const struct stat& st) {
  Node n;
  n.name = std::move(name);
  n.type = TypeOf(st.st_mode);
  n.mode = static_cast<uint32_t>(st.st_mode & 07777);
  n.uid = st.st_uid;
  n.gid = st.st_gid;
  n.user = names_.User(st.st_uid);
  n.group = names_.Group(st.st_gid);
  n.mtime_sec = st.st_mtim.tv_sec;
  n.mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  if (n.type == NodeType::kFile) {
    n.size = static_cast<uint64_t>(st.st_size);
    if (st.st_nlink > 1) {
      n.inode = st.st_ino;
      n.device = st.st_dev;
      n.links = st.st_nlink;
    }
  }
  if (n.type == NodeType::kCharDevice || n.type == NodeType::kBlockDevice) n.rdev = st.st_rdev;
  return n;
}

// Finds or creates the directory entries of the ancestors of `path` (absolute, normalised) and
// returns the entry that will hold `path` itself.
FsEntry* BackupRun::AncestorDir(const std::string& path) {
  FsEntry* dir = &root_;
  size_t pos = 1;
  while (true) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) return dir;
    std::string name = path.substr(pos, slash - pos);
    std::string prefix = path.substr(0, slash);
    FsEntry* next = nullptr;
    for (auto& c : dir->children) {
      if (c->node.name == name) next = c.get();
    }
    if (next == nullptr) {
      struct stat st;
      auto child = std::make_unique<FsEntry>();
      if (lstat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        child->node = NodeFromStat(name, st);
      } else {
        child->node.name = name;
        child->node.type = NodeType::kDirectory;
        child->node.mode = 0755;
      }
      ++dirs_;
      next = child.get();
      dir->children.push_back(std::move(child));
    }
    dir = next;
    pos = slash + 1;
  }
}

void BackupRun::AddRoot(const std::string& path, const struct stat& st) {
  if (path == "/") {
    WalkDir(&root_, path);
    return;
  }
  FsEntry* parent = AncestorDir(path);
  WalkEntry(parent, path.substr(path.rfind('/') + 1), path, st);
}

void BackupRun::WalkEntry(FsEntry* parent, std::string name, const std::string& path,
                          const struct stat& st) {
  auto entry = std::make_unique<FsEntry>();
  entry->node = NodeFromStat(std::move(name), st);
  FsEntry* e = entry.get();
  parent->children.push_back(std::move(entry));
  switch (e->node.type) {
    case NodeType::kDirectory:
      ++dirs_;
      WalkDir(e, path);
      break;
    case NodeType::kSymlink: {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = readlink(path.c_str(), target.data(), target.size());
      if (n < 0) {
        e->omitted = true;
        Unreadable(path, ErrnoToStatus(errno, "readlink " + path));
        break;
      }
      target.resize(static_cast<size_t>(n));
      e->node.target = std::move(target);
      break;
    }
    case NodeType::kFile: QueueFile(e, path, st); break;
    default: break;
  }
}

void BackupRun::WalkDir(FsEntry* dir, const std::string& path) {
  if (Stopped()) return;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) {
    Unreadable(path, ErrnoToStatus(errno, "open directory " + path));
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* de = readdir(d)) {
    std::string_view n = de->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (std::string& name : names) {
    if (Stopped()) return;
    std::string child = ChildPath(path, name);
    if (IsExcluded(options_.excludes, child)) continue;
    struct stat st;
    if (lstat(child.c_str(), &st) != 0) {
      if (errno != ENOENT) Unreadable(child, ErrnoToStatus(errno, "stat " + child));
      continue;
    }
    WalkEntry(dir, std::move(name), child, st);
  }
}

void BackupRun::QueueFile(FsEntry* entry, const std::string& path, const struct stat& st) {
  progress_->files_seen.fetch_add(1, std::memory_order_relaxed);
  progress_->bytes_seen.fetch_add(static_cast<uint64_t>(st.st_size), std::memory_order_relaxed);
  FileJob job;
  job.entry = entry;
  job.path = path;
  job.hash = HashPath(path);
  job.stamp =
      FileStamp{st.st_ino, static_cast<uint64_t>(st.st_size), ToNs(st.st_mtim), ToNs(st.st_ctim)};
  if (cache_ != nullptr) {
    job.known = cache_->Knows(job.hash);
    if (auto content = cache_->Lookup(job.hash, job.stamp, repo_->index())) {
      cache_->Record(job.hash, job.stamp, *content);
      entry->node.content = std::move(*content);
      ++files_unchanged_;
      total_bytes_.fetch_add(entry->node.size, std::memory_order_relaxed);
      progress_->files_done.fetch_add(1, std::memory_order_relaxed);
      progress_->bytes_done.fetch_add(entry->node.size, std::memory_order_relaxed);
      return;
    }
  }
  if (!files_.Push(std::move(job))) return;  // closed: the run failed or was cancelled
}

void BackupRun::ReaderLoop() {
  ReaderState rs;
  auto hasher = repo_->NewHasher();
  if (!hasher.ok()) {
    Fail(hasher.status());
    return;
  }
  rs.hasher = std::move(*hasher);
  rs.buffer.resize(std::max<size_t>(kReadBufferSize, 2 * chunker_.max_size()));
  while (std::optional<FileJob> job = files_.Pop()) {
    if (Stopped()) break;
    std::vector<Extent> content;
    Status s = ReadOneFile(*job, &rs, &content);
    if (!s.ok()) {
      if (Stopped()) break;
      job->entry->omitted = true;
      Unreadable(job->path, std::move(s));
      continue;
    }
    uint64_t size = 0;
    for (const Extent& e : content) size += e.length;
    job->entry->node.size = size;
    total_bytes_.fetch_add(size, std::memory_order_relaxed);
    (job->known ? files_changed_ : files_new_).fetch_add(1, std::memory_order_relaxed);
    if (cache_ != nullptr) cache_->Record(job->hash, job->stamp, content);
    job->entry->node.content = std::move(content);
    progress_->files_done.fetch_add(1, std::memory_order_relaxed);
  }
  Status s = Hand(&rs.pending);
  if (!s.ok() && !Stopped()) Fail(s);
}

Status BackupRun::ReadOneFile(const FileJob& job, ReaderState* rs, std::vector<Extent>* out) {
  int fd = open(job.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOATIME);
  if (fd < 0 && errno == EPERM) fd = open(job.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open " + job.path);
  UniqueFd owner(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoToStatus(errno, "stat " + job.path);
  if (!S_ISREG(st.st_mode)) return FailedPreconditionError(job.path + " is no longer a file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  uint64_t pos = 0;
  const bool sparse = static_cast<uint64_t>(st.st_blocks) * 512 < size;
  while (pos < size) {
    uint64_t start = pos;
    uint64_t end = size;
    if (sparse) {
      off_t data = lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
      if (data < 0) {
        if (errno != ENXIO) return ErrnoToStatus(errno, "seek " + job.path);
        break;  // only a hole is left
      }
      start = std::min(size, static_cast<uint64_t>(data));
      off_t hole = lseek(fd, data, SEEK_HOLE);
      end = hole < 0 ? size : std::min(size, static_cast<uint64_t>(hole));
    }
    AppendHole(out, start - pos);
    uint64_t read_total = 0;
    PHV_RETURN_IF_ERROR(ReadRegion(fd, start, end, rs, out, &read_total));
    // A file that shrank while it was read is stored as far as it could be read.
    if (read_total < end - start) return OkStatus();
    pos = end;
  }
  AppendHole(out, size - pos);
  return OkStatus();
}

// Reads [start, end) of `fd`, cuts it into chunks and emits them. `read_total` receives the
// bytes actually read (less than end - start when the file shrank).
Status BackupRun::ReadRegion(int fd, uint64_t start, uint64_t end, ReaderState* rs,
                             std::vector<Extent>* out, uint64_t* read_total) {
  Bytes* buffer = &rs->buffer;
  uint64_t offset = start;
  size_t filled = 0;
  bool eof = false;
  *read_total = 0;
  while (true) {
    while (!eof && filled < buffer->size() && offset < end) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(buffer->size() - filled, end - offset));
      ssize_t n;
      {
        StageTimer t(&times_.read_ns);
        n = pread(fd, buffer->data() + filled, want, static_cast<off_t>(offset));
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoToStatus(errno, "read");
      }
      if (n == 0) {
        eof = true;
        break;
      }
      filled += static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
      *read_total += static_cast<uint64_t>(n);
      progress_->bytes_read.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
    if (offset >= end) eof = true;
    size_t consumed = 0;
    while (filled - consumed > 0) {
      ByteSpan rest(buffer->data() + consumed, filled - consumed);
      if (!eof && rest.size() < chunker_.max_size()) break;
      size_t cut;
      {
        StageTimer t(&times_.chunk_ns);
        cut = chunker_.NextCut(rest);
      }
      PHV_RETURN_IF_ERROR(EmitChunk(rest.first(cut), rs, out));
      consumed += cut;
      if (Stopped()) return CancelledError("backup stopped");
    }
    if (consumed > 0 && consumed < filled) {
      std::memmove(buffer->data(), buffer->data() + consumed, filled - consumed);
    }
    filled -= consumed;
    progress_->bytes_done.fetch_add(consumed, std::memory_order_relaxed);
    if (eof && filled == 0) return OkStatus();
  }
}

Status BackupRun::EmitChunk(ByteSpan data, ReaderState* rs, std::vector<Extent>* out) {
  if (IsAllZero(data)) {
    AppendHole(out, data.size());
    return OkStatus();
  }
  Result<Id> id = [&] {
    StageTimer t(&times_.hash_ns);
    return rs->hasher->Compute(repo::BlobType::kData, data);
  }();
  if (!id.ok()) return id.status();
  out->push_back(Extent{data.size(), false, *id});
  if (repo_->index().Contains(*id)) return OkStatus();
  if (data.size() >= kBatchBytes) {
    ChunkJob job{Bytes(data.begin(), data.end()), {{*id, data.size()}}};
    return Hand(&job);
  }
  ChunkJob& pending = rs->pending;
  pending.data.insert(pending.data.end(), data.begin(), data.end());
  pending.chunks.emplace_back(*id, data.size());
  return pending.data.size() >= kBatchBytes ? Hand(&pending) : OkStatus();
}

// Passes `job` to the savers and leaves it empty.
Status BackupRun::Hand(ChunkJob* job) {
  if (job->chunks.empty()) return OkStatus();
  StageTimer t(&times_.push_wait_ns);
  bool pushed = chunks_.Push(std::move(*job));
  *job = ChunkJob();
  return pushed ? OkStatus() : CancelledError("backup stopped");
}

void BackupRun::SaverLoop() {
  while (true) {
    std::optional<ChunkJob> job;
    {
      StageTimer t(&times_.pop_wait_ns);
      job = chunks_.Pop();
    }
    if (!job) return;
    StageTimer t(&times_.save_ns);
    size_t offset = 0;
    for (const auto& [id, length] : job->chunks) {
      auto saved =
          repo_->SaveBlob(repo::BlobType::kData, id, ByteSpan(job->data).subspan(offset, length));
      if (!saved.ok()) {
        Fail(saved.status());
        return;
      }
      offset += length;
    }
  }
}

Result<Id> BackupRun::SaveTree(FsEntry* dir, repo::BlobIdHasher* hasher) {
  std::vector<Node> nodes;
  nodes.reserve(dir->children.size());
  for (auto& child : dir->children) {
    if (child->omitted) continue;
    if (child->node.type == NodeType::kDirectory) {
      PHV_ASSIGN_OR_RETURN(child->node.subtree, SaveTree(child.get(), hasher));
    }
    nodes.push_back(std::move(child->node));
  }
  dir->children.clear();
  std::sort(nodes.begin(), nodes.end(), [](const Node& a, const Node& b) {
    return std::string_view(a.name) < std::string_view(b.name);
  });
  Bytes blob = repo::EncodeTree(nodes);
  PHV_ASSIGN_OR_RETURN(Id id, hasher->Compute(repo::BlobType::kTree, blob));
  PHV_RETURN_IF_ERROR(repo_->SaveBlob(repo::BlobType::kTree, id, blob).status());
  return id;
}

Result<BackupResult> BackupRun::Run(std::vector<std::string> roots) {
  const auto started = std::chrono::steady_clock::now();
  BackupResult result;
  repo::Snapshot& snap = result.snapshot;
  snap.time_ns = WallClockNs();
  snap.paths = roots;
  snap.host = options_.host.empty() ? CurrentHostName() : options_.host;
  snap.uid = static_cast<uint32_t>(getuid());
  snap.gid = static_cast<uint32_t>(getgid());
  snap.user = names_.User(*snap.uid);
  snap.tags = options_.tags;
  snap.excludes = options_.excludes;
  snap.program = "phivault " PHIVAULT_VERSION;
  root_.node.type = NodeType::kDirectory;

  // Every source must exist before anything is stored.
  std::vector<struct stat> root_stats(roots.size());
  for (size_t i = 0; i < roots.size(); ++i) {
    if (lstat(roots[i].c_str(), &root_stats[i]) != 0) {
      return ErrnoToStatus(errno, "backup source " + roots[i]);
    }
  }

  const repo::WriteStats before = repo_->write_stats();
  std::vector<std::thread> readers, savers;
  for (unsigned i = 0; i < Threads(); ++i) {
    readers.emplace_back([this] { ReaderLoop(); });
    savers.emplace_back([this] { SaverLoop(); });
  }
  for (size_t i = 0; i < roots.size() && !Stopped(); ++i) AddRoot(roots[i], root_stats[i]);
  files_.Close();
  for (auto& t : readers) t.join();
  chunks_.Close();
  for (auto& t : savers) t.join();
  const double pipeline_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto secs = [](const std::atomic<int64_t>& ns) {
    return static_cast<double>(ns.load()) / 1e9;
  };
  PHV_LOG(kInfo,
          "pipeline {:.2f} s with {} readers and {} savers; thread-seconds: read {:.2f}, chunk "
          "{:.2f}, hash {:.2f}, readers waiting for savers {:.2f}, savers waiting for readers "
          "{:.2f}, saving (compress, seal, write) {:.2f}",
          pipeline_s, Threads(), Threads(), secs(times_.read_ns), secs(times_.chunk_ns),
          secs(times_.hash_ns), secs(times_.push_wait_ns), secs(times_.pop_wait_ns),
          secs(times_.save_ns));
  PHV_RETURN_IF_ERROR(FirstError());
  if (options_.cancel != nullptr && options_.cancel->load()) {
    PHV_RETURN_IF_ERROR(repo_->Flush());  // what was stored is kept for the next backup
    return CancelledError("backup interrupted; nothing was committed");
  }

  PHV_ASSIGN_OR_RETURN(auto hasher, repo_->NewHasher());
  PHV_ASSIGN_OR_RETURN(snap.tree, SaveTree(&root_, hasher.get()));
  PHV_RETURN_IF_ERROR(repo_->Flush());

  auto previous = repo_->LoadSnapshots();
  if (previous.ok()) {
    for (auto it = previous->rbegin(); it != previous->rend(); ++it) {
      if (it->host == snap.host && it->paths == snap.paths) {
        snap.parent = it->id;
        break;
      }
    }
  }
  repo::SnapshotSummary& sum = snap.summary;
  sum.files_new = files_new_.load();
  sum.files_changed = files_changed_.load();
  sum.files_unchanged = files_unchanged_;
  sum.dirs = dirs_;
  sum.bytes_read = progress_->bytes_read.load();
  const repo::WriteStats after = repo_->write_stats();
  sum.bytes_added = after.bytes_written - before.bytes_written;
  sum.blobs_added = after.blobs_added - before.blobs_added;
  sum.files_unreadable = unreadable_.size();
  sum.total_bytes = total_bytes_.load();
  snap.partial = !unreadable_.empty();
  snap.end_time_ns = WallClockNs();
  // Before the snapshot exists, every object it may need is locked at least as long as it.
  PHV_RETURN_IF_ERROR(KeepRepositoryLocked(repo_, options_.cache_dir, options_.use_cache));
  PHV_RETURN_IF_ERROR(repo_->SaveSnapshot(&snap));

  result.unreadable = std::move(unreadable_);
  result.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

}  // namespace

Status KeepRepositoryLocked(repo::Repository* repo, const std::string& cache_dir, bool use_cache) {
  if (!repo->config().object_lock.enabled()) return OkStatus();
  repo::RetentionLedger ledger;
  if (use_cache) {
    std::string dir = cache_dir.empty() ? FilesCache::DefaultDir() : cache_dir;
    PHV_ASSIGN_OR_RETURN(ledger, repo::RetentionLedger::Load(*repo, dir));
  }
  PHV_RETURN_IF_ERROR(repo->KeepPacksLocked(std::chrono::system_clock::now(), &ledger).status());
  Status s = ledger.Save(*repo);
  if (!s.ok()) PHV_LOG(kWarning, "could not save the retention ledger: {}", s.ToString());
  return OkStatus();
}

bool IsExcluded(const std::vector<std::string>& patterns, const std::string& path) {
  if (patterns.empty()) return false;
  std::string_view base = std::string_view(path).substr(path.rfind('/') + 1);
  std::string base_str(base);
  for (const std::string& p : patterns) {
    if (p.find('/') != std::string::npos) {
      if (fnmatch(p.c_str(), path.c_str(), FNM_PATHNAME) == 0) return true;
    } else if (fnmatch(p.c_str(), base_str.c_str(), 0) == 0) {
      return true;
    }
  }
  return false;
}

Result<BackupResult> Archiver::Run(const BackupOptions& options) {
  if (options.paths.empty()) return InvalidArgumentError("nothing to back up: no paths given");
  std::vector<std::string> roots;
  for (const std::string& p : options.paths) {
    PHV_ASSIGN_OR_RETURN(std::string abs, AbsolutePath(p));
    roots.push_back(std::move(abs));
  }
  std::sort(roots.begin(), roots.end());
  roots.erase(std::unique(roots.begin(), roots.end()), roots.end());
  // A path inside another given path is already covered by it.
  std::vector<std::string> kept;
  for (const std::string& r : roots) {
    bool covered = false;
    for (const std::string& k : kept) covered = covered || IsPathWithin(r, k);
    if (!covered) kept.push_back(r);
  }

  std::optional<FilesCache> cache;
  if (options.use_cache) {
    std::string dir = options.cache_dir.empty() ? FilesCache::DefaultDir() : options.cache_dir;
    PHV_ASSIGN_OR_RETURN(FilesCache loaded, FilesCache::Load(repo_, dir));
    cache.emplace(std::move(loaded));
  }
  BackupRun run(repo_, options, &progress_, cache ? &*cache : nullptr);
  PHV_ASSIGN_OR_RETURN(BackupResult result, run.Run(std::move(kept)));
  if (cache) {
    Status s = cache->Save(repo_);
    if (!s.ok()) PHV_LOG(kWarning, "could not save the files cache: {}", s.ToString());
  }
  return result;
}

}  // namespace phivault::backup
