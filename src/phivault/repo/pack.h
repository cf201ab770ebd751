// Pack files (doc/format/pack.md): the pack contents record shared by pack headers and index
// objects, PackWriter, which builds one pack from blobs, and the readers for a pack's header and
// frames.
//
// A PackWriter groups blobs below kSmallBlobLimit into shared frames of up to kGroupTarget bytes,
// gives larger blobs a frame each, compresses and seals every frame, and streams it to a storage
// ObjectWriter. Finish() seals the header and trailer; the caller commits the returned
// FinishedPack (which makes it visible) and only then indexes it.
//
// Thread safety: a PackWriter is used by one thread at a time. PackContents is a plain value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "phivault/base/bytes.h"
#include "phivault/base/id.h"
#include "phivault/base/status.h"
#include "phivault/repo/compression.h"
#include "phivault/repo/sealed.h"
#include "phivault/storage/backend.h"

namespace phivault::repo {

enum class BlobType : uint8_t { kData = 1, kTree = 2 };

std::string_view BlobTypeName(BlobType type);
// The pack type that holds blobs of `type`.
ObjectType PackTypeFor(BlobType type);

inline constexpr uint32_t kSmallBlobLimit = 64 * 1024;
inline constexpr uint32_t kGroupTarget = 256 * 1024;
inline constexpr uint32_t kMaxFrameRawSize = 16u << 20;
inline constexpr size_t kPackTrailerSize = 8;

struct PackBlob {
  Id id;
  BlobType type = BlobType::kData;
  uint32_t length = 0;
};

struct PackFrame {
  uint32_t stored_length = 0;  // ciphertext + tag
  uint32_t raw_length = 0;     // plaintext after decompression
  Codec codec = Codec::kNone;
  std::vector<PackBlob> blobs;
};

struct PackContents {
  std::vector<PackFrame> frames;

  void Encode(Encoder* enc) const;
  // Decodes and validates a contents record from `dec` (which keeps the first error).
  // `pack_type` is the envelope type the blobs must match.
  static PackContents Decode(Decoder* dec, ObjectType pack_type);
  // Offset of the first byte after the last blob frame.
  uint64_t FramesEnd() const;
  size_t BlobCount() const;
};

struct FinishedPack {
  Id id;
  ObjectType type = ObjectType::kDataPack;
  uint32_t epoch = 0;
  PackContents contents;
  uint64_t size = 0;
  std::unique_ptr<storage::ObjectWriter> writer;  // uncommitted
};

class PackWriter {
 public:
  // REQUIRES: `backend` and `keys` outlive the writer.
  PackWriter(storage::Backend* backend, ObjectType type, uint32_t epoch, EpochKeyLookup keys,
             CompressionMode compression);
  ~PackWriter();

  // Appends a blob. `data` is copied or consumed before the call returns.
  Status Add(const Id& id, BlobType type, ByteSpan data);
  // Bytes written to the object so far (frames not yet sealed are not counted).
  uint64_t size() const { return offset_; }
  bool empty() const { return cipher_ == nullptr && group_blobs_.empty(); }
  // Seals any pending group, then the header and trailer. REQUIRES: !empty().
  Result<FinishedPack> Finish();
  // Bytes of plaintext stored in sealed frames, and bytes written, for statistics.
  uint64_t stored_bytes() const { return offset_; }

 private:
  Status Start();
  Status SealFrame(ByteSpan raw, std::vector<PackBlob> blobs);
  Status FlushGroup();

  storage::Backend* backend_;
  ObjectType type_;
  uint32_t epoch_;
  EpochKeyLookup keys_;
  Compressor compressor_;
  std::unique_ptr<ObjectCipher> cipher_;
  std::unique_ptr<storage::ObjectWriter> writer_;
  Id pack_id_;
  uint64_t offset_ = 0;
  PackContents contents_;
  Bytes group_;
  std::vector<PackBlob> group_blobs_;
  Bytes compressed_;
  Bytes sealed_;
};

// What a pack's header says about it.
struct PackHeaderInfo {
  Envelope envelope;
  PackContents contents;
};

// Reads and authenticates the header of the pack `pack_id` whose size is `pack_size`, checking
// that its frames, header and trailer cover the object exactly. kDataLoss naming the pack on any
// failure.
Result<PackHeaderInfo> ReadPackHeader(storage::Backend* backend, const Id& pack_id,
                                      uint64_t pack_size, const EpochKeyLookup& keys);

// Opens the frame stored at [offset, offset + sealed.size()) of a pack described by `cipher` and
// writes its decompressed plaintext (`raw_length` bytes) to `out`. `scratch` is reused memory.
Status OpenBlobFrame(ObjectCipher* cipher, uint64_t offset, ByteSpan sealed, Codec codec,
                     uint32_t raw_length, Decompressor* decompressor, Bytes* scratch, Bytes* out);

}  // namespace phivault::repo
