#include "phivault/storage/local_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

namespace phivault::storage {
namespace {

constexpr size_t kFdCacheSize = 64;
constexpr size_t kWriteBufferSize = 1 << 20;

const char* const kTopDirs[] = {"data", "index", "snapshots", "drills", "audit"};

std::string KindDir(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kPack: return "data";
    case ObjectKind::kIndex: return "index";
    case ObjectKind::kSnapshot: return "snapshots";
    case ObjectKind::kDrill: return "drills";
    case ObjectKind::kAuditCheckpoint: return "audit";
    case ObjectKind::kConfig: return "";
  }
  return "";
}

std::string ParentDir(const std::string& path) { return path.substr(0, path.rfind('/')); }

// Moves `from` to `to` unless `to` exists. EEXIST when it does.
int RenameNoReplace(const std::string& from, const std::string& to) {
  if (renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return -1;
  if (link(from.c_str(), to.c_str()) != 0) return -1;
  unlink(from.c_str());
  return 0;
}

class LocalWriter : public ObjectWriter {
 public:
  LocalWriter(std::string final_path, std::string tmp_path, UniqueFd fd)
      : final_path_(std::move(final_path)), tmp_path_(std::move(tmp_path)), fd_(std::move(fd)) {
    buffer_.reserve(kWriteBufferSize);
  }
  ~LocalWriter() override {
    if (!committed_) unlink(tmp_path_.c_str());
  }

  Status Append(ByteSpan data) override {
    if (done_) return InternalError("append after commit");
    size_ += data.size();
    if (buffer_.size() + data.size() < kWriteBufferSize) {
      buffer_.insert(buffer_.end(), data.begin(), data.end());
      return OkStatus();
    }
    PHV_RETURN_IF_ERROR(Flush());
    if (data.size() >= kWriteBufferSize) return WriteAll(fd_.get(), data, tmp_path_);
    buffer_.insert(buffer_.end(), data.begin(), data.end());
    return OkStatus();
  }

  Status Commit() override {
    if (done_) return InternalError("commit twice");
    done_ = true;
    PHV_RETURN_IF_ERROR(Flush());
    if (fdatasync(fd_.get()) != 0) return ErrnoToStatus(errno, "fdatasync " + tmp_path_);
    fd_.Reset();
    if (RenameNoReplace(tmp_path_, final_path_) != 0) {
      return ErrnoToStatus(errno, "create " + final_path_);
    }
    committed_ = true;
    return FsyncDir(ParentDir(final_path_));
  }

  uint64_t size() const override { return size_; }

 private:
  Status Flush() {
    if (buffer_.empty()) return OkStatus();
    Status s = WriteAll(fd_.get(), buffer_, tmp_path_);
    buffer_.clear();
    return s;
  }

  std::string final_path_;
  std::string tmp_path_;
  UniqueFd fd_;
  Bytes buffer_;
  uint64_t size_ = 0;
  bool done_ = false;
  bool committed_ = false;
};

}  // namespace

Result<std::unique_ptr<LocalBackend>> LocalBackend::Open(const std::string& root) {
  PHV_ASSIGN_OR_RETURN(std::string abs, AbsolutePath(root));
  struct stat st;
  if (stat(abs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return NotFoundError("no repository at " + abs).WithTag(ErrorTag::kRepositoryMissing);
  }
  return std::unique_ptr<LocalBackend>(new LocalBackend(abs));
}

Result<std::unique_ptr<LocalBackend>> LocalBackend::Create(const std::string& root) {
  PHV_ASSIGN_OR_RETURN(std::string abs, AbsolutePath(root));
  struct stat st;
  if (stat(JoinPath(abs, "config").c_str(), &st) == 0) {
    return AlreadyExistsError("a repository exists already at " + abs);
  }
  if (stat(abs.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return FailedPreconditionError(abs + " is not a directory");
    DIR* d = opendir(abs.c_str());
    if (d == nullptr) return ErrnoToStatus(errno, "open " + abs);
    bool empty = true;
    while (struct dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = false;
    }
    closedir(d);
    if (!empty) {
      return FailedPreconditionError(abs + " is not empty; a repository needs its own directory");
    }
  }
  PHV_RETURN_IF_ERROR(MakeDirs(abs, 0700));
  for (const char* dir : kTopDirs) PHV_RETURN_IF_ERROR(MakeDirs(JoinPath(abs, dir), 0700));
  for (int i = 0; i < 256; ++i) {
    char sub[8];
    snprintf(sub, sizeof sub, "data/%02x", i);
    PHV_RETURN_IF_ERROR(MakeDirs(JoinPath(abs, sub), 0700));
  }
  PHV_RETURN_IF_ERROR(FsyncDir(abs));
  return std::unique_ptr<LocalBackend>(new LocalBackend(abs));
}

Result<std::unique_ptr<ObjectWriter>> LocalBackend::Create(const ObjectName& name) {
  std::string final_path = PathOf(name);
  std::random_device rd;
  std::string tmp_path = final_path + ".tmp-" + std::to_string(getpid()) + "-" +
                         std::to_string(rd()) + std::to_string(rd());
  int flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  UniqueFd fd(open(tmp_path.c_str(), flags, 0600));
  if (!fd.valid() && errno == ENOENT) {
    PHV_RETURN_IF_ERROR(MakeDirs(ParentDir(final_path), 0700));
    fd = UniqueFd(open(tmp_path.c_str(), flags, 0600));
  }
  if (!fd.valid()) return ErrnoToStatus(errno, "create " + tmp_path);
  return std::unique_ptr<ObjectWriter>(
      std::make_unique<LocalWriter>(final_path, std::move(tmp_path), std::move(fd)));
}

Result<std::shared_ptr<UniqueFd>> LocalBackend::OpenForRead(const ObjectName& name) {
  std::string path = PathOf(name);
  {
    std::lock_guard<std::mutex> lock(fd_mu_);
    auto it = fd_cache_.find(path);
    if (it != fd_cache_.end()) {
      fd_lru_.splice(fd_lru_.begin(), fd_lru_, it->second.second);
      return it->second.first;
    }
  }
  auto fd = std::make_shared<UniqueFd>(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd->valid()) {
    return ErrnoToStatus(errno, std::string(ObjectKindName(name.kind)) + " " + name.Path());
  }
  std::lock_guard<std::mutex> lock(fd_mu_);
  if (fd_cache_.count(path) == 0) {
    fd_lru_.push_front(path);
    fd_cache_.emplace(path, std::make_pair(fd, fd_lru_.begin()));
    if (fd_cache_.size() > kFdCacheSize) {
      fd_cache_.erase(fd_lru_.back());
      fd_lru_.pop_back();
    }
  }
  return fd;
}

Status LocalBackend::ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) {
  PHV_ASSIGN_OR_RETURN(std::shared_ptr<UniqueFd> fd, OpenForRead(name));
  return PreadExact(fd->get(), out, offset,
                    std::string(ObjectKindName(name.kind)) + " " + name.Path());
}

Result<Bytes> LocalBackend::ReadAll(const ObjectName& name) {
  PHV_ASSIGN_OR_RETURN(std::shared_ptr<UniqueFd> fd, OpenForRead(name));
  struct stat st;
  if (fstat(fd->get(), &st) != 0) return ErrnoToStatus(errno, "stat " + name.Path());
  Bytes out(static_cast<size_t>(st.st_size));
  PHV_RETURN_IF_ERROR(PreadExact(fd->get(), out, 0, name.Path()));
  return out;
}

Result<ObjectInfo> LocalBackend::Stat(const ObjectName& name) {
  struct stat st;
  if (stat(PathOf(name).c_str(), &st) != 0) {
    return ErrnoToStatus(errno, std::string(ObjectKindName(name.kind)) + " " + name.Path());
  }
  return ObjectInfo{name, static_cast<uint64_t>(st.st_size)};
}

namespace {
Status ListDir(const std::string& dir, ObjectKind kind,
               const std::function<Status(const ObjectInfo&)>& fn) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return OkStatus();
    return ErrnoToStatus(errno, "list " + dir);
  }
  std::vector<std::string> names;
  while (struct dirent* e = readdir(d)) {
    if (IsObjectId(e->d_name)) names.emplace_back(e->d_name);
  }
  closedir(d);
  for (const std::string& id : names) {
    struct stat st;
    if (stat(JoinPath(dir, id).c_str(), &st) != 0) continue;  // removed meanwhile
    PHV_RETURN_IF_ERROR(fn(ObjectInfo{ObjectName{kind, id}, static_cast<uint64_t>(st.st_size)}));
  }
  return OkStatus();
}
}  // namespace

Status LocalBackend::List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) {
  if (kind == ObjectKind::kConfig) {
    auto info = Stat(ObjectName{ObjectKind::kConfig, ""});
    if (!info.ok())
      return info.status().code() == StatusCode::kNotFound ? OkStatus() : info.status();
    return fn(*info);
  }
  std::string top = JoinPath(root_, KindDir(kind));
  if (kind != ObjectKind::kPack) return ListDir(top, kind, fn);
  for (int i = 0; i < 256; ++i) {
    char sub[4];
    snprintf(sub, sizeof sub, "%02x", i);
    PHV_RETURN_IF_ERROR(ListDir(JoinPath(top, sub), kind, fn));
  }
  return OkStatus();
}

Status LocalBackend::Remove(const ObjectName& name) {
  std::string path = PathOf(name);
  {
    std::lock_guard<std::mutex> lock(fd_mu_);
    auto it = fd_cache_.find(path);
    if (it != fd_cache_.end()) {
      fd_lru_.erase(it->second.second);
      fd_cache_.erase(it);
    }
  }
  if (unlink(path.c_str()) != 0) return ErrnoToStatus(errno, "remove " + name.Path());
  return FsyncDir(ParentDir(path));
}

}  // namespace phivault::storage
