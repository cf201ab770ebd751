// zstd compression of frames and object bodies. Each Compressor/Decompressor owns a zstd context,
// reused across calls because creating one costs more than compressing a small frame.
//
// Compression levels are named by CompressionMode so that users pick a trade-off, not a number.
// Frames of 64 KiB or more are first probed: a 16 KiB sample from the middle is compressed at
// zstd level 1. Data that shrinks by less than 5% is stored raw without a full pass (scans,
// photos, encrypted attachments); dense data (ratio below 1.8: medical images, some database
// files), where higher levels cost twice the time for a few percent, gets the mode's dense level:
//
//   kFast     zstd 1 everywhere
//   kDefault  zstd 2 for text-like data, zstd 1 for dense data
//   kSmall    zstd 6 everywhere
//   kOff      no compression
//
// doc/benchmarks.md has the measured cost and size of each.
//
// Thread safety: one thread per object.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "phivault/base/bytes.h"
#include "phivault/base/status.h"

namespace phivault::repo {

enum class CompressionMode : uint8_t { kOff, kFast, kDefault, kSmall };

// Parses "off", "fast", "default" or "small".
Result<CompressionMode> ParseCompressionMode(std::string_view name);
std::string_view CompressionModeName(CompressionMode mode);

// Compression algorithm byte stored in pack headers and object bodies.
enum class Codec : uint8_t { kNone = 0, kZstd = 1 };

class Compressor {
 public:
  explicit Compressor(CompressionMode mode);
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;

  // Compresses `in` into `out` (replacing its content) and returns kZstd, or returns kNone and
  // leaves `out` empty when compression is off or would save less than 3%.
  Codec Compress(ByteSpan in, Bytes* out);

 private:
  // The zstd level for `in`, or 0 to store it raw.
  int ChooseLevel(ByteSpan in);

  struct Ctx;
  CompressionMode mode_;
  std::unique_ptr<Ctx> ctx_;
};

class Decompressor {
 public:
  Decompressor();
  ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // Decompresses `in` into exactly `out.size()` bytes. kDataLoss if `in` is not a zstd frame
  // that decompresses to exactly that size.
  Status Decompress(ByteSpan in, MutableByteSpan out);

  // The decompressed size a zstd frame declares. kDataLoss if `in` is not a zstd frame with a
  // declared size.
  static Result<uint64_t> DeclaredSize(ByteSpan in);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

}  // namespace phivault::repo
