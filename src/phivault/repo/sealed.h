// Sealed objects (doc/format/objects.md): the 44-byte envelope header every encrypted object
// starts with, and ObjectCipher, which seals and opens the object's frames under the object key
// derived from the epoch key and the object id.
//
// Readers always build the envelope from what they expect (the object's name, the kind they
// asked for, the epoch an authenticated index gave them), never from unauthenticated bytes, so a
// renamed, swapped or re-typed object fails authentication.
//
// Thread safety: ObjectCipher is used by one thread at a time; Envelope is a plain value.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "phivault/base/bytes.h"
#include "phivault/base/id.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"
#include "phivault/crypto/crypto.h"
#include "phivault/repo/compression.h"

namespace phivault::repo {

enum class ObjectType : uint8_t {
  kDataPack = 1,
  kTreePack = 2,
  kIndex = 3,
  kSnapshot = 4,
  kFilesCache = 5,
  kAuditCheckpoint = 6,
  kDrillRecord = 7,
  kRetentionLedger = 8,
};

enum class FrameKind : uint8_t {
  kBlobs = 1,
  kPackHeader = 2,
  kBody = 3,
};

inline constexpr size_t kEnvelopeSize = 44;
inline constexpr size_t kFrameOverhead = crypto::kTagSize;

std::string_view ObjectTypeName(ObjectType type);

struct Envelope {
  ObjectType type = ObjectType::kDataPack;
  uint32_t epoch = 0;
  Id object_id;

  std::array<uint8_t, kEnvelopeSize> Encode() const;
  // Decodes and checks magic, version, key source and flags. kDataLoss when malformed.
  static Result<Envelope> Decode(ByteSpan bytes, std::string_view what);
};

// Looks up the key of an epoch; nullptr when the keystore lacks it.
using EpochKeyLookup = std::function<const SecretBytes*(uint32_t epoch)>;

class ObjectCipher {
 public:
  // Derives the object key for `envelope`. kFailedPrecondition if the epoch key is missing.
  static Result<std::unique_ptr<ObjectCipher>> Create(const Envelope& envelope,
                                                      const EpochKeyLookup& keys);

  const Envelope& envelope() const { return envelope_; }
  const std::array<uint8_t, kEnvelopeSize>& header() const { return header_; }

  // Seals `plaintext` as the frame starting at byte `offset` of the object into `out`
  // (plaintext.size() + kFrameOverhead bytes).
  Status SealFrame(uint64_t offset, FrameKind kind, ByteSpan plaintext, uint8_t* out);
  // Opens the frame at `offset`; `out` receives sealed.size() - kFrameOverhead bytes.
  // kDataLoss on any authentication failure.
  Status OpenFrame(uint64_t offset, FrameKind kind, ByteSpan sealed, uint8_t* out);

 private:
  ObjectCipher() = default;
  Bytes Aad(uint64_t offset, FrameKind kind) const;

  Envelope envelope_;
  std::array<uint8_t, kEnvelopeSize> header_{};
  SecretBytes key_;
  crypto::Aes256Gcm gcm_;
};

// Single-body objects (index, snapshot, files cache): envelope + one body frame whose plaintext
// is `u8 codec || payload`.
//
// SealBody compresses `payload` when `compress` is set and that helps.
Result<Bytes> SealBody(const Envelope& envelope, const EpochKeyLookup& keys, ByteSpan payload,
                       bool compress);
// Opens a single-body object named `expected_id` of type `expected_type`. The epoch is read from
// the header and bound by the key derivation and the AAD. kDataLoss on any mismatch.
Result<Bytes> OpenBody(ObjectType expected_type, const Id& expected_id, ByteSpan object,
                       const EpochKeyLookup& keys);

}  // namespace phivault::repo
