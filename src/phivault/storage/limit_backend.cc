#include "phivault/storage/limit_backend.h"

#include <utility>
#include <vector>

namespace phivault::storage {

void Slots::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return free_ > 0; });
  --free_;
}

void Slots::Release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++free_;
  }
  cv_.notify_one();
}

namespace {

class LimitWriter : public ObjectWriter {
 public:
  LimitWriter(std::shared_ptr<Slots> slots, std::unique_ptr<ObjectWriter> inner)
      : slots_(std::move(slots)), inner_(std::move(inner)) {}
  Status Append(ByteSpan data) override {
    slots_->Acquire();
    Status s = inner_->Append(data);
    slots_->Release();
    return s;
  }
  Status Commit() override {
    slots_->Acquire();
    Status s = inner_->Commit();
    slots_->Release();
    return s;
  }
  uint64_t size() const override { return inner_->size(); }

 private:
  std::shared_ptr<Slots> slots_;
  std::unique_ptr<ObjectWriter> inner_;
};

}  // namespace

LimitBackend::LimitBackend(std::unique_ptr<Backend> inner, unsigned limit)
    : inner_(std::move(inner)), limit_(limit), slots_(std::make_shared<Slots>(limit)) {}

Status LimitBackend::Save(const ObjectName& name, ByteSpan data) {
  return Limited([&] { return inner_->Save(name, data); });
}

Result<std::unique_ptr<ObjectWriter>> LimitBackend::Create(const ObjectName& name) {
  PHV_ASSIGN_OR_RETURN(std::unique_ptr<ObjectWriter> inner,
                       Limited([&] { return inner_->Create(name); }));
  return std::unique_ptr<ObjectWriter>(std::make_unique<LimitWriter>(slots_, std::move(inner)));
}

Status LimitBackend::ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) {
  return Limited([&] { return inner_->ReadAt(name, offset, out); });
}

Result<Bytes> LimitBackend::ReadAll(const ObjectName& name) {
  return Limited([&] { return inner_->ReadAll(name); });
}

Result<ObjectInfo> LimitBackend::Stat(const ObjectName& name) {
  return Limited([&] { return inner_->Stat(name); });
}

Status LimitBackend::List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) {
  // `fn` runs outside the slot: it may well call back into this backend.
  std::vector<ObjectInfo> all;
  PHV_RETURN_IF_ERROR(Limited([&] {
    return inner_->List(kind, [&](const ObjectInfo& info) {
      all.push_back(info);
      return OkStatus();
    });
  }));
  for (const ObjectInfo& info : all) PHV_RETURN_IF_ERROR(fn(info));
  return OkStatus();
}

Status LimitBackend::Remove(const ObjectName& name) {
  return Limited([&] { return inner_->Remove(name); });
}

Status LimitBackend::EnableRetention(const RetentionPolicy& policy) {
  return Limited([&] { return inner_->EnableRetention(policy); });
}

Result<SystemTime> LimitBackend::RetainedUntil(const ObjectName& name) {
  return Limited([&] { return inner_->RetainedUntil(name); });
}

Status LimitBackend::ExtendRetention(std::span<const ObjectName> names, SystemTime until) {
  return Limited([&] { return inner_->ExtendRetention(names, until); });
}

}  // namespace phivault::storage
