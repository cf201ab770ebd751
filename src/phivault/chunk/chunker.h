// Content-defined chunking with a keyed gear hash (FastCDC-style normalised chunking), specified
// in doc/format/chunking.md.
//
// A Chunker finds cut points in a byte stream so that an insertion or deletion only changes the
// chunks around it: every cut depends only on the 64 bytes before it. The gear table is derived
// from a repository secret by the caller (the repo layer, with HKDF), so boundaries cannot be
// predicted without the key. Chunker is stateless between calls: the caller keeps a buffer that
// starts at the current chunk and asks for the next cut.
//
// Thread safety: a Chunker is immutable after construction and may be shared between threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "phivault/base/bytes.h"
#include "phivault/base/status.h"

namespace phivault::chunk {

struct ChunkerParams {
  uint32_t min_size = 64 * 1024;
  uint32_t avg_size = 256 * 1024;
  uint32_t max_size = 1024 * 1024;

  // OK when 64 <= min < avg < max <= 16 MiB and avg is a power of two with 2^8 <= avg.
  Status Validate() const;
};

class GearTable {
 public:
  static constexpr size_t kSerializedSize = 256 * 8;
  // Reads 256 little-endian u64 values. REQUIRES: bytes.size() == kSerializedSize.
  static GearTable FromBytes(ByteSpan bytes);

  uint64_t operator[](uint8_t b) const { return entries_[b]; }

 private:
  std::array<uint64_t, 256> entries_{};
};

class Chunker {
 public:
  // REQUIRES: params.Validate().ok()
  Chunker(const GearTable& table, const ChunkerParams& params);

  // Returns the length of the chunk that starts at data[0]. `data` must hold at least
  // max_size() bytes unless it reaches the end of the stream. The result is in
  // [min(min_size, data.size()), min(max_size, data.size())] and never 0 for non-empty data.
  size_t NextCut(ByteSpan data) const;

  const ChunkerParams& params() const { return params_; }
  size_t max_size() const { return params_.max_size; }

 private:
  GearTable table_;
  ChunkerParams params_;
  uint64_t mask_hard_;
  uint64_t mask_easy_;
};

}  // namespace phivault::chunk
