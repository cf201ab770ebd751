// Ed25519 signatures (RFC 8032, pure Ed25519 without prehashing or context), used to sign audit
// checkpoints so that a rewritten audit log cannot be passed off as the original.
//
// All of the arithmetic is OpenSSL 3's (EVP_PKEY_ED25519); these functions only convert between
// phivault's types and OpenSSL's. A private key is its 32-byte seed, held in SecretBytes and
// never written anywhere by this file; the caller keeps it in the encrypted keystore. A public
// key is 32 raw bytes, and can be exported as PEM so that an auditor can check signatures with
// the stock `openssl pkeyutl -verify -rawin` without trusting phivault.
//
// Thread safety: every function is safe to call from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "phivault/base/bytes.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"

namespace phivault::crypto {

inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

using Ed25519PublicKeyBytes = std::array<uint8_t, kEd25519PublicKeySize>;
using Ed25519SignatureBytes = std::array<uint8_t, kEd25519SignatureSize>;

// A new random private key (its 32-byte seed) from OpenSSL's DRBG.
Result<SecretBytes> Ed25519NewSeed();

// The public key of `seed`. kInvalidArgument unless the seed has 32 bytes.
Result<Ed25519PublicKeyBytes> Ed25519PublicKey(const SecretBytes& seed);

// The signature of `message` under `seed`. Ed25519 is deterministic: the same seed and message
// always give the same signature. kInvalidArgument unless the seed has 32 bytes.
Result<Ed25519SignatureBytes> Ed25519Sign(const SecretBytes& seed, ByteSpan message);

// OK only when `signature` is a valid signature of `message` under `public_key`; kDataLoss
// ("signature does not verify") for any other signature, including one of the wrong length,
// since signatures come from stored, untrusted bytes. A public key that is not 32 bytes is the
// caller's mistake: kInvalidArgument.
Status Ed25519Verify(ByteSpan public_key, ByteSpan message, ByteSpan signature);

// `public_key` as a PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----"), the form
// `openssl pkeyutl -verify -pubin -inkey` reads. Empty if the key is not 32 bytes.
std::string Ed25519PublicKeyPem(ByteSpan public_key);

// Parses a PEM public key. kInvalidArgument if it is not PEM, or a key of another algorithm.
Result<Ed25519PublicKeyBytes> Ed25519PublicKeyFromPem(std::string_view pem);

}  // namespace phivault::crypto
