// MemBackend: a repository held in memory, for unit tests of everything above storage. It keeps
// the Backend contract exactly (create-only, all-or-nothing, exact reads), so tests written
// against it hold for the real backends too; storage/backend_conformance_test.cc checks both.
//
// Thread safety: safe for concurrent use.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "phivault/storage/backend.h"

namespace phivault::storage {

class MemBackend : public Backend {
 public:
  MemBackend() : state_(std::make_shared<State>()) {}

  std::string Location() const override { return "memory"; }
  Result<std::unique_ptr<ObjectWriter>> Create(const ObjectName& name) override;
  Status ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) override;
  Result<Bytes> ReadAll(const ObjectName& name) override;
  Result<ObjectInfo> Stat(const ObjectName& name) override;
  Status List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) override;
  Status Remove(const ObjectName& name) override;

  // Test hook: direct access to a stored object's bytes, for corrupting it on purpose.
  // kNotFound if absent.
  Status MutateForTesting(const ObjectName& name, const std::function<void(Bytes&)>& fn);

 private:
  struct State {
    std::mutex mu;
    std::map<std::string, Bytes> objects;  // keyed by ObjectName::Path()
  };
  friend class MemWriter;
  // Shared with writers, which may outlive a call that created them.
  std::shared_ptr<State> state_;
};

}  // namespace phivault::storage
