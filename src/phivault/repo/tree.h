// Tree blobs (doc/format/tree.md): one directory's entries, their metadata, the content lists of
// its files and the ids of its subdirectories' trees.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "phivault/base/bytes.h"
#include "phivault/base/id.h"
#include "phivault/base/status.h"

namespace phivault::repo {

enum class NodeType : uint8_t {
  kFile = 1,
  kDirectory = 2,
  kSymlink = 3,
  kFifo = 4,
  kSocket = 5,
  kCharDevice = 6,
  kBlockDevice = 7,
};

std::string_view NodeTypeName(NodeType type);

// A run of file content: a stored data blob, or a hole of zeros that is not stored.
struct Extent {
  uint64_t length = 0;
  bool hole = false;
  Id blob;  // when !hole
  friend bool operator==(const Extent&, const Extent&) = default;
};

struct Node {
  std::string name;  // raw bytes, not necessarily UTF-8
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;  // permission bits, at most 07777
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string user;
  std::string group;
  uint64_t size = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint64_t inode = 0;   // files with links > 1
  uint64_t device = 0;  // files with links > 1
  uint64_t links = 1;
  std::string target;           // symlinks
  uint64_t rdev = 0;            // devices
  std::vector<Extent> content;  // files
  Id subtree;                   // directories

  friend bool operator==(const Node&, const Node&) = default;
};

// Encodes the extent list alone (also used by the files cache).
void EncodeExtents(const std::vector<Extent>& extents, Encoder* enc);
std::vector<Extent> DecodeExtents(Decoder* dec);

// Encodes a directory. REQUIRES: nodes sorted by name (unsigned bytes) without duplicates.
Bytes EncodeTree(const std::vector<Node>& nodes);
// Decodes and validates a tree blob. kDataLoss naming `what` when malformed.
Result<std::vector<Node>> DecodeTree(ByteSpan blob, std::string_view what);

// True for names a tree may hold: 1-255 bytes, no '/', no NUL, not "." or "..".
bool IsValidEntryName(std::string_view name);

}  // namespace phivault::repo
