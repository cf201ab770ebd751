#include "phivault/storage/retry_backend.h"

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "phivault/base/log.h"

namespace phivault::storage {
namespace {

using Clock = std::chrono::steady_clock;

// Commit is retried; everything else goes straight to the wrapped writer.
class RetryWriter : public ObjectWriter {
 public:
  RetryWriter(const RetryBackend* backend, std::string what, std::unique_ptr<ObjectWriter> inner)
      : backend_(backend), what_(std::move(what)), inner_(std::move(inner)) {}
  Status Append(ByteSpan data) override { return inner_->Append(data); }
  Status Commit() override {
    return backend_->Run(what_, [this] { return inner_->Commit(); });
  }
  uint64_t size() const override { return inner_->size(); }

 private:
  const RetryBackend* backend_;
  std::string what_;
  std::unique_ptr<ObjectWriter> inner_;
};

std::string What(std::string_view verb, const ObjectName& name) {
  return std::string(verb) + " " + name.Path();
}

}  // namespace

RetryBackend::RetryBackend(std::unique_ptr<Backend> inner, RetryPolicy policy)
    : inner_(std::move(inner)), policy_(std::move(policy)) {}

Status RunWithRetries(const RetryPolicy& policy, std::string_view what,
                      const std::function<Status()>& op) {
  thread_local std::minstd_rand rng(std::random_device{}());
  const auto start = Clock::now();
  auto elapsed = std::chrono::milliseconds(0);
  for (int attempt = 1;; ++attempt) {
    Status s = op();
    if (s.ok() || !IsRetryable(s)) return s;
    auto cap = std::min<int64_t>(policy.max_delay.count(), policy.base_delay.count()
                                                               << std::min(attempt - 1, 20));
    std::uniform_int_distribution<int64_t> pick(0, std::max<int64_t>(cap, 1));
    auto wait = std::chrono::milliseconds(pick(rng));
    elapsed = std::max(elapsed,
                       std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start));
    if (elapsed + wait > policy.max_total) {
      return Status(StatusCode::kUnavailable,
                    std::string(what) + ": gave up after " + std::to_string(attempt) +
                        " attempts in " + std::to_string(elapsed.count() / 1000) +
                        " s: " + std::string(s.message()),
                    ErrorTag::kStorageUnavailable);
    }
    PHV_LOG(kInfo, "{}: attempt {} failed ({}); retrying in {} ms", what, attempt, s.message(),
            wait.count());
    if (policy.sleep) {
      policy.sleep(wait);
    } else {
      std::this_thread::sleep_for(wait);
    }
    elapsed += wait;
  }
}

Status RetryBackend::Save(const ObjectName& name, ByteSpan data) {
  // One writer for all attempts, so that a retried Commit can recognise its own earlier success.
  PHV_ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> writer, Create(name));
  PHV_RETURN_IF_ERROR(writer->Append(data));
  return writer->Commit();
}

Result<std::unique_ptr<ObjectWriter>> RetryBackend::Create(const ObjectName& name) {
  PHV_ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> inner,
                       RunFor<std::unique_ptr<ObjectWriter>>(What("create", name),
                                                             [&] { return inner_->Create(name); }));
  return std::unique_ptr<ObjectWriter>(
      std::make_unique<RetryWriter>(this, What("write", name), std::move(inner)));
}

Status RetryBackend::ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) {
  return Run(What("read", name), [&] { return inner_->ReadAt(name, offset, out); });
}

Result<Bytes> RetryBackend::ReadAll(const ObjectName& name) {
  return RunFor<Bytes>(What("read", name), [&] { return inner_->ReadAll(name); });
}

Result<ObjectInfo> RetryBackend::Stat(const ObjectName& name) {
  return RunFor<ObjectInfo>(What("stat", name), [&] { return inner_->Stat(name); });
}

Status RetryBackend::List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) {
  std::set<std::string> seen;
  Status from_fn;
  Status s = Run("list " + std::string(ObjectKindName(kind)), [&]() -> Status {
    Status listed = inner_->List(kind, [&](const ObjectInfo& info) -> Status {
      if (!seen.insert(info.name.id).second) return OkStatus();
      from_fn = fn(info);
      return from_fn;
    });
    // An error from `fn` is the caller's own: it ends the listing and is never retried.
    return from_fn.ok() ? listed : OkStatus();
  });
  if (!from_fn.ok()) return from_fn;
  return s;
}

Status RetryBackend::Remove(const ObjectName& name) {
  bool attempted = false;
  return Run(What("remove", name), [&]() -> Status {
    Status s = inner_->Remove(name);
    // A delete whose answer was lost, retried, finds nothing: that is the success it was.
    if (attempted && s.code() == StatusCode::kNotFound) return OkStatus();
    attempted = true;
    return s;
  });
}

Status RetryBackend::EnableRetention(const RetentionPolicy& policy) {
  return Run("enable object lock", [&] { return inner_->EnableRetention(policy); });
}

Result<SystemTime> RetryBackend::RetainedUntil(const ObjectName& name) {
  return RunFor<SystemTime>(What("read retention of", name),
                            [&] { return inner_->RetainedUntil(name); });
}

Status RetryBackend::ExtendRetention(std::span<const ObjectName> names, SystemTime until) {
  return Run("extend retention", [&] { return inner_->ExtendRetention(names, until); });
}

}  // namespace phivault::storage
