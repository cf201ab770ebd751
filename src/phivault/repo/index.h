// The blob index: where every blob of the repository lives. Index objects (doc/format/index.md)
// are loaded into one in-memory Index at start; packs written or adopted later are added as they
// are committed.
//
// Memory: an open-addressing table of 64-byte entries keyed by blob id (ids are keyed hashes, so
// their leading bytes hash uniformly), kept below 70% full.
//
// Thread safety: Index is safe for concurrent use; lookups take a shared lock and additions an
// exclusive one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "phivault/base/bytes.h"
#include "phivault/base/id.h"
#include "phivault/base/status.h"
#include "phivault/repo/pack.h"

namespace phivault::repo {

struct PackRecord {
  Id id;
  ObjectType type = ObjectType::kDataPack;
  uint32_t epoch = 0;
  uint64_t frames_end = 0;  // first byte after the last blob frame
};

// Where one blob is: which pack, which frame, and where in the frame's plaintext.
struct BlobLocation {
  uint32_t pack = 0;  // position in the index's pack table
  uint32_t frame_offset = 0;
  uint32_t frame_length = 0;  // stored (sealed) length
  uint32_t frame_raw_length = 0;
  uint32_t offset = 0;  // of the blob in the frame's plaintext
  uint32_t length = 0;
  Codec codec = Codec::kNone;
  BlobType type = BlobType::kData;
};

// One pack as an index object lists it.
struct IndexedPack {
  Id id;
  ObjectType type = ObjectType::kDataPack;
  uint32_t epoch = 0;
  PackContents contents;
};

Bytes EncodeIndexPayload(const std::vector<IndexedPack>& packs);
// kDataLoss naming `what` when malformed.
Result<std::vector<IndexedPack>> DecodeIndexPayload(ByteSpan payload, std::string_view what);

class Index {
 public:
  Index();

  // Adds the blobs of a pack. A pack added twice is ignored; a blob already indexed in another
  // pack keeps its first location. kDataLoss if the pack's frames overflow 32-bit offsets.
  Status AddPack(const IndexedPack& pack);

  std::optional<BlobLocation> Find(const Id& blob_id) const;
  bool Contains(const Id& blob_id) const { return Find(blob_id).has_value(); }
  bool HasPack(const Id& pack_id) const;
  PackRecord pack(uint32_t position) const;

  size_t blob_count() const;
  size_t pack_count() const;
  // Calls `fn` for every pack record.
  void ForEachPack(const std::function<void(const PackRecord&)>& fn) const;
  // Calls `fn` for every blob (in no particular order).
  void ForEachBlob(const std::function<void(const Id&, const BlobLocation&)>& fn) const;

 private:
  struct Entry {
    Id id;
    BlobLocation loc;
  };
  static constexpr uint32_t kEmpty = UINT32_MAX;

  void InsertLocked(const Id& id, const BlobLocation& loc);
  void GrowLocked();

  mutable std::shared_mutex mu_;
  std::vector<Entry> table_;
  size_t count_ = 0;
  std::vector<PackRecord> packs_;
  std::unordered_map<Id, uint32_t, IdHash> pack_positions_;
};

}  // namespace phivault::repo
