#include "phivault/crypto/ed25519.h"

#include <climits>
#include <memory>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "phivault/crypto/crypto.h"

namespace phivault::crypto {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bio = std::unique_ptr<BIO, BioFree>;

// OpenSSL queues an error for every rejected key or signature. A rejection is an ordinary
// outcome here, so the queue is cleared: a stale entry would otherwise be blamed on whatever
// unrelated OpenSSL call happens to fail next in this thread.
Status Fail(Status status) {
  ERR_clear_error();
  return status;
}

Result<Pkey> PrivateKey(const SecretBytes& seed) {
  if (seed.size() != kEd25519SeedSize) {
    return InvalidArgumentError("an ed25519 private key has 32 bytes");
  }
  // OpenSSL copies the seed into memory it wipes when the key is freed.
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (key == nullptr) return Fail(InternalError("ed25519: cannot load the private key"));
  return key;
}

}  // namespace

Result<SecretBytes> Ed25519NewSeed() {
  SecretBytes seed(kEd25519SeedSize);
  PHV_RETURN_IF_ERROR(RandomBytes(seed.mutable_span()));
  return seed;
}

Result<Ed25519PublicKeyBytes> Ed25519PublicKey(const SecretBytes& seed) {
  PHV_ASSIGN_OR_RETURN(Pkey key, PrivateKey(seed));
  Ed25519PublicKeyBytes out{};
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), out.data(), &len) != 1 || len != out.size()) {
    return Fail(InternalError("ed25519: cannot derive the public key"));
  }
  return out;
}

Result<Ed25519SignatureBytes> Ed25519Sign(const SecretBytes& seed, ByteSpan message) {
  PHV_ASSIGN_OR_RETURN(Pkey key, PrivateKey(seed));
  MdCtx ctx(EVP_MD_CTX_new());
  Ed25519SignatureBytes out{};
  size_t len = out.size();
  // Ed25519 hashes internally, so the digest must be null and the message goes in one call.
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), out.data(), &len, message.data(), message.size()) != 1 ||
      len != out.size()) {
    return Fail(InternalError("ed25519: signing failed"));
  }
  return out;
}

Status Ed25519Verify(ByteSpan public_key, ByteSpan message, ByteSpan signature) {
  if (public_key.size() != kEd25519PublicKeySize) {
    return InvalidArgumentError("an ed25519 public key has 32 bytes");
  }
  if (signature.size() != kEd25519SignatureSize) {
    return DataLossError("signature does not verify (it is not 64 bytes)");
  }
  Pkey key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  if (key == nullptr) return Fail(DataLossError("signature does not verify (invalid public key)"));
  MdCtx ctx(EVP_MD_CTX_new());
  if (ctx == nullptr ||
      EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) {
    return Fail(InternalError("ed25519: cannot set up verification"));
  }
  // 1 is a valid signature; 0 an invalid one; below 0 a malformed one, which is no better.
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                       message.size()) != 1) {
    return Fail(DataLossError("signature does not verify"));
  }
  return OkStatus();
}

std::string Ed25519PublicKeyPem(ByteSpan public_key) {
  if (public_key.size() != kEd25519PublicKeySize) return "";
  Pkey key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  Bio bio(BIO_new(BIO_s_mem()));
  if (key == nullptr || bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    ERR_clear_error();
    return "";
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return "";
  return std::string(data, static_cast<size_t>(len));
}

Result<Ed25519PublicKeyBytes> Ed25519PublicKeyFromPem(std::string_view pem) {
  if (pem.size() > INT_MAX) return InvalidArgumentError("public key PEM too large");
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return Fail(InternalError("ed25519: cannot allocate"));
  Pkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) return Fail(InvalidArgumentError("not a PEM public key"));
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return Fail(InvalidArgumentError("the PEM public key is not an ed25519 key"));
  }
  Ed25519PublicKeyBytes out{};
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), out.data(), &len) != 1 || len != out.size()) {
    return Fail(InternalError("ed25519: cannot read the public key"));
  }
  return out;
}

}  // namespace phivault::crypto
