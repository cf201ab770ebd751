// Backend: where a repository's objects live. A backend stores named, immutable byte strings and
// knows nothing of what they mean (that is the repo layer's business); the naming scheme is the
// repository layout of doc/format/repository.md.
//
// Semantics every implementation guarantees (tested by storage/backend_conformance_test.cc):
//
//   - Create-only. Save and ObjectWriter::Commit make an object visible under its name
//     atomically and durably, and fail with kAlreadyExists if the name is taken; an existing
//     object is never replaced or modified.
//   - All or nothing. A reader sees either no object or the complete object: a writer that is
//     aborted, fails or is killed leaves nothing visible under the final name.
//   - Exact reads. Read returns exactly the requested range; a range beyond the end of the object
//     is kDataLoss ("truncated"); a missing object is kNotFound.
//   - Listing returns every committed object of a kind, in no particular order, and never a
//     partial or temporary one.
//   - Errors: kNotFound, kAlreadyExists, kPermissionDenied, kResourceExhausted (disk full),
//     kDataLoss (short object, I/O error), kUnavailable (transient; see IsRetryable).
//
// Thread safety: all Backend methods may be called concurrently. An ObjectWriter is used by one
// thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "phivault/base/bytes.h"
#include "phivault/base/status.h"

namespace phivault::storage {

enum class ObjectKind : uint8_t {
  kConfig,
  kPack,
  kIndex,
  kSnapshot,
};

// The name of one object. `id` is 64 lowercase hex digits, and empty for the config.
struct ObjectName {
  ObjectKind kind = ObjectKind::kConfig;
  std::string id;

  // The object's path in the layout, e.g. "data/3f/3fa4…" or "config".
  std::string Path() const;
  friend bool operator==(const ObjectName&, const ObjectName&) = default;
};

// Kind name for messages: "pack", "index", "snapshot", "config".
std::string_view ObjectKindName(ObjectKind kind);
// True if `id` has the form of an object id (64 lowercase hex digits).
bool IsObjectId(std::string_view id);

struct ObjectInfo {
  ObjectName name;
  uint64_t size = 0;
};

// Streams the bytes of one new object. Nothing is visible until Commit succeeds; destroying an
// uncommitted writer discards what was written.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  // Appends `data`. May block on I/O.
  virtual Status Append(ByteSpan data) = 0;
  // Makes the object durable and visible. kAlreadyExists if the name was taken meanwhile.
  // After Commit (successful or not) the writer accepts no more calls.
  virtual Status Commit() = 0;
  // Bytes appended so far.
  virtual uint64_t size() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Where the repository is, for messages ("/srv/backup/repo").
  virtual std::string Location() const = 0;

  // Creates `name` with content `data` (create-only, atomic, durable).
  virtual Status Save(const ObjectName& name, ByteSpan data);
  // Starts a new object; see ObjectWriter.
  virtual Result<std::unique_ptr<ObjectWriter>> Create(const ObjectName& name) = 0;

  // Reads `out.size()` bytes at `offset` of `name` into `out`.
  virtual Status ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) = 0;
  // Reads the whole object.
  virtual Result<Bytes> ReadAll(const ObjectName& name) = 0;
  virtual Result<ObjectInfo> Stat(const ObjectName& name) = 0;
  // Calls `fn` for every committed object of `kind`; stops at and returns the first error `fn`
  // returns.
  virtual Status List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) = 0;
  // Deletes `name`. kNotFound if it does not exist.
  virtual Status Remove(const ObjectName& name) = 0;
};

}  // namespace phivault::storage
