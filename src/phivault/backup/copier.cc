#include "phivault/backup/copier.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "phivault/backup/archiver.h"
#include "phivault/base/log.h"
#include "phivault/repo/tree.h"

namespace phivault::backup {

Copier::Copier(repo::Repository* source, repo::Repository* target, CopyOptions options)
    : source_(source), target_(target), options_(std::move(options)) {}

Status Copier::CollectTrees(const Id& root, std::vector<Id>* blobs) {
  std::unique_ptr<repo::BlobReader> reader = source_->NewBlobReader();
  std::unordered_set<Id, IdHash> wanted;
  std::vector<Id> stack = {root};
  while (!stack.empty()) {
    Id id = stack.back();
    stack.pop_back();
    if (trees_.count(id) != 0 || tree_map_.count(id) != 0) continue;
    PHV_ASSIGN_OR_RETURN(ByteSpan raw, reader->Load(id, repo::BlobType::kTree));
    PHV_ASSIGN_OR_RETURN(std::vector<repo::Node> nodes, repo::DecodeTree(raw, "tree " + id.Hex()));
    for (const repo::Node& n : nodes) {
      if (n.type == repo::NodeType::kDirectory) stack.push_back(n.subtree);
      for (const repo::Extent& e : n.content) {
        if (!e.hole && data_map_.count(e.blob) == 0 && wanted.insert(e.blob).second) {
          blobs->push_back(e.blob);
        }
      }
    }
    trees_.emplace(id, std::move(nodes));
  }
  return OkStatus();
}

Status Copier::CopyBlobs(const std::vector<Id>& blobs, CopyResult* result) {
  unsigned threads = options_.threads;
  if (threads == 0) {
    // Two per core hide the source's read latency; more would open more pack writers in the
    // target, each buffering up to a pack (32 MiB) in memory when the target is S3.
    threads = 2 * std::max(1u, std::thread::hardware_concurrency());
  }
  threads = static_cast<unsigned>(std::min<size_t>(threads, std::max<size_t>(blobs.size(), 1)));
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first;
  auto work = [&] {
    std::unique_ptr<repo::BlobReader> reader = source_->NewBlobReader();
    auto hasher = target_->NewHasher();
    if (!hasher.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      if (first.ok()) first = hasher.status();
      return;
    }
    for (size_t i; (i = next.fetch_add(1)) < blobs.size();) {
      if (options_.cancel != nullptr && options_.cancel->load()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = CancelledError("copy interrupted; no snapshot was written");
        return;
      }
      Status s = [&]() -> Status {
        PHV_ASSIGN_OR_RETURN(ByteSpan data, reader->Load(blobs[i], repo::BlobType::kData));
        PHV_ASSIGN_OR_RETURN(Id id, (*hasher)->Compute(repo::BlobType::kData, data));
        PHV_ASSIGN_OR_RETURN(bool stored, target_->SaveBlob(repo::BlobType::kData, id, data));
        std::lock_guard<std::mutex> lock(mu);
        data_map_[blobs[i]] = id;
        ++result->blobs_read;
        if (stored) {
          ++result->blobs_stored;
          result->bytes_stored += data.size();
        }
        return OkStatus();
      }();
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = s;
        next.store(blobs.size());
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return first;
}

Result<Id> Copier::RewriteTree(const Id& tree, repo::BlobIdHasher* hasher, CopyResult* result) {
  if (auto done = tree_map_.find(tree); done != tree_map_.end()) return done->second;
  auto it = trees_.find(tree);
  if (it == trees_.end()) return InternalError("tree " + tree.Hex() + " was not collected");
  std::vector<repo::Node> nodes = it->second;
  for (repo::Node& n : nodes) {
    if (n.type == repo::NodeType::kDirectory) {
      PHV_ASSIGN_OR_RETURN(n.subtree, RewriteTree(n.subtree, hasher, result));
    }
    for (repo::Extent& e : n.content) {
      if (e.hole) continue;
      auto mapped = data_map_.find(e.blob);
      if (mapped == data_map_.end()) return InternalError("blob " + e.blob.Hex() + " not copied");
      e.blob = mapped->second;
    }
  }
  Bytes encoded = repo::EncodeTree(nodes);
  PHV_ASSIGN_OR_RETURN(Id id, hasher->Compute(repo::BlobType::kTree, encoded));
  PHV_RETURN_IF_ERROR(target_->SaveBlob(repo::BlobType::kTree, id, encoded).status());
  ++result->trees;
  tree_map_.emplace(tree, id);
  trees_.erase(tree);
  return id;
}

Result<CopyResult> Copier::Copy(const repo::Snapshot& snapshot) {
  const auto started = std::chrono::steady_clock::now();
  CopyResult result;
  PHV_ASSIGN_OR_RETURN(std::vector<repo::Snapshot> existing, target_->LoadSnapshots());
  for (const repo::Snapshot& s : existing) {
    if (s.time_ns == snapshot.time_ns && s.host == snapshot.host && s.paths == snapshot.paths) {
      result.already_present = true;
      result.target_snapshot = s.id;
      return result;
    }
  }
  std::vector<Id> blobs;
  PHV_RETURN_IF_ERROR(CollectTrees(snapshot.tree, &blobs));
  PHV_RETURN_IF_ERROR(CopyBlobs(blobs, &result));
  PHV_ASSIGN_OR_RETURN(auto hasher, target_->NewHasher());
  repo::Snapshot copy = snapshot;
  PHV_ASSIGN_OR_RETURN(copy.tree, RewriteTree(snapshot.tree, hasher.get(), &result));
  PHV_RETURN_IF_ERROR(target_->Flush());
  // The parent is a source snapshot id, meaningless in the target; the newest copy of the same
  // host and paths is the parent there.
  copy.parent.reset();
  for (auto it = existing.rbegin(); it != existing.rend(); ++it) {
    if (it->host == copy.host && it->paths == copy.paths && it->time_ns < copy.time_ns) {
      copy.parent = it->id;
      break;
    }
  }
  PHV_RETURN_IF_ERROR(KeepRepositoryLocked(target_, options_.cache_dir, true));
  PHV_RETURN_IF_ERROR(target_->SaveSnapshot(&copy));
  result.target_snapshot = copy.id;
  result.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  PHV_LOG(kInfo, "copied snapshot {} as {}: {} blobs read, {} stored, {} trees",
          snapshot.id.ShortHex(), copy.id.ShortHex(), result.blobs_read, result.blobs_stored,
          result.trees);
  return result;
}

}  // namespace phivault::backup
