#include "phivault/repo/frame_cache.h"

namespace phivault::repo {

Result<std::shared_ptr<const Bytes>> FrameCache::Get(uint64_t key,
                                                     const std::function<Result<Bytes>()>& fetch) {
  std::unique_lock<std::mutex> lock(mu_);
  if (auto it = slots_.find(key); it != slots_.end()) {
    std::shared_ptr<Slot> slot = it->second;
    cv_.wait(lock, [&] { return slot->ready; });
    if (!slot->status.ok()) return slot->status;
    if (slot->data != nullptr) {
      ++hits_;
      lru_.splice(lru_.begin(), lru_, slot->lru);
      return slot->data;
    }
  }
  ++misses_;
  auto slot = std::make_shared<Slot>();
  slots_[key] = slot;
  lock.unlock();
  Result<Bytes> fetched = fetch();
  lock.lock();
  slot->ready = true;
  if (!fetched.ok()) {
    slot->status = fetched.status();
    slots_.erase(key);
    cv_.notify_all();
    return fetched.status();
  }
  slot->data = std::make_shared<const Bytes>(std::move(*fetched));
  bytes_ += slot->data->size();
  lru_.push_front(key);
  slot->lru = lru_.begin();
  while (bytes_ > max_bytes_ && lru_.size() > 1) {
    uint64_t victim = lru_.back();
    lru_.pop_back();
    auto v = slots_.find(victim);
    if (v != slots_.end()) {
      bytes_ -= v->second->data->size();
      slots_.erase(v);  // readers holding the data keep it alive
    }
  }
  cv_.notify_all();
  return slot->data;
}

uint64_t FrameCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

uint64_t FrameCache::misses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return misses_;
}

}  // namespace phivault::repo
