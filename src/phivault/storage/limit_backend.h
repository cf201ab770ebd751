// LimitBackend: a decorator that lets at most `limit` calls into the wrapped backend run at once;
// further callers wait their turn. It keeps a remote backend from being sent more parallel
// requests than it serves well, however many threads the layers above run. A writer holds a
// slot only while it is inside Append or Commit.
//
// Thread safety: safe for concurrent use when the wrapped backend is.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>

#include "phivault/storage/backend.h"

namespace phivault::storage {

// A counting semaphore (std::counting_semaphore needs a compile-time maximum).
class Slots {
 public:
  explicit Slots(unsigned n) : free_(n) {}
  void Acquire();
  void Release();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  unsigned free_;
};

class LimitBackend : public Backend {
 public:
  // REQUIRES: limit > 0.
  LimitBackend(std::unique_ptr<Backend> inner, unsigned limit);

  std::string Location() const override { return inner_->Location(); }
  Status Save(const ObjectName& name, ByteSpan data) override;
  Result<std::unique_ptr<ObjectWriter>> Create(const ObjectName& name) override;
  Status ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) override;
  Result<Bytes> ReadAll(const ObjectName& name) override;
  Result<ObjectInfo> Stat(const ObjectName& name) override;
  Status List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) override;
  Status Remove(const ObjectName& name) override;
  unsigned PreferredConcurrency() const override { return limit_; }
  Status EnableRetention(const RetentionPolicy& policy) override;
  RetentionPolicy retention() const override { return inner_->retention(); }
  Result<SystemTime> RetainedUntil(const ObjectName& name) override;
  Status ExtendRetention(std::span<const ObjectName> names, SystemTime until) override;

 private:
  template <typename F>
  auto Limited(F&& f) {
    slots_->Acquire();
    struct Release {
      Slots* s;
      ~Release() { s->Release(); }
    } release{slots_.get()};
    return f();
  }

  std::unique_ptr<Backend> inner_;
  unsigned limit_;
  std::shared_ptr<Slots> slots_;  // shared with writers
};

}  // namespace phivault::storage
