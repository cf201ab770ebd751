#include "phivault/storage/mem_backend.h"

#include <algorithm>

namespace phivault::storage {

class MemWriter : public ObjectWriter {
 public:
  MemWriter(std::shared_ptr<MemBackend::State> state, std::string path)
      : state_(std::move(state)), path_(std::move(path)) {}

  Status Append(ByteSpan data) override {
    if (done_) return InternalError("append after commit");
    data_.insert(data_.end(), data.begin(), data.end());
    return OkStatus();
  }
  Status Commit() override {
    if (done_) return InternalError("commit twice");
    done_ = true;
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->objects.emplace(path_, std::move(data_)).second) {
      return AlreadyExistsError("create " + path_ + ": object exists");
    }
    if (state_->policy.enabled()) {
      state_->locked_until[path_] = LockedUntilFor(state_->policy, state_->now());
    }
    return OkStatus();
  }
  uint64_t size() const override { return data_.size(); }

 private:
  std::shared_ptr<MemBackend::State> state_;
  std::string path_;
  Bytes data_;
  bool done_ = false;
};

Result<std::unique_ptr<ObjectWriter>> MemBackend::Create(const ObjectName& name) {
  return std::unique_ptr<ObjectWriter>(std::make_unique<MemWriter>(state_, name.Path()));
}

Status MemBackend::ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->objects.find(name.Path());
  if (it == state_->objects.end()) return NotFoundError(name.Path() + ": no such object");
  const Bytes& data = it->second;
  if (offset > data.size() || out.size() > data.size() - offset) {
    return DataLossError(name.Path() + ": truncated");
  }
  std::copy_n(data.begin() + static_cast<ptrdiff_t>(offset), out.size(), out.begin());
  return OkStatus();
}

Result<Bytes> MemBackend::ReadAll(const ObjectName& name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->objects.find(name.Path());
  if (it == state_->objects.end()) return NotFoundError(name.Path() + ": no such object");
  return it->second;
}

Result<ObjectInfo> MemBackend::Stat(const ObjectName& name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->objects.find(name.Path());
  if (it == state_->objects.end()) return NotFoundError(name.Path() + ": no such object");
  return ObjectInfo{name, it->second.size()};
}

Status MemBackend::List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) {
  std::vector<ObjectInfo> found;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (const auto& [path, data] : state_->objects) {
      std::string id = path.substr(path.rfind('/') + 1);
      ObjectName name{kind, kind == ObjectKind::kConfig ? "" : id};
      if (name.Path() == path) found.push_back(ObjectInfo{name, data.size()});
    }
  }
  for (const ObjectInfo& info : found) PHV_RETURN_IF_ERROR(fn(info));
  return OkStatus();
}

Status MemBackend::Remove(const ObjectName& name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto locked = state_->locked_until.find(name.Path());
  if (locked != state_->locked_until.end() && locked->second > state_->now()) {
    return Status(StatusCode::kFailedPrecondition, name.Path() + ": object is locked",
                  ErrorTag::kRetention);
  }
  if (state_->objects.erase(name.Path()) == 0) {
    return NotFoundError(name.Path() + ": no such object");
  }
  return OkStatus();
}

Status MemBackend::EnableRetention(const RetentionPolicy& policy) {
  if (!state_->lockable) return Backend::EnableRetention(policy);
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->policy = policy;
  return OkStatus();
}

RetentionPolicy MemBackend::retention() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->policy;
}

Result<SystemTime> MemBackend::RetainedUntil(const ObjectName& name) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->objects.count(name.Path()) == 0) return NotFoundError(name.Path());
  auto it = state_->locked_until.find(name.Path());
  return it == state_->locked_until.end() ? SystemTime{} : it->second;
}

Status MemBackend::ExtendRetention(std::span<const ObjectName> names, SystemTime until) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (!state_->policy.enabled()) return Backend::ExtendRetention(names, until);
  for (const ObjectName& name : names) {
    if (state_->objects.count(name.Path()) == 0) return NotFoundError(name.Path());
    SystemTime& current = state_->locked_until[name.Path()];
    if (until > current) {
      current = until;
      ++state_->retention_updates;
    }
  }
  return OkStatus();
}

void MemBackend::SetClockForTesting(std::function<SystemTime()> now) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->now = std::move(now);
}

uint64_t MemBackend::retention_updates() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->retention_updates;
}

Status MemBackend::MutateForTesting(const ObjectName& name, const std::function<void(Bytes&)>& fn) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->objects.find(name.Path());
  if (it == state_->objects.end()) return NotFoundError(name.Path());
  fn(it->second);
  return OkStatus();
}

}  // namespace phivault::storage
