// FrameCache: windows of sealed pack bytes shared by the BlobReaders of one repository on remote
// storage, so that bytes several readers need at about the same time (the frames of one pack,
// small files sharing a frame, duplicate content restored to many places) are downloaded once
// and in few requests. Each reader still authenticates and decompresses its own copy of a
// frame: the cache holds only ciphertext as stored.
//
// A frame asked for while another thread is fetching it waits for that fetch instead of
// starting its own. Failed fetches are not cached. The least recently used frames are dropped
// once the cache holds more than its byte budget.
//
// Thread safety: safe for concurrent use.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "phivault/base/bytes.h"
#include "phivault/base/status.h"

namespace phivault::repo {

class FrameCache {
 public:
  explicit FrameCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  // The frame under `key`, from the cache or else from `fetch` (called at most once at a time
  // per key).
  Result<std::shared_ptr<const Bytes>> Get(uint64_t key,
                                           const std::function<Result<Bytes>()>& fetch);

  uint64_t hits() const;
  uint64_t misses() const;

 private:
  struct Slot {
    bool ready = false;
    Status status;
    std::shared_ptr<const Bytes> data;
    std::list<uint64_t>::iterator lru;
  };

  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<uint64_t, std::shared_ptr<Slot>> slots_;
  std::list<uint64_t> lru_;  // ready slots, most recent first
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace phivault::repo
