// MemBackend: a repository held in memory, for unit tests of everything above storage. It keeps
// the Backend contract exactly (create-only, all-or-nothing, exact reads), so tests written
// against it hold for the real backends too; storage/backend_conformance_test.cc checks both.
//
// Thread safety: safe for concurrent use.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "phivault/storage/backend.h"

namespace phivault::storage {

class MemBackend : public Backend {
 public:
  // With `lockable`, the store behaves like an S3 bucket with Object Lock: EnableRetention
  // succeeds and locks are kept and enforced.
  explicit MemBackend(bool lockable = false) : state_(std::make_shared<State>()) {
    state_->lockable = lockable;
  }

  std::string Location() const override { return "memory"; }
  Result<std::unique_ptr<ObjectWriter>> Create(const ObjectName& name) override;
  Status ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) override;
  Result<Bytes> ReadAll(const ObjectName& name) override;
  Result<ObjectInfo> Stat(const ObjectName& name) override;
  Status List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) override;
  Status Remove(const ObjectName& name) override;
  Status EnableRetention(const RetentionPolicy& policy) override;
  RetentionPolicy retention() const override;
  Result<SystemTime> RetainedUntil(const ObjectName& name) override;
  Status ExtendRetention(std::span<const ObjectName> names, SystemTime until) override;

  // Test hooks: the clock retention is measured by (the system clock unless set), and how many
  // objects ExtendRetention has changed.
  void SetClockForTesting(std::function<SystemTime()> now);
  uint64_t retention_updates() const;

  // Test hook: direct access to a stored object's bytes, for corrupting it on purpose.
  // kNotFound if absent.
  Status MutateForTesting(const ObjectName& name, const std::function<void(Bytes&)>& fn);

 private:
  struct State {
    std::mutex mu;
    std::map<std::string, Bytes> objects;  // keyed by ObjectName::Path()
    bool lockable = false;
    RetentionPolicy policy;
    std::map<std::string, SystemTime> locked_until;
    std::function<SystemTime()> now = [] {
      return std::chrono::system_clock::now();
    };
    uint64_t retention_updates = 0;
  };
  friend class MemWriter;
  // Shared with writers, which may outlive a call that created them.
  std::shared_ptr<State> state_;
};

}  // namespace phivault::storage
