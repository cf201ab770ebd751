// FilesCache: the encrypted, per-repository record of which files a backup has already read
// (doc/format/files-cache.md). A file whose inode, size, mtime and ctime match its entry is not
// read again; its content list is taken from the entry.
//
// The cache is a hint, never a source of truth: a missing, stale or undecryptable cache costs
// only re-reading files. Paths are stored as truncated SHA-256 hashes inside the sealed object,
// so the cache holds no file names even for someone who has the repository's keys.
//
// Thread safety: Lookup may be called from many threads at once while no Record or Save runs;
// Record is safe to call concurrently with itself and with Lookup (it takes a lock).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "phivault/base/status.h"
#include "phivault/repo/repository.h"
#include "phivault/repo/tree.h"

namespace phivault::backup {

using PathHash = std::array<uint8_t, 16>;

struct PathHashHasher {
  size_t operator()(const PathHash& h) const;
};

PathHash HashPath(std::string_view absolute_path);

// What the cache remembers of one file.
struct FileStamp {
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

struct CacheEntry {
  FileStamp stamp;
  uint8_t age = 0;  // backups since the entry was last seen
  std::vector<repo::Extent> content;
};

class FilesCache {
 public:
  // Entries older than this many backups are dropped when the cache is saved.
  static constexpr uint8_t kMaxAge = 20;

  // The default location: $XDG_CACHE_HOME/phivault (~/.cache/phivault).
  static std::string DefaultDir();

  // Loads the cache of `repo` from `cache_dir`/<repository id>/files. A missing file gives an
  // empty cache; a file that fails authentication or decoding is discarded with a warning and
  // also gives an empty cache. Only I/O errors other than "not found" fail.
  static Result<FilesCache> Load(repo::Repository* repo, const std::string& cache_dir);

  // The entry of `path` if its stamp matches and every blob it names is in the repository's
  // index; otherwise nullopt.
  std::optional<std::vector<repo::Extent>> Lookup(const PathHash& path, const FileStamp& stamp,
                                                  const repo::Index& index) const;
  // True when the cache had an entry for `path` (any stamp) when it was loaded.
  bool Knows(const PathHash& path) const { return entries_.count(path) != 0; }

  // Records that `path` was seen in this backup with `stamp` and `content`.
  void Record(const PathHash& path, const FileStamp& stamp, std::vector<repo::Extent> content);

  // Ages entries not seen in this backup, drops the oldest, seals and atomically replaces the
  // cache file.
  Status Save(repo::Repository* repo);

  size_t size() const { return entries_.size(); }

  FilesCache(FilesCache&& other) noexcept;
  FilesCache& operator=(FilesCache&&) = delete;

 private:
  FilesCache() = default;

  std::string path_;
  std::unordered_map<PathHash, CacheEntry, PathHashHasher> entries_;
  std::mutex seen_mu_;
  std::unordered_map<PathHash, CacheEntry, PathHashHasher> seen_;
};

}  // namespace phivault::backup
