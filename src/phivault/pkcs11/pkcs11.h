// The PKCS#11 client: wraps and unwraps a repository's master key under an AES-256 key that
// lives inside an HSM or token and never leaves it.
//
// A Session loads the vendor's PKCS#11 module with dlopen (no p11-kit proxy, so any vendor's
// module works the same), finds the token by its label (slot numbers change when tokens are
// initialised or plugged in elsewhere), logs in as the user and finds the wrapping key by its
// CKA_LABEL. Wrap and Unwrap use CKM_AES_KEY_WRAP_PAD (RFC 5649): the only AES wrapping mode
// SoftHSM and most HSMs offer for C_WrapKey (none of them wrap with GCM). The key slot's secret
// passes through the token as a short-lived session object that is destroyed before the call
// returns; the keystore stores the wrapped blob.
//
// The wrapping is deterministic: the same secret under the same token key always gives the same
// blob. RFC 5649's integrity check makes a blob altered in any bit, or wrapped under another
// key, fail to unwrap. Secrets are whole 8-byte blocks: SoftHSM 2.6.1 zero-pads other sizes
// before wrapping, so its blob would record the padded length and every other RFC 5649
// implementation would unwrap it to the padded value. For whole blocks the blob is exactly
// RFC 5649's (the tests check it against OpenSSL's). PKCS#11 3.0 moved RFC 5649 to
// CKM_AES_KEY_WRAP_KWP (0x210B) and gave 0x210A another meaning; SoftHSM and older modules use
// 0x210A, and a module that pads differently is caught by the blob size Wrap insists on.
//
// Errors carry ErrorTag::kKeyDevice (exit 21) when the module, token or key is missing or the
// token fails; a wrong PIN is kUnauthenticated (exit 11); a blob the token refuses to unwrap is
// kDataLoss tagged kKeystore (exit 13). Messages name the module, token and key labels, never
// the PIN or key bytes.
//
// Ownership: a Session owns its PKCS#11 session and a share of the loaded module. Modules are
// loaded and C_Initialize'd once per process and finalised and unloaded when their last Session
// closes, so Sessions may come and go independently. PKCS#11 keeps one login per token and
// process: a Session opened on a token another Session of this process is logged in to shares
// that login (the token answers CKR_USER_ALREADY_LOGGED_IN and does not check the PIN again),
// and the token is logged out only when its last Session closes.
//
// Thread safety: Open and the destructor may be called from any thread. One Session is used by
// one thread at a time; distinct Sessions may be used concurrently (the module is initialised
// with CKF_OS_LOCKING_OK).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "phivault/base/bytes.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"

namespace phivault::pkcs11 {

// Which key on which token.
struct KeyRef {
  // Path of the PKCS#11 shared library, e.g. /usr/lib/softhsm/libsofthsm2.so.
  std::string module;
  // The token's label (CK_TOKEN_INFO.label without its blank padding, at most 32 bytes).
  std::string token_label;
  // The CKA_LABEL of an AES secret key on the token whose CKA_WRAP and CKA_UNWRAP are true.
  std::string key_label;
};

// Sizes of the secrets Wrap accepts and Unwrap returns: a multiple of 8 in this range.
inline constexpr size_t kMinSecretSize = 16;
inline constexpr size_t kMaxSecretSize = 64;

// True for the secret sizes above.
constexpr bool IsWrappableSize(size_t n) {
  return n >= kMinSecretSize && n <= kMaxSecretSize && n % 8 == 0;
}

// The size of the blob Wrap returns for a secret of `secret_size` bytes: RFC 5649 adds an 8-byte
// integrity block (and would pad, but wrappable sizes need no padding).
constexpr size_t WrappedSize(size_t secret_size) { return secret_size + 8; }

// A logged-in user session on one token, with the wrapping key found.
class Session {
 public:
  // Loads the module, finds the token and logs in with `pin`. Errors:
  //   kNotFound + kKeyDevice: module missing or not a PKCS#11 module, token or key not found,
  //                           key lacking CKA_WRAP or CKA_UNWRAP;
  //   kFailedPrecondition + kKeyDevice: several tokens or keys with the label, key not AES;
  //   kUnauthenticated: wrong PIN;  kPermissionDenied + kKeyDevice: PIN locked or expired;
  //   kInternal + kKeyDevice: any other failure of the module.
  static Result<Session> Open(const KeyRef& ref, ByteSpan pin);

  Session(Session&& other) noexcept;
  Session& operator=(Session&& other) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // Closes the PKCS#11 session (logging out first if it is this process's last on the token)
  // and releases the module.
  ~Session();

  // Wraps `secret` under the token key; kInvalidArgument unless IsWrappableSize(secret.size()).
  // Returns WrappedSize(secret.size()) bytes.
  Result<Bytes> Wrap(ByteSpan secret);

  // Unwraps a blob made by Wrap from a secret of `expected_size` bytes; kInvalidArgument unless
  // IsWrappableSize(expected_size). A blob that is altered, of the wrong size, or wrapped under
  // another key is kDataLoss tagged kKeystore.
  Result<SecretBytes> Unwrap(ByteSpan wrapped, size_t expected_size);

  // The token key's CKA_EXTRACTABLE. A key that may be extracted is not kept safe by the token;
  // callers may refuse or warn.
  Result<bool> KeyIsExtractable();

  const KeyRef& ref() const;

 private:
  struct State;
  explicit Session(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace phivault::pkcs11
