#include "phivault/repo/index.h"

#include <mutex>

namespace phivault::repo {
namespace {
constexpr uint8_t kIndexVersion = 1;
constexpr uint64_t kMaxPacksPerIndex = 1u << 24;
}  // namespace

Bytes EncodeIndexPayload(const std::vector<IndexedPack>& packs) {
  Bytes out;
  Encoder enc(&out);
  enc.PutU8(kIndexVersion);
  enc.PutVarint(packs.size());
  for (const IndexedPack& p : packs) {
    enc.PutRaw(p.id.bytes);
    enc.PutU8(static_cast<uint8_t>(p.type));
    enc.PutU32(p.epoch);
    p.contents.Encode(&enc);
  }
  return out;
}

Result<std::vector<IndexedPack>> DecodeIndexPayload(ByteSpan payload, std::string_view what) {
  Decoder dec(payload, what);
  if (dec.GetU8() != kIndexVersion && dec.ok()) dec.Fail("unknown index version");
  uint64_t count = dec.GetVarintAtMost(kMaxPacksPerIndex, "pack count");
  std::vector<IndexedPack> packs;
  for (uint64_t i = 0; i < count && dec.ok(); ++i) {
    IndexedPack p;
    p.id = Id::FromSpan(dec.GetRaw(Id::kSize));
    uint8_t type = dec.GetU8();
    if (dec.ok() && type != static_cast<uint8_t>(ObjectType::kDataPack) &&
        type != static_cast<uint8_t>(ObjectType::kTreePack)) {
      dec.Fail("not a pack type");
    }
    p.type = static_cast<ObjectType>(type);
    p.epoch = dec.GetU32();
    p.contents = PackContents::Decode(&dec, p.type);
    packs.push_back(std::move(p));
  }
  PHV_RETURN_IF_ERROR(dec.Finish());
  return packs;
}

Index::Index() : table_(1024) {
  for (Entry& e : table_) e.loc.pack = kEmpty;
}

Status Index::AddPack(const IndexedPack& pack) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (pack_positions_.count(pack.id) != 0) return OkStatus();
  uint64_t end = pack.contents.FramesEnd();
  if (end > UINT32_MAX) return DataLossError("pack " + pack.id.Hex() + " is larger than 4 GiB");
  uint32_t position = static_cast<uint32_t>(packs_.size());
  packs_.push_back(PackRecord{pack.id, pack.type, pack.epoch, end});
  pack_positions_.emplace(pack.id, position);
  uint64_t frame_offset = kEnvelopeSize;
  for (const PackFrame& f : pack.contents.frames) {
    uint32_t in_frame = 0;
    for (const PackBlob& b : f.blobs) {
      BlobLocation loc{position,        static_cast<uint32_t>(frame_offset),
                       f.stored_length, f.raw_length,
                       in_frame,        b.length,
                       f.codec,         b.type};
      InsertLocked(b.id, loc);
      in_frame += b.length;
    }
    frame_offset += f.stored_length;
  }
  return OkStatus();
}

void Index::InsertLocked(const Id& id, const BlobLocation& loc) {
  if ((count_ + 1) * 10 > table_.size() * 7) GrowLocked();
  size_t mask = table_.size() - 1;
  size_t i = IdHash()(id) & mask;
  while (table_[i].loc.pack != kEmpty) {
    if (table_[i].id == id) return;  // first location wins
    i = (i + 1) & mask;
  }
  table_[i] = Entry{id, loc};
  ++count_;
}

void Index::GrowLocked() {
  std::vector<Entry> old = std::move(table_);
  table_.assign(old.size() * 2, Entry{});
  for (Entry& e : table_) e.loc.pack = kEmpty;
  count_ = 0;
  for (const Entry& e : old) {
    if (e.loc.pack != kEmpty) InsertLocked(e.id, e.loc);
  }
}

std::optional<BlobLocation> Index::Find(const Id& blob_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  size_t mask = table_.size() - 1;
  size_t i = IdHash()(blob_id) & mask;
  while (table_[i].loc.pack != kEmpty) {
    if (table_[i].id == blob_id) return table_[i].loc;
    i = (i + 1) & mask;
  }
  return std::nullopt;
}

bool Index::HasPack(const Id& pack_id) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return pack_positions_.count(pack_id) != 0;
}

PackRecord Index::pack(uint32_t position) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return packs_.at(position);
}

size_t Index::blob_count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return count_;
}

size_t Index::pack_count() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return packs_.size();
}

void Index::ForEachPack(const std::function<void(const PackRecord&)>& fn) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (const PackRecord& p : packs_) fn(p);
}

void Index::ForEachBlob(const std::function<void(const Id&, const BlobLocation&)>& fn) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  for (const Entry& e : table_) {
    if (e.loc.pack != kEmpty) fn(e.id, e.loc);
  }
}

}  // namespace phivault::repo
