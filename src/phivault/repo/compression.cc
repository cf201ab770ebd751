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
int LevelFor(CompressionMode mode) {
  switch (mode) {
    case CompressionMode::kFast: return 1;
    case CompressionMode::kDefault: return 2;
    case CompressionMode::kSmall: return 6;
    case CompressionMode::kOff: return 0;
  }
  return 2;
}
}  // namespace

struct Compressor::Ctx {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ~Ctx() { ZSTD_freeCCtx(cctx); }
};

Compressor::Compressor(CompressionMode mode) : mode_(mode), ctx_(std::make_unique<Ctx>()) {
  // The AEAD tag already protects every frame, so zstd's own checksum would only cost time.
  ZSTD_CCtx_setParameter(ctx_->cctx, ZSTD_c_compressionLevel, LevelFor(mode));
  ZSTD_CCtx_setParameter(ctx_->cctx, ZSTD_c_checksumFlag, 0);
  ZSTD_CCtx_setParameter(ctx_->cctx, ZSTD_c_contentSizeFlag, 1);
}

Compressor::~Compressor() = default;

Codec Compressor::Compress(ByteSpan in, Bytes* out) {
  out->clear();
  if (mode_ == CompressionMode::kOff || in.empty()) return Codec::kNone;
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
