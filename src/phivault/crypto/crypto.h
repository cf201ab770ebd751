// The cryptographic primitives phivault uses, all from OpenSSL 3 (and libargon2 for Argon2id).
// Nothing here is hand-rolled; these are thin, typed wrappers that turn OpenSSL's return codes
// into Status values and keep key material in SecretBytes.
//
//   RandomBytes / RandomId   OpenSSL's DRBG (RAND_bytes)
//   Aes256Gcm                AES-256-GCM seal/open with 12-byte nonces and 16-byte tags
//   HkdfSha256               RFC 5869 key derivation
//   HmacSha256               keyed hashing (blob ids, keystore MAC)
//   Sha256                   plain hashing of public data (config digest, path hashes)
//   Argon2id                 passphrase stretching for key slots
//
// Thread safety: the free functions are safe to call from any thread. Aes256Gcm and HmacSha256
// hold an OpenSSL context and are used by one thread at a time; give each worker its own.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "phivault/base/bytes.h"
#include "phivault/base/id.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"

namespace phivault::crypto {

inline constexpr size_t kKeySize = 32;
inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kTagSize = 16;

// Fills `out` from the DRBG. Fails (kInternal) only if OpenSSL cannot seed itself.
Status RandomBytes(MutableByteSpan out);
Result<Id> RandomId();
Result<SecretBytes> RandomKey();

// AES-256-GCM. Seal writes ciphertext followed by the tag; Open checks the tag before it
// releases any plaintext and reports a mismatch as kDataLoss.
class Aes256Gcm {
 public:
  Aes256Gcm();
  ~Aes256Gcm();
  Aes256Gcm(const Aes256Gcm&) = delete;
  Aes256Gcm& operator=(const Aes256Gcm&) = delete;

  // Encrypts `plaintext` into `out`, which must have room for plaintext.size() + kTagSize bytes.
  // REQUIRES: key.size() == kKeySize, nonce.size() == kNonceSize.
  Status Seal(ByteSpan key, ByteSpan nonce, ByteSpan aad, ByteSpan plaintext, uint8_t* out);
  // Decrypts `sealed` (ciphertext || tag) into `out`, which must have room for
  // sealed.size() - kTagSize bytes. On a tag mismatch `out` is wiped and kDataLoss returned.
  Status Open(ByteSpan key, ByteSpan nonce, ByteSpan aad, ByteSpan sealed, uint8_t* out);

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

// RFC 5869 HKDF with SHA-256.
Result<SecretBytes> HkdfSha256(ByteSpan ikm, ByteSpan salt, std::string_view info, size_t length);

class HmacSha256 {
 public:
  // A context keyed with `key`; the key is copied into OpenSSL's context.
  static Result<std::unique_ptr<HmacSha256>> Create(ByteSpan key);
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  // The MAC of `data` under the context's key.
  Result<Id> Compute(ByteSpan data);

 private:
  struct Ctx;
  explicit HmacSha256(std::unique_ptr<Ctx> ctx);
  std::unique_ptr<Ctx> ctx_;
};

Id Sha256(ByteSpan data);

// MD5, for the Content-MD5 and ETag integrity checksums that S3 speaks; never for security.
std::array<uint8_t, 16> Md5(ByteSpan data);

// Standard base64 with padding (RFC 4648 section 4), as HTTP headers want it.
std::string Base64(ByteSpan data);

struct Argon2idParams {
  uint32_t memory_kib = 64 * 1024;
  uint32_t iterations = 3;
  uint32_t parallelism = 2;
};

// Argon2id (version 1.3) of `passphrase` with `salt`, `out_len` bytes of output. kInvalidArgument
// for parameters libargon2 rejects; kResourceExhausted if the memory cannot be allocated.
Result<SecretBytes> Argon2id(ByteSpan passphrase, ByteSpan salt, const Argon2idParams& params,
                             size_t out_len);

}  // namespace phivault::crypto
