// Backend: where a repository's objects live. A backend stores named, immutable byte strings and
// knows nothing of what they mean (that is the repo layer's business); the naming scheme is the
// repository layout of doc/format/repository.md.
//
// Semantics every implementation guarantees (tested by storage/backend_conformance_test.cc):
//
//   - Create-only. Save and ObjectWriter::Commit make an object visible under its name
//     atomically and durably, and fail with kAlreadyExists if the name is taken; an existing
//     object is never replaced or modified. A Commit that failed with a retryable error (see
//     IsRetryable) may be called again; it then succeeds only if the object holds exactly the
//     bytes appended, whether they landed on the first attempt or on this one.
//   - All or nothing. A reader sees either no object or the complete object: a writer that is
//     aborted, fails or is killed leaves nothing visible under the final name.
//   - Exact reads. Read returns exactly the requested range; a range beyond the end of the object
//     is kDataLoss ("truncated"); a missing object is kNotFound.
//   - Listing returns every committed object of a kind, in no particular order, and never a
//     partial or temporary one.
//   - Retention (optional; S3 Object Lock). Once EnableRetention succeeded, every object created
//     is locked until LockedUntilFor(policy, creation time), ExtendRetention moves locks later
//     (never earlier), and Remove refuses a locked object with kFailedPrecondition tagged
//     kRetention.
//     Backends that cannot lock objects refuse EnableRetention with kFailedPrecondition.
//   - Errors: kNotFound, kAlreadyExists, kPermissionDenied, kResourceExhausted (disk full),
//     kDataLoss (short object, I/O error), kUnavailable (transient; see IsRetryable),
//     kUnauthenticated tagged kStorageAuth (credentials refused), kFailedPrecondition tagged kTls
//     (the server's TLS or certificate is not acceptable).
//
// Thread safety: all Backend methods may be called concurrently. An ObjectWriter is used by one
// thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
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
  kDrill,            // signed restore-drill records
  kAuditCheckpoint,  // signed checkpoints of the local audit trail
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

using SystemTime = std::chrono::system_clock::time_point;

// How objects are locked against deletion and overwrite (S3 Object Lock's two modes). In
// compliance mode nobody, not even the storage account's owner, can shorten a lock; in governance
// mode a specially privileged user can.
enum class RetentionMode : uint8_t {
  kCompliance,
  kGovernance,
};

// "compliance" or "governance".
std::string_view RetentionModeName(RetentionMode mode);
// Parses the names above; kInvalidArgument otherwise.
Result<RetentionMode> ParseRetentionMode(std::string_view name);

struct RetentionPolicy {
  uint32_t days = 0;  // 0: objects are not locked
  RetentionMode mode = RetentionMode::kCompliance;
  bool enabled() const { return days > 0; }
};

// How long a new object is locked: one and a half lock periods. The repository extends locks
// in steps of half a period (Repository::KeepPacksLocked), so every object stays locked for at
// least `days` after the last snapshot that uses it, and a freshly written object needs no
// extension for half a period.
SystemTime LockedUntilFor(const RetentionPolicy& policy, SystemTime created);

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
  // Deletes `name`. kNotFound if it does not exist; kFailedPrecondition tagged kRetention while
  // it is locked.
  virtual Status Remove(const ObjectName& name) = 0;

  // How many requests the backend serves well in parallel; readers size their thread pools by it.
  // 0: no preference (local storage).
  virtual unsigned PreferredConcurrency() const { return 0; }

  // --- retention (optional) ----------------------------------------------------------------
  // Locks every object created from now on under `policy`. The default refuses: this storage
  // cannot lock objects.
  virtual Status EnableRetention(const RetentionPolicy& policy);
  // The policy enabled, or a disabled one.
  virtual RetentionPolicy retention() const { return {}; }
  // The time until which `name` is locked (the epoch when it is not locked).
  virtual Result<SystemTime> RetainedUntil(const ObjectName& name);
  // Moves the lock of every object in `names` to `until`, if that is later than its lock now.
  virtual Status ExtendRetention(std::span<const ObjectName> names, SystemTime until);
};

}  // namespace phivault::storage
