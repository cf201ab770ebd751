// Small POSIX file helpers used by several components: an owning file descriptor, whole-file
// reads, crash-safe whole-file writes, directory creation and path arithmetic.
//
// All functions report failures as Status values built with ErrnoToStatus; messages name the
// path given by the caller, so callers must not pass paths that are themselves sensitive into
// the diagnostic log (the messages are meant for user output).
//
// Thread safety: the functions are safe to call concurrently on different paths.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>

#include "phivault/base/bytes.h"
#include "phivault/base/status.h"

namespace phivault {

// Owns a file descriptor and closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset();

 private:
  int fd_ = -1;
};

// Reads the whole file at `path`.
Result<Bytes> ReadFile(const std::string& path);

// Writes `data` to `fd` completely, retrying short writes and EINTR.
Status WriteAll(int fd, ByteSpan data, std::string_view what);
// Writes `data` to `fd` at `offset` completely, retrying short writes and EINTR.
Status PwriteAll(int fd, ByteSpan data, uint64_t offset, std::string_view what);
// Reads exactly `out.size()` bytes at `offset`. A short read is kDataLoss ("truncated").
Status PreadExact(int fd, MutableByteSpan out, uint64_t offset, std::string_view what);

// Writes `data` to `path` so that after a crash the file holds either its old content or all of
// `data`: a temporary file in the same directory is written, flushed, renamed over `path`, and
// the directory is flushed. The file gets `mode`.
Status WriteFileAtomic(const std::string& path, ByteSpan data, mode_t mode);

// Creates `path` and its missing parents with `mode`. Existing directories are left as they are.
Status MakeDirs(const std::string& path, mode_t mode);

// Opens directory `rel` below the directory open at `root` without following a symlink anywhere
// on the way, and without leaving `root` through "..": openat2 with RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS. On kernels before 5.6 (no openat2) a symlink is refused only as the last
// component. Returns the new descriptor, or -1 with errno set (ELOOP for a symlink, EXDEV for a
// path that leaves `root`).
int OpenDirBeneath(int root, const std::string& rel);

// Flushes a directory so that renames and creations inside it are durable.
Status FsyncDir(const std::string& path);

// Joins two path parts with exactly one '/'.
std::string JoinPath(std::string_view a, std::string_view b);

// Makes `path` absolute against the working directory and removes "." and ".." components and
// duplicate slashes, without resolving symlinks.
Result<std::string> AbsolutePath(std::string_view path);

// Resolves symlinks in the longest existing prefix of `path` and appends the rest, so a path
// that does not exist yet can be compared with one that does.
Result<std::string> ResolvePathPrefix(const std::string& path);

// True when `path` is `dir` or lies below it. Both must be normalised absolute paths.
bool IsPathWithin(std::string_view path, std::string_view dir);

// $HOME, or the password database's home directory of the current user.
std::string HomeDirectory();

}  // namespace phivault
