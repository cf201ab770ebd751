#include "phivault/crypto/crypto.h"

#include <argon2.h>

#include <climits>
#include <string>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

namespace phivault::crypto {
namespace {

// Algorithms are fetched once per process: an implicit fetch on every EVP_*Init call takes a
// global lock and a property query, which shows up when sealing tens of thousands of frames.
const EVP_CIPHER* AesGcmCipher() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

EVP_KDF* HkdfAlgorithm() {
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

EVP_MAC* HmacAlgorithm() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

int ToInt(size_t n) { return n > INT_MAX ? -1 : static_cast<int>(n); }

}  // namespace

Status RandomBytes(MutableByteSpan out) {
  if (out.size() > INT_MAX) return InternalError("random request too large");
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return InternalError("the random number generator failed");
  }
  return OkStatus();
}

Result<Id> RandomId() {
  Id id;
  PHV_RETURN_IF_ERROR(RandomBytes(id.bytes));
  return id;
}

Result<SecretBytes> RandomKey() {
  SecretBytes key(kKeySize);
  PHV_RETURN_IF_ERROR(RandomBytes(key.mutable_span()));
  return key;
}

struct Aes256Gcm::Ctx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~Ctx() { EVP_CIPHER_CTX_free(ctx); }
};

Aes256Gcm::Aes256Gcm() : ctx_(std::make_unique<Ctx>()) {}
Aes256Gcm::~Aes256Gcm() = default;

Status Aes256Gcm::Seal(ByteSpan key, ByteSpan nonce, ByteSpan aad, ByteSpan plaintext,
                       uint8_t* out) {
  if (key.size() != kKeySize || nonce.size() != kNonceSize) {
    return InternalError("aes-gcm: bad key or nonce size");
  }
  int aad_len = ToInt(aad.size());
  int pt_len = ToInt(plaintext.size());
  if (ctx_->ctx == nullptr || AesGcmCipher() == nullptr || aad_len < 0 || pt_len < 0) {
    return InternalError("aes-gcm: cannot seal");
  }
  EVP_CIPHER_CTX* c = ctx_->ctx;
  int len = 0;
  int final_len = 0;
  bool ok = EVP_EncryptInit_ex2(c, AesGcmCipher(), key.data(), nonce.data(), nullptr) == 1 &&
            (aad_len == 0 || EVP_EncryptUpdate(c, nullptr, &len, aad.data(), aad_len) == 1) &&
            (pt_len == 0 || EVP_EncryptUpdate(c, out, &len, plaintext.data(), pt_len) == 1) &&
            EVP_EncryptFinal_ex(c, out + (pt_len == 0 ? 0 : len), &final_len) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                                out + plaintext.size()) == 1;
  return ok ? OkStatus() : InternalError("aes-gcm: openssl failed to seal");
}

Status Aes256Gcm::Open(ByteSpan key, ByteSpan nonce, ByteSpan aad, ByteSpan sealed, uint8_t* out) {
  if (key.size() != kKeySize || nonce.size() != kNonceSize) {
    return InternalError("aes-gcm: bad key or nonce size");
  }
  if (sealed.size() < kTagSize) return DataLossError("sealed data shorter than its tag");
  size_t ct_size = sealed.size() - kTagSize;
  int aad_len = ToInt(aad.size());
  int ct_len = ToInt(ct_size);
  if (ctx_->ctx == nullptr || AesGcmCipher() == nullptr || aad_len < 0 || ct_len < 0) {
    return InternalError("aes-gcm: cannot open");
  }
  EVP_CIPHER_CTX* c = ctx_->ctx;
  int len = 0;
  int final_len = 0;
  bool setup = EVP_DecryptInit_ex2(c, AesGcmCipher(), key.data(), nonce.data(), nullptr) == 1 &&
               (aad_len == 0 || EVP_DecryptUpdate(c, nullptr, &len, aad.data(), aad_len) == 1) &&
               (ct_len == 0 || EVP_DecryptUpdate(c, out, &len, sealed.data(), ct_len) == 1) &&
               EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                                   const_cast<uint8_t*>(sealed.data() + ct_size)) == 1;
  if (!setup) return InternalError("aes-gcm: openssl failed to open");
  if (EVP_DecryptFinal_ex(c, out + (ct_len == 0 ? 0 : len), &final_len) != 1) {
    SecureWipe(out, ct_size);
    return DataLossError("authentication failed (corrupted or tampered data, or wrong key)");
  }
  return OkStatus();
}

Result<SecretBytes> HkdfSha256(ByteSpan ikm, ByteSpan salt, std::string_view info, size_t length) {
  EVP_KDF* kdf = HkdfAlgorithm();
  if (kdf == nullptr) return InternalError("hkdf: not available in this openssl");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  if (ctx == nullptr) return InternalError("hkdf: cannot allocate");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()), ikm.size()),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()), salt.size()),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
                         OSSL_PARAM_construct_end()};
  SecretBytes out(length);
  int rc = EVP_KDF_derive(ctx, out.data(), out.size(), params);
  EVP_KDF_CTX_free(ctx);
  if (rc != 1) return InternalError("hkdf: derivation failed");
  return out;
}

struct HmacSha256::Ctx {
  EVP_MAC_CTX* ctx = nullptr;
  ~Ctx() { EVP_MAC_CTX_free(ctx); }
};

HmacSha256::HmacSha256(std::unique_ptr<Ctx> ctx) : ctx_(std::move(ctx)) {}
HmacSha256::~HmacSha256() = default;

Result<std::unique_ptr<HmacSha256>> HmacSha256::Create(ByteSpan key) {
  if (HmacAlgorithm() == nullptr) return InternalError("hmac: not available in this openssl");
  auto ctx = std::make_unique<Ctx>();
  ctx->ctx = EVP_MAC_CTX_new(HmacAlgorithm());
  if (ctx->ctx == nullptr) return InternalError("hmac: cannot allocate");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx->ctx, key.data(), key.size(), params) != 1) {
    return InternalError("hmac: cannot set key");
  }
  return std::unique_ptr<HmacSha256>(new HmacSha256(std::move(ctx)));
}

Result<Id> HmacSha256::Compute(ByteSpan data) {
  // A null key re-initialises the context with the key it already holds.
  Id out;
  size_t out_len = 0;
  if (EVP_MAC_init(ctx_->ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(ctx_->ctx, data.data(), data.size()) != 1 ||
      EVP_MAC_final(ctx_->ctx, out.bytes.data(), &out_len, out.bytes.size()) != 1 ||
      out_len != Id::kSize) {
    return InternalError("hmac: computation failed");
  }
  return out;
}

Id Sha256(ByteSpan data) {
  Id out;
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.bytes.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::array<uint8_t, 16> Md5(ByteSpan data) {
  std::array<uint8_t, 16> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_md5(), nullptr);
  return out;
}

std::string Base64(ByteSpan data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data.data(),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<SecretBytes> Argon2id(ByteSpan passphrase, ByteSpan salt, const Argon2idParams& params,
                             size_t out_len) {
  SecretBytes out(out_len);
  int rc =
      argon2id_hash_raw(params.iterations, params.memory_kib, params.parallelism, passphrase.data(),
                        passphrase.size(), salt.data(), salt.size(), out.data(), out.size());
  if (rc == ARGON2_OK) return out;
  std::string message = std::string("argon2id: ") + argon2_error_message(rc);
  if (rc == ARGON2_MEMORY_ALLOCATION_ERROR) return ResourceExhaustedError(message);
  return InvalidArgumentError(message);
}

}  // namespace phivault::crypto
