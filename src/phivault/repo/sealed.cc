#include "phivault/repo/sealed.h"

#include <cstring>

namespace phivault::repo {
namespace {
constexpr char kMagic[4] = {'P', 'H', 'V', 'O'};
constexpr uint8_t kEnvelopeVersion = 1;
constexpr uint8_t kKeySourceEpoch = 1;
// The largest body an index, snapshot or cache may decompress to.
constexpr uint64_t kMaxBodySize = 1ull << 32;
}  // namespace

std::string_view ObjectTypeName(ObjectType type) {
  switch (type) {
    case ObjectType::kDataPack: return "data pack";
    case ObjectType::kTreePack: return "tree pack";
    case ObjectType::kIndex: return "index";
    case ObjectType::kSnapshot: return "snapshot";
    case ObjectType::kFilesCache: return "files cache";
    case ObjectType::kAuditCheckpoint: return "audit checkpoint";
    case ObjectType::kDrillRecord: return "drill record";
    case ObjectType::kRetentionLedger: return "retention ledger";
  }
  return "object";
}

std::array<uint8_t, kEnvelopeSize> Envelope::Encode() const {
  std::array<uint8_t, kEnvelopeSize> out{};
  std::memcpy(out.data(), kMagic, 4);
  out[4] = kEnvelopeVersion;
  out[5] = static_cast<uint8_t>(type);
  out[6] = kKeySourceEpoch;
  out[7] = 0;
  StoreLE32(out.data() + 8, epoch);
  std::memcpy(out.data() + 12, object_id.bytes.data(), Id::kSize);
  return out;
}

Result<Envelope> Envelope::Decode(ByteSpan b, std::string_view what) {
  std::string w(what);
  if (b.size() < kEnvelopeSize) return DataLossError(w + ": truncated header");
  if (std::memcmp(b.data(), kMagic, 4) != 0) return DataLossError(w + ": not a phivault object");
  if (b[4] != kEnvelopeVersion) {
    return DataLossError(w + ": object format version " + std::to_string(b[4]) + " unknown");
  }
  if (b[5] < 1 || b[5] > 8) return DataLossError(w + ": unknown object type");
  if (b[6] != kKeySourceEpoch) return DataLossError(w + ": unsupported key source");
  if (b[7] != 0) return DataLossError(w + ": unknown flags");
  Envelope e;
  e.type = static_cast<ObjectType>(b[5]);
  e.epoch = LoadLE32(b.data() + 8);
  e.object_id = Id::FromSpan(b.subspan(12, Id::kSize));
  return e;
}

Result<std::unique_ptr<ObjectCipher>> ObjectCipher::Create(const Envelope& envelope,
                                                           const EpochKeyLookup& keys) {
  const SecretBytes* epoch_key = keys(envelope.epoch);
  if (epoch_key == nullptr) {
    return FailedPreconditionError("no key for epoch " + std::to_string(envelope.epoch) +
                                   " in this keystore");
  }
  std::unique_ptr<ObjectCipher> c(new ObjectCipher());
  c->envelope_ = envelope;
  c->header_ = envelope.Encode();
  std::string info = "phivault/v1/object";
  info.push_back(static_cast<char>(envelope.type));
  PHV_ASSIGN_OR_RETURN(c->key_, crypto::HkdfSha256(epoch_key->span(), envelope.object_id.bytes,
                                                   info, crypto::kKeySize));
  return c;
}

Bytes ObjectCipher::Aad(uint64_t offset, FrameKind kind) const {
  Bytes aad(header_.begin(), header_.end());
  aad.resize(kEnvelopeSize + 9);
  StoreLE64(aad.data() + kEnvelopeSize, offset);
  aad[kEnvelopeSize + 8] = static_cast<uint8_t>(kind);
  return aad;
}

namespace {
std::array<uint8_t, crypto::kNonceSize> NonceFor(uint64_t offset) {
  std::array<uint8_t, crypto::kNonceSize> nonce{};
  StoreBE64(nonce.data() + 4, offset);
  return nonce;
}
}  // namespace

Status ObjectCipher::SealFrame(uint64_t offset, FrameKind kind, ByteSpan plaintext, uint8_t* out) {
  return gcm_.Seal(key_.span(), NonceFor(offset), Aad(offset, kind), plaintext, out);
}

Status ObjectCipher::OpenFrame(uint64_t offset, FrameKind kind, ByteSpan sealed, uint8_t* out) {
  return gcm_.Open(key_.span(), NonceFor(offset), Aad(offset, kind), sealed, out);
}

Result<Bytes> SealBody(const Envelope& envelope, const EpochKeyLookup& keys, ByteSpan payload,
                       bool compress) {
  PHV_ASSIGN_OR_RETURN(std::unique_ptr<ObjectCipher> cipher, ObjectCipher::Create(envelope, keys));
  Bytes compressed;
  Codec codec = Codec::kNone;
  if (compress) {
    Compressor c(CompressionMode::kDefault);
    codec = c.Compress(payload, &compressed);
  }
  ByteSpan body = codec == Codec::kNone ? payload : ByteSpan(compressed);
  Bytes plain;
  plain.reserve(body.size() + 1);
  plain.push_back(static_cast<uint8_t>(codec));
  plain.insert(plain.end(), body.begin(), body.end());

  Bytes out(kEnvelopeSize + plain.size() + kFrameOverhead);
  std::memcpy(out.data(), cipher->header().data(), kEnvelopeSize);
  PHV_RETURN_IF_ERROR(
      cipher->SealFrame(kEnvelopeSize, FrameKind::kBody, plain, out.data() + kEnvelopeSize));
  SecureWipe(plain.data(), plain.size());
  return out;
}

Result<Bytes> OpenBody(ObjectType expected_type, const Id& expected_id, ByteSpan object,
                       const EpochKeyLookup& keys) {
  std::string what = std::string(ObjectTypeName(expected_type)) + " " + expected_id.Hex();
  PHV_ASSIGN_OR_RETURN(Envelope env, Envelope::Decode(object, what));
  if (env.type != expected_type || env.object_id != expected_id) {
    return DataLossError(what + ": header names another object (swapped or renamed)");
  }
  if (object.size() < kEnvelopeSize + kFrameOverhead + 1)
    return DataLossError(what + ": truncated");
  auto cipher = ObjectCipher::Create(env, keys);
  if (!cipher.ok()) return std::move(cipher).status().WithContext(what);
  Bytes plain(object.size() - kEnvelopeSize - kFrameOverhead);
  Status s = (*cipher)->OpenFrame(kEnvelopeSize, FrameKind::kBody, object.subspan(kEnvelopeSize),
                                  plain.data());
  if (!s.ok()) return std::move(s).WithContext(what);
  Codec codec = static_cast<Codec>(plain[0]);
  if (codec == Codec::kNone) return Bytes(plain.begin() + 1, plain.end());
  if (codec != Codec::kZstd) return DataLossError(what + ": bad body codec");
  ByteSpan compressed = ByteSpan(plain).subspan(1);
  auto raw_len = Decompressor::DeclaredSize(compressed);
  if (!raw_len.ok()) return std::move(raw_len).status().WithContext(what);
  if (*raw_len > kMaxBodySize) return DataLossError(what + ": body too large");
  Bytes out(static_cast<size_t>(*raw_len));
  Decompressor d;
  s = d.Decompress(compressed, out);
  if (!s.ok()) return std::move(s).WithContext(what);
  return out;
}

}  // namespace phivault::repo
