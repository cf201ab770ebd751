#include "phivault/repo/snapshot.h"

namespace phivault::repo {
namespace {
constexpr uint8_t kSnapshotVersion = 1;
enum Tag : uint64_t {
  kTime = 1,
  kTree = 2,
  kPath = 3,
  kHost = 4,
  kUser = 5,
  kUid = 6,
  kGid = 7,
  kTagField = 8,
  kExclude = 9,
  kParent = 10,
  kProgram = 11,
  kSummary = 12,
  kEndTime = 13,
  kPartial = 14,
};
enum SummaryTag : uint64_t {
  kFilesNew = 1,
  kFilesChanged = 2,
  kFilesUnchanged = 3,
  kDirs = 4,
  kBytesRead = 5,
  kBytesAdded = 6,
  kBlobsAdded = 7,
  kFilesUnreadable = 8,
  kTotalBytes = 9,
};

void PutI64(Encoder* enc, uint64_t tag, int64_t v) {
  uint8_t b[8];
  StoreLE64(b, static_cast<uint64_t>(v));
  enc->PutTagBytes(tag, ByteSpan(b, 8));
}
}  // namespace

Bytes EncodeSnapshot(const Snapshot& s) {
  Bytes out;
  Encoder enc(&out);
  enc.PutU8(kSnapshotVersion);
  PutI64(&enc, kTime, s.time_ns);
  enc.PutTagBytes(kTree, s.tree.bytes);
  for (const std::string& p : s.paths) enc.PutTagBytes(kPath, p);
  enc.PutTagBytes(kHost, s.host);
  if (!s.user.empty()) enc.PutTagBytes(kUser, s.user);
  if (s.uid) enc.PutTagVarint(kUid, *s.uid);
  if (s.gid) enc.PutTagVarint(kGid, *s.gid);
  for (const std::string& t : s.tags) enc.PutTagBytes(kTagField, t);
  for (const std::string& e : s.excludes) enc.PutTagBytes(kExclude, e);
  if (s.parent) enc.PutTagBytes(kParent, s.parent->bytes);
  if (!s.program.empty()) enc.PutTagBytes(kProgram, s.program);
  Bytes summary;
  Encoder se(&summary);
  const SnapshotSummary& m = s.summary;
  se.PutTagVarint(kFilesNew, m.files_new);
  se.PutTagVarint(kFilesChanged, m.files_changed);
  se.PutTagVarint(kFilesUnchanged, m.files_unchanged);
  se.PutTagVarint(kDirs, m.dirs);
  se.PutTagVarint(kBytesRead, m.bytes_read);
  se.PutTagVarint(kBytesAdded, m.bytes_added);
  se.PutTagVarint(kBlobsAdded, m.blobs_added);
  se.PutTagVarint(kFilesUnreadable, m.files_unreadable);
  se.PutTagVarint(kTotalBytes, m.total_bytes);
  enc.PutTagBytes(kSummary, summary);
  if (s.end_time_ns != 0) PutI64(&enc, kEndTime, s.end_time_ns);
  if (s.partial) enc.PutTagVarint(kPartial, 1);
  return out;
}

namespace {
Status DecodeSummary(ByteSpan value, SnapshotSummary* m) {
  TlvReader r(value, "snapshot summary");
  while (r.Next()) {
    uint64_t v = r.VarintValue();
    switch (r.tag()) {
      case kFilesNew: m->files_new = v; break;
      case kFilesChanged: m->files_changed = v; break;
      case kFilesUnchanged: m->files_unchanged = v; break;
      case kDirs: m->dirs = v; break;
      case kBytesRead: m->bytes_read = v; break;
      case kBytesAdded: m->bytes_added = v; break;
      case kBlobsAdded: m->blobs_added = v; break;
      case kFilesUnreadable: m->files_unreadable = v; break;
      case kTotalBytes: m->total_bytes = v; break;
      default: break;
    }
  }
  return r.status();
}
}  // namespace

Result<Snapshot> DecodeSnapshot(ByteSpan payload, const Id& id) {
  std::string what = "snapshot " + id.Hex();
  if (payload.empty()) return DataLossError(what + ": empty");
  if (payload[0] != kSnapshotVersion) return DataLossError(what + ": unknown snapshot version");
  Snapshot s;
  s.id = id;
  bool have_time = false, have_tree = false, have_host = false;
  TlvReader r(payload.subspan(1), what);
  while (r.Next()) {
    switch (r.tag()) {
      case kTime:
        s.time_ns = r.I64Value();
        have_time = true;
        break;
      case kTree:
        s.tree = Id::FromSpan(r.value());
        have_tree = r.value().size() == Id::kSize;
        break;
      case kPath: s.paths.emplace_back(AsStringView(r.value())); break;
      case kHost:
        s.host.assign(AsStringView(r.value()));
        have_host = true;
        break;
      case kUser: s.user.assign(AsStringView(r.value())); break;
      case kUid: s.uid = static_cast<uint32_t>(r.VarintValue()); break;
      case kGid: s.gid = static_cast<uint32_t>(r.VarintValue()); break;
      case kTagField: s.tags.emplace_back(AsStringView(r.value())); break;
      case kExclude: s.excludes.emplace_back(AsStringView(r.value())); break;
      case kParent:
        if (r.value().size() != Id::kSize) r.Fail("malformed parent id");
        s.parent = Id::FromSpan(r.value());
        break;
      case kProgram: s.program.assign(AsStringView(r.value())); break;
      case kSummary:
        if (!DecodeSummary(r.value(), &s.summary).ok()) r.Fail("malformed summary");
        break;
      case kEndTime: s.end_time_ns = r.I64Value(); break;
      case kPartial: s.partial = r.VarintValue() != 0; break;
      default: break;
    }
  }
  PHV_RETURN_IF_ERROR(r.status());
  if (!have_time || !have_tree || !have_host || s.paths.empty()) {
    return DataLossError(what + ": missing required fields");
  }
  return s;
}

}  // namespace phivault::repo
