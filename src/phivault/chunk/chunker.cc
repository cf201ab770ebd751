#include "phivault/chunk/chunker.h"

#include <algorithm>
#include <bit>
#include <string>

namespace phivault::chunk {
namespace {
// The hash of a 64-byte window decides each cut; hashing starts this many bytes before min_size
// so that the first cut candidate is already decided by a full window.
constexpr size_t kWindow = 64;

uint64_t TopBits(unsigned n) { return n == 0 ? 0 : ~uint64_t{0} << (64 - n); }
}  // namespace

Status ChunkerParams::Validate() const {
  bool ok = min_size >= kWindow && min_size < avg_size && avg_size < max_size &&
            max_size <= 16u * 1024 * 1024 && avg_size >= 256 && std::has_single_bit(avg_size);
  if (ok) return OkStatus();
  return InvalidArgumentError("invalid chunker sizes min=" + std::to_string(min_size) + " avg=" +
                              std::to_string(avg_size) + " max=" + std::to_string(max_size));
}

GearTable GearTable::FromBytes(ByteSpan bytes) {
  GearTable t;
  for (size_t i = 0; i < 256 && 8 * i + 8 <= bytes.size(); ++i) {
    t.entries_[i] = LoadLE64(bytes.data() + 8 * i);
  }
  return t;
}

Chunker::Chunker(const GearTable& table, const ChunkerParams& params)
    : table_(table), params_(params) {
  unsigned k = static_cast<unsigned>(std::countr_zero(params.avg_size));
  mask_hard_ = TopBits(k + 2);
  mask_easy_ = TopBits(k - 2);
}

size_t Chunker::NextCut(ByteSpan data) const {
  const size_t n = data.size();
  const size_t min = params_.min_size;
  if (n <= min) return n;
  const size_t limit = std::min(n, static_cast<size_t>(params_.max_size));
  const size_t normal = std::min(limit, static_cast<size_t>(params_.avg_size));
  const uint8_t* p = data.data();

  uint64_t h = 0;
  size_t i = min - kWindow;
  for (; i < min; ++i) h = (h << 1) + table_[p[i]];
  for (; i < normal; ++i) {
    h = (h << 1) + table_[p[i]];
    if ((h & mask_hard_) == 0) return i + 1;
  }
  for (; i < limit; ++i) {
    h = (h << 1) + table_[p[i]];
    if ((h & mask_easy_) == 0) return i + 1;
  }
  return limit;
}

}  // namespace phivault::chunk
