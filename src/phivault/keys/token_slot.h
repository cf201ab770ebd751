// PKCS#11 key slots: the glue between the keystore and a token (pkcs11/pkcs11.h).
//
// A PKCS#11 slot is opened by a random 32-byte slot key that exists outside the token only
// wrapped (CKM_AES_KEY_WRAP_PAD) by an AES key that never leaves it. Adding the slot draws the
// slot key, has the token wrap it and stores the wrapped form with the token's coordinates in the
// keystore; unlocking asks the token to unwrap it and opens the slot with the result. Whoever
// steals the keystore therefore needs the token and its PIN too, and the slot key cannot be
// copied out of a keystore backup alone.
#pragma once

#include <string>

#include "phivault/base/bytes.h"
#include "phivault/base/status.h"
#include "phivault/keys/keystore.h"
#include "phivault/pkcs11/pkcs11.h"

namespace phivault::keys {

// Adds a PKCS#11 slot for the token key `ref` to the unlocked `keystore`; returns its id.
// The token errors of pkcs11::Session::Open (wrong PIN: kUnauthenticated; missing module, token
// or key: tagged kKeyDevice).
Result<uint32_t> AddPkcs11Slot(Keystore* keystore, const pkcs11::KeyRef& ref, ByteSpan pin,
                               std::string label);

// Unlocks `keystore` with its PKCS#11 slots: for each, in order, opens the token it names (with
// `module_override` instead of the recorded module path when not empty), unwraps the slot key and
// opens the slot. Returns the first error when none opens; kNotFound tagged kKeyDevice when the
// keystore has no PKCS#11 slot.
Status UnlockWithPkcs11(Keystore* keystore, ByteSpan pin, const std::string& module_override);

}  // namespace phivault::keys
