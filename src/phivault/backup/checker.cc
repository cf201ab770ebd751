#include "phivault/backup/checker.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "phivault/backup/tree_walk.h"
#include "phivault/repo/pack.h"

namespace phivault::backup {
namespace {

storage::ObjectName PackName(const Id& id) { return {storage::ObjectKind::kPack, id.Hex()}; }

class CheckRun {
 public:
  CheckRun(repo::Repository* repo, const CheckOptions& options, CheckProgress* progress)
      : repo_(repo), options_(options), progress_(progress) {}

  Result<CheckReport> Run();

 private:
  void Problem(std::string object, Status error);
  void CheckIndexedPacks();
  void CheckSnapshots();
  void CheckSnapshotTree(const repo::Snapshot& snap, repo::BlobReader* reader);
  void ReadPacks();
  Status ReadPack(const Id& id, uint64_t size, repo::BlobIdHasher* hasher,
                  repo::Decompressor* decompressor);

  repo::Repository* repo_;
  const CheckOptions& options_;
  CheckProgress* progress_;
  std::map<Id, uint64_t> pack_sizes_;
  std::unordered_set<Id, IdHash> trees_seen_;
  std::unordered_set<Id, IdHash> blobs_seen_;
  std::mutex mu_;
  CheckReport report_;
};

void CheckRun::Problem(std::string object, Status error) {
  std::lock_guard<std::mutex> lock(mu_);
  report_.problems.push_back(CheckProblem{std::move(object), std::move(error)});
}

void CheckRun::CheckIndexedPacks() {
  for (const storage::ObjectInfo& info : repo_->listed_packs()) {
    auto id = Id::FromHex(info.name.id);
    if (id.ok()) pack_sizes_[*id] = info.size;
  }
  report_.packs = pack_sizes_.size();
  report_.unindexed_packs = repo_->unindexed_packs().size();
  for (const auto& [id, status] : repo_->bad_indexes()) Problem("index " + id.Hex(), status);
  repo_->index().ForEachPack([&](const repo::PackRecord& p) {
    auto it = pack_sizes_.find(p.id);
    if (it == pack_sizes_.end()) {
      Problem("pack " + p.id.Hex(), NotFoundError("listed in the index but missing"));
    } else if (it->second < p.frames_end + repo::kFrameOverhead + repo::kPackTrailerSize) {
      Problem("pack " + p.id.Hex(),
              DataLossError("truncated: " + std::to_string(it->second) +
                            " bytes, the index needs more than " + std::to_string(p.frames_end)));
    }
  });
}

void CheckRun::CheckSnapshotTree(const repo::Snapshot& snap, repo::BlobReader* reader) {
  const repo::Index& index = repo_->index();
  std::string what = "snapshot " + snap.id.Hex();
  if (!trees_seen_.insert(snap.tree).second) return;
  ++report_.trees;
  Status s = WalkTree(
      reader, snap.tree, [&](const std::string&, const repo::Node& node) -> Result<WalkAction> {
        if (node.type == repo::NodeType::kDirectory) {
          if (!trees_seen_.insert(node.subtree).second) return WalkAction::kSkipSubtree;
          ++report_.trees;
          if (!index.Contains(node.subtree)) {
            return NotFoundError("tree blob " + node.subtree.Hex() + " is not in the index");
          }
        }
        for (const repo::Extent& e : node.content) {
          if (e.hole || !blobs_seen_.insert(e.blob).second) continue;
          if (!index.Contains(e.blob)) {
            Problem(what, NotFoundError("data blob " + e.blob.Hex() + " is not in the index"));
          }
        }
        return WalkAction::kContinue;
      });
  if (!s.ok()) Problem(what, std::move(s));
}

void CheckRun::CheckSnapshots() {
  std::vector<std::pair<Id, Status>> bad;
  auto snaps = repo_->LoadSnapshots(&bad);
  for (auto& [id, status] : bad) Problem("snapshot " + id.Hex(), status);
  if (!snaps.ok()) {
    Problem("snapshots", snaps.status());
    return;
  }
  report_.snapshots = snaps->size();
  auto reader = repo_->NewBlobReader();
  for (const repo::Snapshot& snap : *snaps) CheckSnapshotTree(snap, reader.get());
  report_.data_blobs = blobs_seen_.size();
}

Status CheckRun::ReadPack(const Id& id, uint64_t size, repo::BlobIdHasher* hasher,
                          repo::Decompressor* decompressor) {
  PHV_ASSIGN_OR_RETURN(repo::PackHeaderInfo info, repo_->ReadPackHeader(id, size));
  PHV_ASSIGN_OR_RETURN(auto cipher, repo::ObjectCipher::Create(info.envelope, repo_->epoch_keys()));
  Bytes sealed, scratch, plain;
  uint64_t offset = repo::kEnvelopeSize;
  uint64_t blobs = 0;
  for (const repo::PackFrame& f : info.contents.frames) {
    sealed.resize(f.stored_length);
    PHV_RETURN_IF_ERROR(repo_->backend()->ReadAt(PackName(id), offset, sealed));
    Status s = repo::OpenBlobFrame(cipher.get(), offset, sealed, f.codec, f.raw_length,
                                   decompressor, &scratch, &plain);
    if (!s.ok()) return std::move(s).WithContext("frame at offset " + std::to_string(offset));
    size_t in = 0;
    for (const repo::PackBlob& b : f.blobs) {
      PHV_ASSIGN_OR_RETURN(Id actual,
                           hasher->Compute(b.type, ByteSpan(plain).subspan(in, b.length)));
      if (actual != b.id) {
        return DataLossError("blob " + b.id.Hex() + " at frame offset " + std::to_string(offset) +
                             ": content does not match its id");
      }
      in += b.length;
      ++blobs;
    }
    offset += f.stored_length;
    progress_->bytes_done.fetch_add(f.stored_length, std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(mu_);
  report_.blobs_verified += blobs;
  report_.bytes_read += size;
  ++report_.packs_read;
  return OkStatus();
}

void CheckRun::ReadPacks() {
  std::vector<std::pair<Id, uint64_t>> packs(pack_sizes_.begin(), pack_sizes_.end());
  progress_->packs_total.store(packs.size());
  std::atomic<size_t> next{0};
  unsigned threads = options_.threads;
  if (threads == 0) {
    threads = std::max(std::max(1u, std::thread::hardware_concurrency()),
                       repo_->backend()->PreferredConcurrency());
  }
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      auto hasher = repo_->NewHasher();
      if (!hasher.ok()) {
        Problem("check", hasher.status());
        return;
      }
      repo::Decompressor decompressor;
      for (size_t i = next.fetch_add(1); i < packs.size(); i = next.fetch_add(1)) {
        Status s = ReadPack(packs[i].first, packs[i].second, hasher->get(), &decompressor);
        if (!s.ok()) Problem("pack " + packs[i].first.Hex(), std::move(s));
        progress_->packs_done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& w : workers) w.join();
}

Result<CheckReport> CheckRun::Run() {
  const auto started = std::chrono::steady_clock::now();
  PHV_RETURN_IF_ERROR(repo_->LoadIndex(/*adopt=*/false));
  report_.indexes = repo_->listed_indexes();
  CheckIndexedPacks();
  CheckSnapshots();
  if (options_.read_data) ReadPacks();
  std::sort(report_.problems.begin(), report_.problems.end(),
            [](const CheckProblem& a, const CheckProblem& b) { return a.object < b.object; });
  report_.duration_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return std::move(report_);
}

}  // namespace

Result<CheckReport> Checker::Run(const CheckOptions& options) {
  CheckRun run(repo_, options, &progress_);
  return run.Run();
}

}  // namespace phivault::backup
