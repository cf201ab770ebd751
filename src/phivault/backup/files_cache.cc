#include "phivault/backup/files_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "phivault/base/file_util.h"
#include "phivault/base/log.h"
#include "phivault/crypto/crypto.h"

namespace phivault::backup {
namespace {

constexpr uint8_t kCacheVersion = 1;
constexpr uint64_t kMaxEntries = 1ull << 32;

Bytes EncodeEntries(const std::vector<std::pair<PathHash, const CacheEntry*>>& sorted) {
  Bytes out;
  Encoder enc(&out);
  enc.PutU8(kCacheVersion);
  enc.PutVarint(sorted.size());
  for (const auto& [hash, e] : sorted) {
    enc.PutRaw(hash);
    enc.PutVarint(e->stamp.inode);
    enc.PutVarint(e->stamp.size);
    enc.PutI64(e->stamp.mtime_ns);
    enc.PutI64(e->stamp.ctime_ns);
    enc.PutU8(e->age);
    repo::EncodeExtents(e->content, &enc);
  }
  return out;
}

Status DecodeEntries(ByteSpan payload,
                     std::unordered_map<PathHash, CacheEntry, PathHashHasher>* out) {
  Decoder dec(payload, "files cache");
  if (dec.GetU8() != kCacheVersion && dec.ok()) dec.Fail("unknown files cache version");
  uint64_t count = dec.GetVarintAtMost(kMaxEntries, "entry count");
  for (uint64_t i = 0; i < count && dec.ok(); ++i) {
    PathHash hash = dec.GetArray<16>();
    CacheEntry e;
    e.stamp.inode = dec.GetVarint();
    e.stamp.size = dec.GetVarint();
    e.stamp.mtime_ns = dec.GetI64();
    e.stamp.ctime_ns = dec.GetI64();
    e.age = dec.GetU8();
    e.content = repo::DecodeExtents(&dec);
    (*out)[hash] = std::move(e);
  }
  return dec.Finish();
}

}  // namespace

size_t PathHashHasher::operator()(const PathHash& h) const {
  uint64_t v;
  std::memcpy(&v, h.data(), sizeof v);
  return static_cast<size_t>(v);
}

PathHash HashPath(std::string_view absolute_path) {
  Id digest = crypto::Sha256(AsBytes(absolute_path));
  PathHash out;
  std::copy_n(digest.bytes.begin(), out.size(), out.begin());
  return out;
}

std::string FilesCache::DefaultDir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return JoinPath(xdg, "phivault");
  return JoinPath(JoinPath(HomeDirectory(), ".cache"), "phivault");
}

FilesCache::FilesCache(FilesCache&& other) noexcept
    : path_(std::move(other.path_)),
      entries_(std::move(other.entries_)),
      seen_(std::move(other.seen_)) {}

Result<FilesCache> FilesCache::Load(repo::Repository* repo, const std::string& cache_dir) {
  FilesCache cache;
  cache.path_ = JoinPath(JoinPath(cache_dir, repo->config().id.Hex()), "files");
  auto raw = ReadFile(cache.path_);
  if (!raw.ok()) {
    if (raw.status().code() == StatusCode::kNotFound) return cache;
    return std::move(raw).status();
  }
  Status s = [&]() -> Status {
    if (raw->size() < repo::kEnvelopeSize) return DataLossError("files cache is truncated");
    PHV_ASSIGN_OR_RETURN(repo::Envelope env, repo::Envelope::Decode(*raw, "files cache"));
    PHV_ASSIGN_OR_RETURN(Bytes payload, repo::OpenBody(repo::ObjectType::kFilesCache, env.object_id,
                                                       *raw, repo->epoch_keys()));
    return DecodeEntries(payload, &cache.entries_);
  }();
  if (!s.ok()) {
    PHV_LOG(kWarning, "discarding the files cache: {}", s.ToString());
    cache.entries_.clear();
  }
  return cache;
}

std::optional<std::vector<repo::Extent>> FilesCache::Lookup(const PathHash& path,
                                                            const FileStamp& stamp,
                                                            const repo::Index& index) const {
  auto it = entries_.find(path);
  if (it == entries_.end() || !(it->second.stamp == stamp)) return std::nullopt;
  for (const repo::Extent& e : it->second.content) {
    if (!e.hole && !index.Contains(e.blob)) return std::nullopt;
  }
  return it->second.content;
}

void FilesCache::Record(const PathHash& path, const FileStamp& stamp,
                        std::vector<repo::Extent> content) {
  std::lock_guard<std::mutex> lock(seen_mu_);
  seen_[path] = CacheEntry{stamp, 0, std::move(content)};
}

Status FilesCache::Save(repo::Repository* repo) {
  for (auto& [hash, entry] : entries_) {
    if (seen_.count(hash) != 0 || entry.age >= kMaxAge) continue;
    CacheEntry aged = std::move(entry);
    ++aged.age;
    seen_.emplace(hash, std::move(aged));
  }
  entries_.clear();
  std::vector<std::pair<PathHash, const CacheEntry*>> sorted;
  sorted.reserve(seen_.size());
  for (const auto& [hash, entry] : seen_) sorted.emplace_back(hash, &entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  Bytes payload = EncodeEntries(sorted);

  PHV_ASSIGN_OR_RETURN(Id id, crypto::RandomId());
  repo::Envelope env{repo::ObjectType::kFilesCache, repo->keys().current_epoch(), id};
  PHV_ASSIGN_OR_RETURN(Bytes sealed,
                       repo::SealBody(env, repo->epoch_keys(), payload, /*compress=*/true));
  std::string dir = path_.substr(0, path_.rfind('/'));
  PHV_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  return WriteFileAtomic(path_, sealed, 0600);
}

}  // namespace phivault::backup
