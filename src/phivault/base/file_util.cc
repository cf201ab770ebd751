#include "phivault/base/file_util.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <random>
#include <vector>

namespace phivault {

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

Status WriteAll(int fd, ByteSpan data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, std::string("write ") + std::string(what));
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return OkStatus();
}

Status PwriteAll(int fd, ByteSpan data, uint64_t offset, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, std::string("write ") + std::string(what));
    }
    data = data.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return OkStatus();
}

Status PreadExact(int fd, MutableByteSpan out, uint64_t offset, std::string_view what) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, std::string("read ") + std::string(what));
    }
    if (n == 0) return DataLossError(std::string(what) + ": truncated");
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

Result<Bytes> ReadFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, "open " + path);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, "stat " + path);
  Bytes out;
  out.reserve(static_cast<size_t>(st.st_size));
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "read " + path);
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  return out;
}

int OpenDirBeneath(int root, const std::string& rel) {
  struct open_how how = {};
  how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  long fd = syscall(SYS_openat2, root, rel.c_str(), &how, sizeof how);
  if (fd >= 0 || errno != ENOSYS) return static_cast<int>(fd);
  return openat(root, rel.c_str(), static_cast<int>(how.flags));
}

Status FsyncDir(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoToStatus(errno, "open directory " + path);
  if (fsync(fd.get()) != 0) return ErrnoToStatus(errno, "fsync directory " + path);
  return OkStatus();
}

namespace {
std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string TempSuffix() {
  std::random_device rd;
  return ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(rd());
}
}  // namespace

Status WriteFileAtomic(const std::string& path, ByteSpan data, mode_t mode) {
  std::string tmp = path + TempSuffix();
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd.valid()) return ErrnoToStatus(errno, "create " + tmp);
  Status s = WriteAll(fd.get(), data, tmp);
  if (s.ok() && fchmod(fd.get(), mode) != 0) s = ErrnoToStatus(errno, "chmod " + tmp);
  if (s.ok() && fsync(fd.get()) != 0) s = ErrnoToStatus(errno, "fsync " + tmp);
  fd.Reset();
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoToStatus(errno, "rename " + tmp);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(DirName(path));
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return InvalidArgumentError("empty directory path");
  std::string partial;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    partial = path.substr(0, next);
    pos = next + 1;
    if (partial.empty()) continue;
    if (mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
      return ErrnoToStatus(errno, "create directory " + partial);
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat " + path);
  if (!S_ISDIR(st.st_mode)) return FailedPreconditionError(path + " is not a directory");
  return OkStatus();
}

std::string JoinPath(std::string_view a, std::string_view b) {
  std::string out(a);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  if (out.empty()) return std::string(b);
  if (b.empty()) return out;
  if (out != "/") out.push_back('/');
  out.append(b);
  return out;
}

Result<std::string> AbsolutePath(std::string_view path) {
  if (path.empty()) return InvalidArgumentError("empty path");
  std::string full;
  if (path.front() != '/') {
    std::vector<char> cwd(PATH_MAX);
    if (getcwd(cwd.data(), cwd.size()) == nullptr) {
      return ErrnoToStatus(errno, "get working directory");
    }
    full = cwd.data();
    full.push_back('/');
  }
  full.append(path);
  std::vector<std::string_view> parts;
  std::string_view rest(full);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (std::string_view p : parts) {
    out.push_back('/');
    out.append(p);
  }
  return out.empty() ? std::string("/") : out;
}

Result<std::string> ResolvePathPrefix(const std::string& path) {
  PHV_ASSIGN_OR_RETURN(std::string abs, AbsolutePath(path));
  std::string existing = abs;
  std::string tail;
  for (;;) {
    char* resolved = realpath(existing.c_str(), nullptr);
    if (resolved != nullptr) {
      std::string out(resolved);
      free(resolved);
      return tail.empty() ? out : JoinPath(out, tail);
    }
    if (errno != ENOENT && errno != ENOTDIR) return ErrnoToStatus(errno, "resolve " + existing);
    size_t slash = existing.rfind('/');
    if (slash == std::string::npos || existing == "/") return abs;
    std::string last = existing.substr(slash + 1);
    tail = tail.empty() ? last : JoinPath(last, tail);
    existing = slash == 0 ? "/" : existing.substr(0, slash);
  }
}

bool IsPathWithin(std::string_view path, std::string_view dir) {
  if (dir == "/") return true;
  if (path.size() < dir.size() || path.substr(0, dir.size()) != dir) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

std::string HomeDirectory() {
  const char* home = getenv("HOME");
  if (home != nullptr && home[0] != '\0') return home;
  struct passwd* pw = getpwuid(getuid());
  return pw != nullptr && pw->pw_dir != nullptr ? pw->pw_dir : "/";
}

}  // namespace phivault
