#include "phivault/repo/tree.h"

namespace phivault::repo {
namespace {

constexpr uint8_t kTreeVersion = 1;
constexpr uint64_t kMaxNodes = 1u << 26;
constexpr uint64_t kMaxExtents = 1u << 26;

enum Tag : uint64_t {
  kName = 1,
  kType = 2,
  kMode = 3,
  kUid = 4,
  kGid = 5,
  kUser = 6,
  kGroup = 7,
  kSize = 8,
  kMtime = 9,
  kInode = 11,
  kDevice = 12,
  kLinks = 13,
  kTarget = 14,
  kRdev = 15,
  kContent = 16,
  kSubtree = 17,
};

}  // namespace

std::string_view NodeTypeName(NodeType type) {
  switch (type) {
    case NodeType::kFile: return "file";
    case NodeType::kDirectory: return "dir";
    case NodeType::kSymlink: return "symlink";
    case NodeType::kFifo: return "fifo";
    case NodeType::kSocket: return "socket";
    case NodeType::kCharDevice: return "chardev";
    case NodeType::kBlockDevice: return "blockdev";
  }
  return "?";
}

bool IsValidEntryName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

void EncodeExtents(const std::vector<Extent>& extents, Encoder* enc) {
  enc->PutVarint(extents.size());
  for (const Extent& e : extents) {
    enc->PutVarint(e.length << 1 | (e.hole ? 1 : 0));
    if (!e.hole) enc->PutRaw(e.blob.bytes);
  }
}

std::vector<Extent> DecodeExtents(Decoder* dec) {
  std::vector<Extent> out;
  uint64_t count = dec->GetVarintAtMost(kMaxExtents, "extent count");
  for (uint64_t i = 0; i < count && dec->ok(); ++i) {
    uint64_t v = dec->GetVarint();
    Extent e;
    e.length = v >> 1;
    e.hole = (v & 1) != 0;
    if (!e.hole) e.blob = Id::FromSpan(dec->GetRaw(Id::kSize));
    if (e.length == 0 && dec->ok()) dec->Fail("empty extent");
    out.push_back(e);
  }
  return out;
}

Bytes EncodeTree(const std::vector<Node>& nodes) {
  Bytes out;
  Encoder enc(&out);
  enc.PutU8(kTreeVersion);
  enc.PutVarint(nodes.size());
  Bytes rec;
  for (const Node& n : nodes) {
    rec.clear();
    Encoder r(&rec);
    r.PutTagBytes(kName, n.name);
    r.PutTagVarint(kType, static_cast<uint64_t>(n.type));
    r.PutTagVarint(kMode, n.mode);
    r.PutTagVarint(kUid, n.uid);
    r.PutTagVarint(kGid, n.gid);
    if (!n.user.empty()) r.PutTagBytes(kUser, n.user);
    if (!n.group.empty()) r.PutTagBytes(kGroup, n.group);
    uint8_t mtime[12];
    StoreLE64(mtime, static_cast<uint64_t>(n.mtime_sec));
    StoreLE32(mtime + 8, n.mtime_nsec);
    r.PutTagBytes(kMtime, ByteSpan(mtime, 12));
    switch (n.type) {
      case NodeType::kFile: {
        r.PutTagVarint(kSize, n.size);
        if (n.links > 1) {
          r.PutTagVarint(kInode, n.inode);
          r.PutTagVarint(kDevice, n.device);
          r.PutTagVarint(kLinks, n.links);
        }
        Bytes extents;
        Encoder e(&extents);
        EncodeExtents(n.content, &e);
        r.PutTagBytes(kContent, extents);
        break;
      }
      case NodeType::kDirectory: r.PutTagBytes(kSubtree, n.subtree.bytes); break;
      case NodeType::kSymlink: r.PutTagBytes(kTarget, n.target); break;
      case NodeType::kCharDevice:
      case NodeType::kBlockDevice: r.PutTagVarint(kRdev, n.rdev); break;
      case NodeType::kFifo:
      case NodeType::kSocket: break;
    }
    enc.PutBytes(rec);
  }
  return out;
}

namespace {

Status DecodeNode(ByteSpan record, std::string_view what, Node* n) {
  TlvReader r(record, what);
  bool have_name = false, have_type = false, have_mtime = false, have_content = false,
       have_subtree = false;
  while (r.Next()) {
    switch (r.tag()) {
      case kName:
        n->name.assign(AsStringView(r.value()));
        have_name = true;
        break;
      case kType: {
        uint64_t t = r.VarintValue();
        if (t < 1 || t > 7) r.Fail("unknown node type");
        n->type = static_cast<NodeType>(t);
        have_type = true;
        break;
      }
      case kMode: {
        uint64_t m = r.VarintValue();
        if (m > 07777) r.Fail("mode out of range");
        n->mode = static_cast<uint32_t>(m);
        break;
      }
      case kUid: n->uid = static_cast<uint32_t>(r.VarintValue()); break;
      case kGid: n->gid = static_cast<uint32_t>(r.VarintValue()); break;
      case kUser: n->user.assign(AsStringView(r.value())); break;
      case kGroup: n->group.assign(AsStringView(r.value())); break;
      case kSize: n->size = r.VarintValue(); break;
      case kMtime:
        if (r.value().size() != 12) {
          r.Fail("malformed mtime");
          break;
        }
        n->mtime_sec = static_cast<int64_t>(LoadLE64(r.value().data()));
        n->mtime_nsec = LoadLE32(r.value().data() + 8);
        if (n->mtime_nsec >= 1000000000) r.Fail("mtime nanoseconds out of range");
        have_mtime = true;
        break;
      case kInode: n->inode = r.VarintValue(); break;
      case kDevice: n->device = r.VarintValue(); break;
      case kLinks: n->links = r.VarintValue(); break;
      case kTarget: n->target.assign(AsStringView(r.value())); break;
      case kRdev: n->rdev = r.VarintValue(); break;
      case kContent: {
        Decoder d(r.value(), what);
        n->content = DecodeExtents(&d);
        if (!d.Finish().ok()) r.Fail("malformed content list");
        have_content = true;
        break;
      }
      case kSubtree:
        n->subtree = Id::FromSpan(r.value());
        if (r.value().size() != Id::kSize) r.Fail("malformed subtree id");
        have_subtree = true;
        break;
      default: break;
    }
  }
  PHV_RETURN_IF_ERROR(r.status());
  std::string w(what);
  if (!have_name || !IsValidEntryName(n->name)) return DataLossError(w + ": invalid entry name");
  if (!have_type || !have_mtime) return DataLossError(w + ": node lacks type or mtime");
  if (n->type == NodeType::kFile) {
    if (!have_content) return DataLossError(w + ": file without content list");
    uint64_t total = 0;
    for (const Extent& e : n->content) total += e.length;
    if (total != n->size) return DataLossError(w + ": content does not add up to the file size");
  }
  if (n->type == NodeType::kDirectory && !have_subtree) {
    return DataLossError(w + ": directory without subtree");
  }
  return OkStatus();
}

}  // namespace

Result<std::vector<Node>> DecodeTree(ByteSpan blob, std::string_view what) {
  Decoder dec(blob, what);
  if (dec.GetU8() != kTreeVersion && dec.ok()) dec.Fail("unknown tree version");
  uint64_t count = dec.GetVarintAtMost(kMaxNodes, "node count");
  std::vector<Node> nodes;
  nodes.reserve(static_cast<size_t>(std::min<uint64_t>(count, 4096)));
  for (uint64_t i = 0; i < count && dec.ok(); ++i) {
    ByteSpan record = dec.GetBytes();
    if (!dec.ok()) break;
    Node n;
    PHV_RETURN_IF_ERROR(DecodeNode(record, what, &n));
    if (!nodes.empty() && !(nodes.back().name < n.name)) {
      return DataLossError(std::string(what) + ": entries out of order or duplicated");
    }
    nodes.push_back(std::move(n));
  }
  PHV_RETURN_IF_ERROR(dec.Finish());
  return nodes;
}

}  // namespace phivault::repo
