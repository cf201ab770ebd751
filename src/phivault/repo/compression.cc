#include "phivault/repo/compression.h"

#include <zstd.h>

namespace phivault::repo {

Result<CompressionMode> ParseCompressionMode(std::string_view name) {
  if (name == "off") return CompressionMode::kOff;
  if (name == "fast") return CompressionMode::kFast;
  if (name == "default" || name == "auto") return CompressionMode::kDefault;
  if (name == "small") return CompressionMode::kSmall;
  return InvalidArgumentError("unknown compression '" + std::string(name) +
                              "' (use off, fast, default or small)");
}

std::string_view CompressionModeName(CompressionMode mode) {
  switch (mode) {
    case CompressionMode::kOff: return "off";
    case CompressionMode::kFast: return "fast";
    case CompressionMode::kDefault: return "default";
    case CompressionMode::kSmall: return "small";
  }
  return "?";
}

namespace {

// Frames at least this large are probed before they are compressed.
constexpr size_t kProbeMinSize = 64 * 1024;
constexpr size_t kProbeSize = 16 * 1024;
// A probe that shrinks less than this (x100) marks data that does not compress: stored raw.
constexpr size_t kRawRatioX100 = 105;
// A probe that shrinks less than this marks dense data (medical images), where higher
// zstd levels cost twice the time for a few percent; it gets the mode's dense level.
constexpr size_t kDenseRatioX100 = 180;

struct Levels {
  int text;
  int dense;
};

Levels LevelsFor(CompressionMode mode) {
  switch (mode) {
    case CompressionMode::kFast: return {1, 1};
    case CompressionMode::kDefault: return {2, 1};
    case CompressionMode::kSmall: return {6, 6};
    case CompressionMode::kOff: return {0, 0};
  }
  return {2, 1};
}

}  // namespace

struct Compressor::Ctx {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx* probe = ZSTD_createCCtx();
  Bytes probe_out;
  ~Ctx() {
    ZSTD_freeCCtx(cctx);
    ZSTD_freeCCtx(probe);
  }
};

Compressor::Compressor(CompressionMode mode) : mode_(mode), ctx_(std::make_unique<Ctx>()) {
  // The AEAD tag already protects every frame, so zstd's own checksum would only cost time.
  for (ZSTD_CCtx* c : {ctx_->cctx, ctx_->probe}) {
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
  }
  ZSTD_CCtx_setParameter(ctx_->probe, ZSTD_c_compressionLevel, 1);
  ctx_->probe_out.resize(ZSTD_compressBound(kProbeSize));
}

Compressor::~Compressor() = default;

int Compressor::ChooseLevel(ByteSpan in) {
  const Levels levels = LevelsFor(mode_);
  if (in.size() < kProbeMinSize) return levels.text;
  // Probe a sample from the middle at level 1: it costs a few percent of compressing the frame
  // and tells random or encrypted data (skip it) and dense data (use the cheaper level) apart.
  ByteSpan sample = in.subspan(in.size() / 2 - kProbeSize / 2, kProbeSize);
  size_t n = ZSTD_compress2(ctx_->probe, ctx_->probe_out.data(), ctx_->probe_out.size(),
                            sample.data(), sample.size());
  if (ZSTD_isError(n) || n == 0) return levels.text;
  const size_t ratio_x100 = kProbeSize * 100 / n;
  if (ratio_x100 < kRawRatioX100) return 0;
  return ratio_x100 < kDenseRatioX100 ? levels.dense : levels.text;
}

Codec Compressor::Compress(ByteSpan in, Bytes* out) {
  out->clear();
  if (mode_ == CompressionMode::kOff || in.empty()) return Codec::kNone;
  const int level = ChooseLevel(in);
  if (level == 0) return Codec::kNone;
  ZSTD_CCtx_setParameter(ctx_->cctx, ZSTD_c_compressionLevel, level);
  out->resize(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress2(ctx_->cctx, out->data(), out->size(), in.data(), in.size());
  // Keep the compressed form only if it saves at least 3%: below that, decompressing on every
  // restore costs more than the bytes are worth.
  if (ZSTD_isError(n) || n > in.size() - in.size() / 33) {
    out->clear();
    return Codec::kNone;
  }
  out->resize(n);
  return Codec::kZstd;
}

struct Decompressor::Ctx {
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  ~Ctx() { ZSTD_freeDCtx(dctx); }
};

Decompressor::Decompressor() : ctx_(std::make_unique<Ctx>()) {}
Decompressor::~Decompressor() = default;

Result<uint64_t> Decompressor::DeclaredSize(ByteSpan in) {
  unsigned long long n = ZSTD_getFrameContentSize(in.data(), in.size());
  if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN) {
    return DataLossError("malformed compressed frame");
  }
  return static_cast<uint64_t>(n);
}

Status Decompressor::Decompress(ByteSpan in, MutableByteSpan out) {
  unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared != out.size()) return DataLossError("compressed frame has the wrong size");
  size_t n = ZSTD_decompressDCtx(ctx_->dctx, out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n) || n != out.size()) return DataLossError("malformed compressed frame");
  return OkStatus();
}

}  // namespace phivault::repo
