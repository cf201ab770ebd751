#include "phivault/keys/token_slot.h"

#include "phivault/crypto/crypto.h"

namespace phivault::keys {

Result<uint32_t> AddPkcs11Slot(Keystore* keystore, const pkcs11::KeyRef& ref, ByteSpan pin,
                               std::string label) {
  PHV_ASSIGN_OR_RETURN(pkcs11::Session session, pkcs11::Session::Open(ref, pin));
  PHV_ASSIGN_OR_RETURN(SecretBytes slot_key, crypto::RandomKey());
  SlotInfo info;
  info.label = std::move(label);
  info.token_module = ref.module;
  info.token_label = ref.token_label;
  info.token_key_label = ref.key_label;
  PHV_ASSIGN_OR_RETURN(info.token_wrapped, session.Wrap(slot_key.span()));
  // Prove the token gives the key back before the slot depends on it.
  PHV_ASSIGN_OR_RETURN(SecretBytes unwrapped, session.Unwrap(info.token_wrapped, crypto::kKeySize));
  if (!unwrapped.Equals(slot_key.span())) {
    return InternalError("the token did not unwrap the key it wrapped")
        .WithTag(ErrorTag::kKeyDevice);
  }
  return keystore->AddPkcs11Slot(slot_key.span(), std::move(info));
}

Status UnlockWithPkcs11(Keystore* keystore, ByteSpan pin, const std::string& module_override) {
  Status first;
  bool any = false;
  for (const SlotInfo& slot : keystore->slots()) {
    if (slot.type != SlotType::kPkcs11) continue;
    any = true;
    pkcs11::KeyRef ref{module_override.empty() ? slot.token_module : module_override,
                       slot.token_label, slot.token_key_label};
    Status s = [&]() -> Status {
      PHV_ASSIGN_OR_RETURN(pkcs11::Session session, pkcs11::Session::Open(ref, pin));
      PHV_ASSIGN_OR_RETURN(SecretBytes slot_key,
                           session.Unwrap(slot.token_wrapped, crypto::kKeySize));
      return keystore->UnlockSlot(slot.id, slot_key.span());
    }();
    if (s.ok()) return s;
    if (first.ok()) first = std::move(s);
  }
  if (!any) {
    return Status(StatusCode::kNotFound, "the keystore has no PKCS#11 slot (see key list)",
                  ErrorTag::kKeyDevice);
  }
  return first;
}

}  // namespace phivault::keys
