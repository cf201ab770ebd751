// Snapshot objects (doc/format/snapshot.md): the record of one backup and its commit point.
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "phivault/base/bytes.h"
#include "phivault/base/id.h"
#include "phivault/base/status.h"

namespace phivault::repo {

struct SnapshotSummary {
  uint64_t files_new = 0;
  uint64_t files_changed = 0;
  uint64_t files_unchanged = 0;
  uint64_t dirs = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_added = 0;
  uint64_t blobs_added = 0;
  uint64_t files_unreadable = 0;
  uint64_t total_bytes = 0;
  friend bool operator==(const SnapshotSummary&, const SnapshotSummary&) = default;
};

struct Snapshot {
  Id id;  // the object id; not part of the payload
  int64_t time_ns = 0;
  Id tree;
  std::vector<std::string> paths;
  std::string host;
  std::string user;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::vector<std::string> tags;
  std::vector<std::string> excludes;
  std::optional<Id> parent;
  std::string program;
  SnapshotSummary summary;
  int64_t end_time_ns = 0;
  bool partial = false;
};

Bytes EncodeSnapshot(const Snapshot& snapshot);
// Decodes a payload; `id` becomes the result's id. kDataLoss when malformed.
Result<Snapshot> DecodeSnapshot(ByteSpan payload, const Id& id);

}  // namespace phivault::repo
