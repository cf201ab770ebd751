// RetryBackend: a decorator that retries the transient failures of the backend it wraps.
//
// A call is retried while it fails with a retryable status (IsRetryable: kUnavailable,
// kDeadlineExceeded, kAborted), with exponential backoff and full jitter: the n-th wait is a
// uniformly random time in [0, min(max_delay, base_delay * 2^n)]. Retrying stops when the next
// wait would end after `max_total` has passed since the call began; the last error is then
// returned as kUnavailable tagged kStorageUnavailable, saying how many attempts were made and for
// how long. Every other failure (authentication, not found, 4xx) is returned at once.
//
// Writes are retried at Commit, which the Backend contract allows to be called again after a
// retryable failure: the wrapped writer keeps what was appended. List restarts from the
// beginning after a failure but never reports an object to `fn` twice.
//
// Thread safety: as safe as the wrapped backend.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "phivault/storage/backend.h"

namespace phivault::storage {

struct RetryPolicy {
  std::chrono::milliseconds base_delay{100};
  std::chrono::milliseconds max_delay{10'000};
  std::chrono::milliseconds max_total{300'000};
  // How to wait; tests substitute a fake clock. Defaults to std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Runs `op` under `policy` (the rules above); `what` names the operation in the final error.
Status RunWithRetries(const RetryPolicy& policy, std::string_view what,
                      const std::function<Status()>& op);

class RetryBackend : public Backend {
 public:
  RetryBackend(std::unique_ptr<Backend> inner, RetryPolicy policy);

  std::string Location() const override { return inner_->Location(); }
  Status Save(const ObjectName& name, ByteSpan data) override;
  Result<std::unique_ptr<ObjectWriter>> Create(const ObjectName& name) override;
  Status ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) override;
  Result<Bytes> ReadAll(const ObjectName& name) override;
  Result<ObjectInfo> Stat(const ObjectName& name) override;
  Status List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) override;
  Status Remove(const ObjectName& name) override;
  unsigned PreferredConcurrency() const override { return inner_->PreferredConcurrency(); }
  Status EnableRetention(const RetentionPolicy& policy) override;
  RetentionPolicy retention() const override { return inner_->retention(); }
  Result<SystemTime> RetainedUntil(const ObjectName& name) override;
  Status ExtendRetention(std::span<const ObjectName> names, SystemTime until) override;

  Status Run(std::string_view what, const std::function<Status()>& op) const {
    return RunWithRetries(policy_, what, op);
  }

 private:
  // Run for calls that return a value.
  template <typename T>
  Result<T> RunFor(std::string_view what, const std::function<Result<T>()>& op) const {
    T value{};
    PHV_RETURN_IF_ERROR(Run(what, [&]() -> Status {
      PHV_ASSIGN_OR_RETURN(value, op());
      return OkStatus();
    }));
    return value;
  }

  std::unique_ptr<Backend> inner_;
  RetryPolicy policy_;
};

}  // namespace phivault::storage
