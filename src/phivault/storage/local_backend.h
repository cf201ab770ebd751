// LocalBackend: a repository in a directory of a local (or mounted) file system, laid out as
// doc/format/repository.md describes.
//
// New objects are written to a temporary file next to their final name (`NAME.tmp-PID-RANDOM`),
// flushed with fdatasync, moved into place with renameat2(RENAME_NOREPLACE) (falling back to
// link + unlink on file systems without it), and the directory is flushed, so a crash leaves
// either nothing or the complete object. Reads use pread on file descriptors kept in a small
// cache, because a restore reads many blobs from the same packs.
//
// Thread safety: safe for concurrent use, as Backend requires.
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "phivault/base/file_util.h"
#include "phivault/storage/backend.h"

namespace phivault::storage {

class LocalBackend : public Backend {
 public:
  // Opens the repository directory `root`. kNotFound tagged kRepositoryMissing if it does not
  // exist or is not a directory.
  static Result<std::unique_ptr<LocalBackend>> Open(const std::string& root);
  // Creates `root` (mode 0700) and the layout's directories. Refuses (kAlreadyExists) a directory
  // that already holds a config, and (kFailedPrecondition) a non-empty directory that does not.
  static Result<std::unique_ptr<LocalBackend>> Create(const std::string& root);

  std::string Location() const override { return root_; }
  Result<std::unique_ptr<ObjectWriter>> Create(const ObjectName& name) override;
  Status ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) override;
  Result<Bytes> ReadAll(const ObjectName& name) override;
  Result<ObjectInfo> Stat(const ObjectName& name) override;
  Status List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) override;
  Status Remove(const ObjectName& name) override;

  // The absolute path of `name`'s file.
  std::string PathOf(const ObjectName& name) const { return JoinPath(root_, name.Path()); }

 private:
  explicit LocalBackend(std::string root) : root_(std::move(root)) {}
  // An open read-only descriptor for `name`, from the cache when possible. The descriptor is
  // shared because a reader may still be using it when another thread evicts it from the cache.
  Result<std::shared_ptr<UniqueFd>> OpenForRead(const ObjectName& name);

  const std::string root_;
  std::mutex fd_mu_;
  std::list<std::string> fd_lru_;  // most recently used first
  std::unordered_map<std::string,
                     std::pair<std::shared_ptr<UniqueFd>, std::list<std::string>::iterator>>
      fd_cache_;
};

}  // namespace phivault::storage
