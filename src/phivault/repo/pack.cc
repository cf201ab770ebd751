#include "phivault/repo/pack.h"

#include <cstring>

#include "phivault/crypto/crypto.h"

namespace phivault::repo {
namespace {
constexpr uint8_t kContentsVersion = 1;
constexpr char kTrailerMagic[4] = {'P', 'H', 'V', 'P'};
constexpr uint64_t kMaxFramesPerPack = 1u << 22;
constexpr uint64_t kMaxBlobsPerFrame = 1u << 20;
constexpr uint64_t kMaxHeaderSize = 256u << 20;
}  // namespace

std::string_view BlobTypeName(BlobType type) { return type == BlobType::kTree ? "tree" : "data"; }

ObjectType PackTypeFor(BlobType type) {
  return type == BlobType::kTree ? ObjectType::kTreePack : ObjectType::kDataPack;
}

void PackContents::Encode(Encoder* enc) const {
  enc->PutU8(kContentsVersion);
  enc->PutVarint(frames.size());
  for (const PackFrame& f : frames) {
    enc->PutVarint(f.stored_length);
    enc->PutVarint(f.raw_length);
    enc->PutU8(static_cast<uint8_t>(f.codec));
    enc->PutVarint(f.blobs.size());
    for (const PackBlob& b : f.blobs) {
      enc->PutRaw(b.id.bytes);
      enc->PutU8(static_cast<uint8_t>(b.type));
      enc->PutVarint(b.length);
    }
  }
}

PackContents PackContents::Decode(Decoder* dec, ObjectType pack_type) {
  PackContents c;
  if (dec->GetU8() != kContentsVersion && dec->ok()) {
    dec->Fail("unknown pack contents version");
    return c;
  }
  const BlobType expected = pack_type == ObjectType::kTreePack ? BlobType::kTree : BlobType::kData;
  uint64_t frames = dec->GetVarintAtMost(kMaxFramesPerPack, "frame count");
  for (uint64_t i = 0; i < frames && dec->ok(); ++i) {
    PackFrame f;
    f.stored_length = static_cast<uint32_t>(
        dec->GetVarintAtMost(kMaxFrameRawSize + kFrameOverhead + 1024, "frame length"));
    f.raw_length = static_cast<uint32_t>(dec->GetVarintAtMost(kMaxFrameRawSize, "frame size"));
    uint8_t codec = dec->GetU8();
    if (codec > static_cast<uint8_t>(Codec::kZstd)) dec->Fail("unknown codec");
    f.codec = static_cast<Codec>(codec);
    if (f.stored_length < kFrameOverhead) dec->Fail("frame shorter than its tag");
    if (f.codec == Codec::kNone && f.stored_length != f.raw_length + kFrameOverhead) {
      dec->Fail("uncompressed frame with inconsistent sizes");
    }
    uint64_t blobs = dec->GetVarintAtMost(kMaxBlobsPerFrame, "blob count");
    if (blobs == 0 && dec->ok()) dec->Fail("empty frame");
    uint64_t total = 0;
    for (uint64_t j = 0; j < blobs && dec->ok(); ++j) {
      PackBlob b;
      b.id = Id::FromSpan(dec->GetRaw(Id::kSize));
      uint8_t type = dec->GetU8();
      if (type != static_cast<uint8_t>(expected) && dec->ok()) dec->Fail("blob of the wrong type");
      b.type = expected;
      b.length = static_cast<uint32_t>(dec->GetVarintAtMost(kMaxFrameRawSize, "blob length"));
      total += b.length;
      f.blobs.push_back(b);
    }
    if (dec->ok() && total != f.raw_length) dec->Fail("blob lengths do not add up to the frame");
    c.frames.push_back(std::move(f));
  }
  return c;
}

uint64_t PackContents::FramesEnd() const {
  uint64_t end = kEnvelopeSize;
  for (const PackFrame& f : frames) end += f.stored_length;
  return end;
}

size_t PackContents::BlobCount() const {
  size_t n = 0;
  for (const PackFrame& f : frames) n += f.blobs.size();
  return n;
}

PackWriter::PackWriter(storage::Backend* backend, ObjectType type, uint32_t epoch,
                       EpochKeyLookup keys, CompressionMode compression)
    : backend_(backend),
      type_(type),
      epoch_(epoch),
      keys_(std::move(keys)),
      compressor_(compression) {}

PackWriter::~PackWriter() {
  // Plaintext of small blobs may still sit in the group buffer.
  SecureWipe(group_.data(), group_.size());
}

Status PackWriter::Start() {
  // A fresh random id for every pack: the object key, and with it every nonce, is unique to
  // this pack (doc/format/objects.md, "Why a (key, nonce) pair never repeats").
  PHV_ASSIGN_OR_RETURN(pack_id_, crypto::RandomId());
  Envelope env{type_, epoch_, pack_id_};
  PHV_ASSIGN_OR_RETURN(cipher_, ObjectCipher::Create(env, keys_));
  PHV_ASSIGN_OR_RETURN(
      writer_, backend_->Create(storage::ObjectName{storage::ObjectKind::kPack, pack_id_.Hex()}));
  PHV_RETURN_IF_ERROR(writer_->Append(cipher_->header()));
  offset_ = kEnvelopeSize;
  return OkStatus();
}

Status PackWriter::SealFrame(ByteSpan raw, std::vector<PackBlob> blobs) {
  if (cipher_ == nullptr) PHV_RETURN_IF_ERROR(Start());
  Codec codec = compressor_.Compress(raw, &compressed_);
  ByteSpan body = codec == Codec::kNone ? raw : ByteSpan(compressed_);
  sealed_.resize(body.size() + kFrameOverhead);
  PHV_RETURN_IF_ERROR(cipher_->SealFrame(offset_, FrameKind::kBlobs, body, sealed_.data()));
  PHV_RETURN_IF_ERROR(writer_->Append(sealed_));
  PackFrame frame;
  frame.stored_length = static_cast<uint32_t>(sealed_.size());
  frame.raw_length = static_cast<uint32_t>(raw.size());
  frame.codec = codec;
  frame.blobs = std::move(blobs);
  contents_.frames.push_back(std::move(frame));
  offset_ += sealed_.size();
  return OkStatus();
}

Status PackWriter::FlushGroup() {
  if (group_blobs_.empty()) return OkStatus();
  std::vector<PackBlob> blobs = std::move(group_blobs_);
  group_blobs_.clear();
  Status s = SealFrame(group_, std::move(blobs));
  SecureWipe(group_.data(), group_.size());
  group_.clear();
  return s;
}

Status PackWriter::Add(const Id& id, BlobType type, ByteSpan data) {
  if (PackTypeFor(type) != type_) return InternalError("blob type does not match pack type");
  if (data.size() > kMaxFrameRawSize) return InternalError("blob too large");
  PackBlob blob{id, type, static_cast<uint32_t>(data.size())};
  if (data.size() >= kSmallBlobLimit) return SealFrame(data, {blob});
  group_.insert(group_.end(), data.begin(), data.end());
  group_blobs_.push_back(blob);
  if (group_.size() >= kGroupTarget) return FlushGroup();
  return OkStatus();
}

Result<FinishedPack> PackWriter::Finish() {
  PHV_RETURN_IF_ERROR(FlushGroup());
  if (cipher_ == nullptr) return InternalError("finishing an empty pack");
  Bytes header;
  Encoder enc(&header);
  contents_.Encode(&enc);
  Bytes sealed(header.size() + kFrameOverhead);
  PHV_RETURN_IF_ERROR(cipher_->SealFrame(offset_, FrameKind::kPackHeader, header, sealed.data()));
  uint8_t trailer[kPackTrailerSize];
  StoreLE32(trailer, static_cast<uint32_t>(sealed.size()));
  std::memcpy(trailer + 4, kTrailerMagic, 4);
  PHV_RETURN_IF_ERROR(writer_->Append(sealed));
  PHV_RETURN_IF_ERROR(writer_->Append(ByteSpan(trailer, kPackTrailerSize)));

  FinishedPack done;
  done.id = pack_id_;
  done.type = type_;
  done.epoch = epoch_;
  done.contents = std::move(contents_);
  done.size = offset_ + sealed.size() + kPackTrailerSize;
  done.writer = std::move(writer_);
  contents_ = PackContents();
  cipher_.reset();
  offset_ = 0;
  return done;
}

Result<PackHeaderInfo> ReadPackHeader(storage::Backend* backend, const Id& pack_id,
                                      uint64_t pack_size, const EpochKeyLookup& keys) {
  std::string what = "pack " + pack_id.Hex();
  storage::ObjectName name{storage::ObjectKind::kPack, pack_id.Hex()};
  if (pack_size < kEnvelopeSize + kFrameOverhead + kPackTrailerSize) {
    return DataLossError(what + ": truncated (too small to be a pack)");
  }
  uint8_t env_bytes[kEnvelopeSize];
  PHV_RETURN_IF_ERROR(backend->ReadAt(name, 0, MutableByteSpan(env_bytes, kEnvelopeSize)));
  PHV_ASSIGN_OR_RETURN(Envelope env, Envelope::Decode(ByteSpan(env_bytes, kEnvelopeSize), what));
  if (env.object_id != pack_id ||
      (env.type != ObjectType::kDataPack && env.type != ObjectType::kTreePack)) {
    return DataLossError(what + ": header names another object (swapped or renamed)");
  }
  uint8_t trailer[kPackTrailerSize];
  PHV_RETURN_IF_ERROR(backend->ReadAt(name, pack_size - kPackTrailerSize,
                                      MutableByteSpan(trailer, kPackTrailerSize)));
  if (std::memcmp(trailer + 4, kTrailerMagic, 4) != 0) {
    return DataLossError(what + ": bad trailer (truncated or overwritten)");
  }
  uint64_t header_len = LoadLE32(trailer);
  if (header_len < kFrameOverhead || header_len > kMaxHeaderSize ||
      header_len > pack_size - kPackTrailerSize - kEnvelopeSize) {
    return DataLossError(what + ": bad header length");
  }
  uint64_t header_offset = pack_size - kPackTrailerSize - header_len;
  Bytes sealed(static_cast<size_t>(header_len));
  PHV_RETURN_IF_ERROR(backend->ReadAt(name, header_offset, sealed));
  auto cipher = ObjectCipher::Create(env, keys);
  if (!cipher.ok()) return std::move(cipher).status().WithContext(what);
  Bytes plain(sealed.size() - kFrameOverhead);
  Status s = (*cipher)->OpenFrame(header_offset, FrameKind::kPackHeader, sealed, plain.data());
  if (!s.ok()) return std::move(s).WithContext(what + " header");
  Decoder dec(plain, what + " header");
  PackHeaderInfo info{env, PackContents::Decode(&dec, env.type)};
  PHV_RETURN_IF_ERROR(dec.Finish());
  if (info.contents.FramesEnd() != header_offset) {
    return DataLossError(what + ": frames do not cover the pack");
  }
  return info;
}

Status OpenBlobFrame(ObjectCipher* cipher, uint64_t offset, ByteSpan sealed, Codec codec,
                     uint32_t raw_length, Decompressor* decompressor, Bytes* scratch, Bytes* out) {
  if (sealed.size() < kFrameOverhead) return DataLossError("frame shorter than its tag");
  size_t plain_len = sealed.size() - kFrameOverhead;
  if (codec == Codec::kNone) {
    if (plain_len != raw_length) return DataLossError("frame has the wrong length");
    out->resize(plain_len);
    return cipher->OpenFrame(offset, FrameKind::kBlobs, sealed, out->data());
  }
  scratch->resize(plain_len);
  PHV_RETURN_IF_ERROR(cipher->OpenFrame(offset, FrameKind::kBlobs, sealed, scratch->data()));
  out->resize(raw_length);
  return decompressor->Decompress(*scratch, *out);
}

}  // namespace phivault::repo
