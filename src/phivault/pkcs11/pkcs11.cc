#include "phivault/pkcs11/pkcs11.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include <p11-kit/pkcs11.h>

namespace phivault::pkcs11 {
namespace {

constexpr size_t kTokenLabelSize = sizeof(CK_TOKEN_INFO{}.label);

Status DeviceError(StatusCode code, std::string message) {
  return Status(code, std::move(message), ErrorTag::kKeyDevice);
}

std::string RvName(CK_RV rv) {
  struct Name {
    CK_RV rv;
    const char* name;
  };
#define PHV_CKR(code) \
  { code, #code }
  static constexpr Name kNames[] = {
      PHV_CKR(CKR_OK),
      PHV_CKR(CKR_CANCEL),
      PHV_CKR(CKR_HOST_MEMORY),
      PHV_CKR(CKR_SLOT_ID_INVALID),
      PHV_CKR(CKR_GENERAL_ERROR),
      PHV_CKR(CKR_FUNCTION_FAILED),
      PHV_CKR(CKR_ARGUMENTS_BAD),
      PHV_CKR(CKR_CANT_LOCK),
      PHV_CKR(CKR_ATTRIBUTE_READ_ONLY),
      PHV_CKR(CKR_ATTRIBUTE_SENSITIVE),
      PHV_CKR(CKR_ATTRIBUTE_TYPE_INVALID),
      PHV_CKR(CKR_ATTRIBUTE_VALUE_INVALID),
      PHV_CKR(CKR_ACTION_PROHIBITED),
      PHV_CKR(CKR_DATA_INVALID),
      PHV_CKR(CKR_DATA_LEN_RANGE),
      PHV_CKR(CKR_DEVICE_ERROR),
      PHV_CKR(CKR_DEVICE_MEMORY),
      PHV_CKR(CKR_DEVICE_REMOVED),
      PHV_CKR(CKR_ENCRYPTED_DATA_INVALID),
      PHV_CKR(CKR_ENCRYPTED_DATA_LEN_RANGE),
      PHV_CKR(CKR_FUNCTION_CANCELED),
      PHV_CKR(CKR_FUNCTION_NOT_SUPPORTED),
      PHV_CKR(CKR_KEY_HANDLE_INVALID),
      PHV_CKR(CKR_KEY_SIZE_RANGE),
      PHV_CKR(CKR_KEY_TYPE_INCONSISTENT),
      PHV_CKR(CKR_KEY_FUNCTION_NOT_PERMITTED),
      PHV_CKR(CKR_KEY_UNEXTRACTABLE),
      PHV_CKR(CKR_MECHANISM_INVALID),
      PHV_CKR(CKR_MECHANISM_PARAM_INVALID),
      PHV_CKR(CKR_OBJECT_HANDLE_INVALID),
      PHV_CKR(CKR_OPERATION_ACTIVE),
      PHV_CKR(CKR_OPERATION_NOT_INITIALIZED),
      PHV_CKR(CKR_PIN_INCORRECT),
      PHV_CKR(CKR_PIN_INVALID),
      PHV_CKR(CKR_PIN_LEN_RANGE),
      PHV_CKR(CKR_PIN_EXPIRED),
      PHV_CKR(CKR_PIN_LOCKED),
      PHV_CKR(CKR_SESSION_CLOSED),
      PHV_CKR(CKR_SESSION_COUNT),
      PHV_CKR(CKR_SESSION_HANDLE_INVALID),
      PHV_CKR(CKR_SESSION_READ_ONLY),
      PHV_CKR(CKR_TEMPLATE_INCOMPLETE),
      PHV_CKR(CKR_TEMPLATE_INCONSISTENT),
      PHV_CKR(CKR_TOKEN_NOT_PRESENT),
      PHV_CKR(CKR_TOKEN_NOT_RECOGNIZED),
      PHV_CKR(CKR_TOKEN_WRITE_PROTECTED),
      PHV_CKR(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
      PHV_CKR(CKR_UNWRAPPING_KEY_SIZE_RANGE),
      PHV_CKR(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
      PHV_CKR(CKR_USER_ALREADY_LOGGED_IN),
      PHV_CKR(CKR_USER_NOT_LOGGED_IN),
      PHV_CKR(CKR_USER_PIN_NOT_INITIALIZED),
      PHV_CKR(CKR_USER_TYPE_INVALID),
      PHV_CKR(CKR_WRAPPED_KEY_INVALID),
      PHV_CKR(CKR_WRAPPED_KEY_LEN_RANGE),
      PHV_CKR(CKR_WRAPPING_KEY_HANDLE_INVALID),
      PHV_CKR(CKR_WRAPPING_KEY_SIZE_RANGE),
      PHV_CKR(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
      PHV_CKR(CKR_BUFFER_TOO_SMALL),
      PHV_CKR(CKR_CRYPTOKI_NOT_INITIALIZED),
      PHV_CKR(CKR_CRYPTOKI_ALREADY_INITIALIZED),
      PHV_CKR(CKR_FUNCTION_REJECTED),
  };
#undef PHV_CKR
  char hex[24];
  std::snprintf(hex, sizeof hex, "0x%lx", rv);
  for (const Name& n : kNames) {
    if (n.rv == rv) return std::string(n.name) + " (" + hex + ")";
  }
  return rv >= CKR_VENDOR_DEFINED ? std::string("vendor-defined ") + hex : std::string(hex);
}

// A function of the module failed for a reason phivault has no better answer to.
Status CallError(std::string_view function, CK_RV rv, std::string_view where) {
  std::string message =
      std::string(function) + " failed on " + std::string(where) + ": " + RvName(rv);
  switch (rv) {
    case CKR_PIN_LOCKED:
      return DeviceError(StatusCode::kPermissionDenied,
                         message + "; the token's security officer must unlock the user PIN");
    case CKR_PIN_EXPIRED:
      return DeviceError(StatusCode::kPermissionDenied,
                         message + "; set a new user PIN with the token's own tools");
    default: return DeviceError(StatusCode::kInternal, std::move(message));
  }
}

// True for the answers to C_UnwrapKey that say nothing about the wrapped bytes: the session,
// device, login or our own template failed. Everything else blames the blob, because modules
// report a failed integrity check in many ways (SoftHSM 2.6.1 says CKR_GENERAL_ERROR for some).
bool IsUnwrapEnvironmentFailure(CK_RV rv) {
  switch (rv) {
    case CKR_HOST_MEMORY:
    case CKR_DEVICE_MEMORY:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_READ_ONLY:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_ARGUMENTS_BAD:
    case CKR_FUNCTION_NOT_SUPPORTED:
    case CKR_FUNCTION_CANCELED:
    case CKR_OPERATION_ACTIVE:
    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_UNWRAPPING_KEY_HANDLE_INVALID:
    case CKR_UNWRAPPING_KEY_SIZE_RANGE:
    case CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT:
    case CKR_ATTRIBUTE_READ_ONLY:
    case CKR_ATTRIBUTE_TYPE_INVALID:
    case CKR_TEMPLATE_INCOMPLETE:
    case CKR_TEMPLATE_INCONSISTENT: return true;
    default: return false;
  }
}

Status SizeError(std::string_view what, size_t size) {
  return InvalidArgumentError(std::string(what) + " must have a multiple of 8 bytes from " +
                              std::to_string(kMinSecretSize) + " to " +
                              std::to_string(kMaxSecretSize) + ", not " + std::to_string(size));
}

std::string DlError() {
  const char* e = dlerror();
  return e != nullptr ? e : "unknown reason";
}

// A label from CK_TOKEN_INFO without its padding (blanks by the standard; some modules use NULs).
std::string TrimLabel(const unsigned char* label, size_t size) {
  std::string s(reinterpret_cast<const char*>(label), size);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

// The modules this process has loaded. PKCS#11 allows one C_Initialize per module and process
// and keeps one login per token and process, so both are counted here across all Sessions: the
// first Session to load a module initialises it, the last one finalises it, and the last one on
// a token logs out. One mutex guards the table and the calls that change this shared state.
class ModuleTable {
 public:
  struct Lease {
    void* handle;
    CK_FUNCTION_LIST* functions;
  };

  static ModuleTable& Get() {
    // Never destroyed, so a Session that outlives static destruction can still close.
    static ModuleTable* table = new ModuleTable;
    return *table;
  }

  Result<Lease> Acquire(const std::string& path) {
    std::lock_guard lock(mu_);
    dlerror();
    // Every Acquire holds one dlopen reference, so the library stays mapped until the last
    // Release, however the modules' paths are spelled.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      return DeviceError(StatusCode::kNotFound,
                         "PKCS#11 module " + path + " could not be loaded: " + DlError());
    }
    if (auto it = modules_.find(handle); it != modules_.end()) {
      ++it->second.sessions;
      return Lease{handle, it->second.functions};
    }
    Result<Module> module = Initialize(handle, path);
    if (!module.ok()) {
      dlclose(handle);
      return module.status();
    }
    modules_.emplace(handle, *module);
    return Lease{handle, module->functions};
  }

  void Release(void* handle) {
    std::lock_guard lock(mu_);
    auto it = modules_.find(handle);
    if (--it->second.sessions == 0) {
      // Only if we initialised it: another part of the process may still be using the module.
      if (it->second.finalize) it->second.functions->C_Finalize(nullptr);
      modules_.erase(it);
    }
    dlclose(handle);
  }

  void AddSession(void* handle, CK_SLOT_ID slot) {
    std::lock_guard lock(mu_);
    ++modules_.at(handle).sessions_per_slot[slot];
  }

  // Closes `session`, logging out first if it is the process's last session on `slot`: a logout
  // ends the login of every session on the token.
  void CloseSession(void* handle, CK_SLOT_ID slot, CK_SESSION_HANDLE session) {
    std::lock_guard lock(mu_);
    Module& module = modules_.at(handle);
    auto it = module.sessions_per_slot.find(slot);
    if (--it->second == 0) {
      module.sessions_per_slot.erase(it);
      // CKR_USER_NOT_LOGGED_IN after a failed login is expected; there is nothing to do about
      // any other answer either, and closing the session follows regardless.
      module.functions->C_Logout(session);
    }
    module.functions->C_CloseSession(session);
  }

 private:
  struct Module {
    CK_FUNCTION_LIST* functions = nullptr;
    bool finalize = false;  // we called C_Initialize, so we call C_Finalize
    int sessions = 0;
    std::map<CK_SLOT_ID, int> sessions_per_slot;
  };

  static Result<Module> Initialize(void* handle, const std::string& path) {
    void* symbol = dlsym(handle, "C_GetFunctionList");
    if (symbol == nullptr) {
      return DeviceError(StatusCode::kNotFound,
                         path + " is not a PKCS#11 module (no C_GetFunctionList): " + DlError());
    }
    CK_C_GetFunctionList get_function_list;
    static_assert(sizeof get_function_list == sizeof symbol);
    std::memcpy(&get_function_list, &symbol, sizeof symbol);  // POSIX: data to function pointer

    Module module;
    CK_RV rv = get_function_list(&module.functions);
    if (rv != CKR_OK || module.functions == nullptr) {
      return CallError("C_GetFunctionList", rv, "PKCS#11 module " + path);
    }
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;  // we call from several threads and bring no mutexes
    rv = module.functions->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      return CallError("C_Initialize", rv, "PKCS#11 module " + path);
    }
    module.finalize = rv == CKR_OK;
    module.sessions = 1;
    return module;
  }

  std::mutex mu_;
  std::map<void*, Module> modules_;
};

// A session object that is destroyed when this goes out of scope, whatever happened meanwhile.
class TemporaryObject {
 public:
  TemporaryObject(CK_FUNCTION_LIST* functions, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object)
      : functions_(functions), session_(session), object_(object) {}
  ~TemporaryObject() {
    // A failure leaves the object until the session closes, which destroys it as well.
    functions_->C_DestroyObject(session_, object_);
  }
  TemporaryObject(const TemporaryObject&) = delete;
  TemporaryObject& operator=(const TemporaryObject&) = delete;

  CK_OBJECT_HANDLE get() const { return object_; }

 private:
  CK_FUNCTION_LIST* functions_;
  CK_SESSION_HANDLE session_;
  CK_OBJECT_HANDLE object_;
};

constexpr CK_ULONG Count(const auto& array) { return std::size(array); }

}  // namespace

struct Session::State {
  KeyRef ref;
  void* module = nullptr;  // the ModuleTable key, once acquired
  CK_FUNCTION_LIST* f = nullptr;
  CK_SLOT_ID slot = 0;
  bool has_session = false;
  CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;

  ~State() {
    if (has_session) ModuleTable::Get().CloseSession(module, slot, session);
    if (module != nullptr) ModuleTable::Get().Release(module);
  }

  std::string Token() const { return "token '" + ref.token_label + "'"; }
  std::string Key() const { return "key '" + ref.key_label + "' on " + Token(); }

  Status FindSlot();
  Status Login(ByteSpan pin);
  Status FindKey();
  Status CheckKey();
};

Status Session::State::FindSlot() {
  std::vector<CK_SLOT_ID> slots;
  CK_ULONG n = 0;
  CK_RV rv;
  do {  // a token may appear between the two calls; then the list no longer fits
    rv = f->C_GetSlotList(CK_TRUE, nullptr, &n);
    if (rv != CKR_OK) return CallError("C_GetSlotList", rv, "PKCS#11 module " + ref.module);
    slots.resize(n);
    rv = f->C_GetSlotList(CK_TRUE, slots.data(), &n);
  } while (rv == CKR_BUFFER_TOO_SMALL);
  if (rv != CKR_OK) return CallError("C_GetSlotList", rv, "PKCS#11 module " + ref.module);
  slots.resize(n);

  std::vector<CK_SLOT_ID> matches;
  std::string seen;
  for (CK_SLOT_ID id : slots) {
    CK_TOKEN_INFO info;
    rv = f->C_GetTokenInfo(id, &info);
    if (rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_DEVICE_REMOVED) continue;  // just unplugged
    if (rv != CKR_OK) return CallError("C_GetTokenInfo", rv, "PKCS#11 module " + ref.module);
    std::string label = TrimLabel(info.label, sizeof info.label);
    if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) label = "(uninitialised)";
    seen += (seen.empty() ? "'" : ", '") + label + "'";
    if ((info.flags & CKF_TOKEN_INITIALIZED) != 0 && label == ref.token_label) {
      matches.push_back(id);
    }
  }
  if (matches.empty()) {
    return DeviceError(StatusCode::kNotFound,
                       Token() + " not found: PKCS#11 module " + ref.module + " shows " +
                           std::to_string(slots.size()) + " tokens" +
                           (seen.empty() ? std::string() : " (" + seen + ")"));
  }
  if (matches.size() > 1) {
    return DeviceError(StatusCode::kFailedPrecondition,
                       std::to_string(matches.size()) + " tokens of PKCS#11 module " + ref.module +
                           " are labelled '" + ref.token_label +
                           "'; refusing to guess, relabel all but one");
  }
  slot = matches[0];
  return OkStatus();
}

Status Session::State::Login(ByteSpan pin) {
  SecretBytes copy(pin);  // C_Login wants a mutable buffer; this one is wiped afterwards
  CK_RV rv = f->C_Login(session, CKU_USER, copy.data(), copy.size());
  switch (rv) {
    case CKR_OK:
    case CKR_USER_ALREADY_LOGGED_IN:  // another Session of this process logged in
      return OkStatus();
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE: return UnauthenticatedError("wrong PIN for " + Token());
    case CKR_USER_PIN_NOT_INITIALIZED:
      return DeviceError(StatusCode::kFailedPrecondition,
                         Token() + " has no user PIN yet; its security officer must set one");
    default: return CallError("C_Login", rv, Token());
  }
}

Status Session::State::FindKey() {
  CK_OBJECT_CLASS secret_key = CKO_SECRET_KEY;
  CK_ATTRIBUTE match[] = {
      {CKA_CLASS, &secret_key, sizeof secret_key},
      {CKA_LABEL, ref.key_label.data(), ref.key_label.size()},
  };
  CK_RV rv = f->C_FindObjectsInit(session, match, Count(match));
  if (rv != CKR_OK) return CallError("C_FindObjectsInit", rv, Token());
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  rv = f->C_FindObjects(session, found, Count(found), &n);
  CK_RV final_rv = f->C_FindObjectsFinal(session);  // ends the search even if it failed
  if (rv != CKR_OK) return CallError("C_FindObjects", rv, Token());
  if (final_rv != CKR_OK) return CallError("C_FindObjectsFinal", final_rv, Token());
  if (n == 0) {
    return DeviceError(StatusCode::kNotFound, "no secret key labelled '" + ref.key_label + "' on " +
                                                  Token() + " (or not visible to the user)");
  }
  if (n > 1) {
    return DeviceError(StatusCode::kFailedPrecondition,
                       "several secret keys on " + Token() + " are labelled '" + ref.key_label +
                           "'; refusing to guess, relabel all but one");
  }
  key = found[0];
  return OkStatus();
}

Status Session::State::CheckKey() {
  CK_KEY_TYPE type = 0;
  CK_BBOOL wrap = CK_FALSE;
  CK_BBOOL unwrap = CK_FALSE;
  CK_ATTRIBUTE attributes[] = {
      {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_WRAP, &wrap, sizeof wrap},
      {CKA_UNWRAP, &unwrap, sizeof unwrap},
  };
  CK_RV rv = f->C_GetAttributeValue(session, key, attributes, Count(attributes));
  // With these two answers the readable attributes are filled in and the others marked.
  if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_ATTRIBUTE_SENSITIVE) {
    return CallError("C_GetAttributeValue", rv, Key());
  }
  auto is_true = [](const CK_ATTRIBUTE& a, CK_BBOOL value) {
    return a.ulValueLen == sizeof value && value == CK_TRUE;
  };
  if (attributes[0].ulValueLen != sizeof type || type != CKK_AES) {
    return DeviceError(StatusCode::kFailedPrecondition,
                       Key() + " is not an AES key; phivault wraps with CKM_AES_KEY_WRAP_PAD");
  }
  if (!is_true(attributes[1], wrap) || !is_true(attributes[2], unwrap)) {
    return DeviceError(StatusCode::kNotFound,
                       Key() + " may not " + (is_true(attributes[1], wrap) ? "unwrap" : "wrap") +
                           " (CKA_WRAP and CKA_UNWRAP must both be true); use a key made for "
                           "wrapping");
  }
  return OkStatus();
}

Session::Session(std::unique_ptr<State> state) : state_(std::move(state)) {}
Session::Session(Session&& other) noexcept = default;
Session& Session::operator=(Session&& other) noexcept = default;
Session::~Session() = default;

Result<Session> Session::Open(const KeyRef& ref, ByteSpan pin) {
  if (ref.token_label.empty() || ref.token_label.size() > kTokenLabelSize) {
    return InvalidArgumentError("PKCS#11 token label '" + ref.token_label + "' must have 1 to " +
                                std::to_string(kTokenLabelSize) + " bytes");
  }
  if (ref.key_label.empty()) {
    return InvalidArgumentError("no key label given for PKCS#11 token '" + ref.token_label + "'");
  }
  // From here on the State's destructor undoes whatever step succeeded before a failure.
  auto state = std::make_unique<State>();
  state->ref = ref;
  PHV_ASSIGN_OR_RETURN(ModuleTable::Lease lease, ModuleTable::Get().Acquire(ref.module));
  state->module = lease.handle;
  state->f = lease.functions;

  PHV_RETURN_IF_ERROR(state->FindSlot());
  // Read-write: creating even a session object needs a read-write session.
  CK_RV rv = state->f->C_OpenSession(state->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                     nullptr, &state->session);
  if (rv != CKR_OK) return CallError("C_OpenSession", rv, state->Token());
  ModuleTable::Get().AddSession(state->module, state->slot);
  state->has_session = true;

  PHV_RETURN_IF_ERROR(state->Login(pin));
  PHV_RETURN_IF_ERROR(state->FindKey());
  PHV_RETURN_IF_ERROR(state->CheckKey());
  return Session(std::move(state));
}

Result<Bytes> Session::Wrap(ByteSpan secret) {
  if (!state_) return InternalError("PKCS#11 session used after it was moved from");
  if (!IsWrappableSize(secret.size())) return SizeError("a secret to wrap", secret.size());
  State& s = *state_;
  SecretBytes value(secret);  // the template needs a mutable pointer
  CK_OBJECT_CLASS secret_key = CKO_SECRET_KEY;
  CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE temporary[] = {
      {CKA_CLASS, &secret_key, sizeof secret_key},
      {CKA_KEY_TYPE, &generic, sizeof generic},
      {CKA_TOKEN, &no, sizeof no},          // a session object: never stored on the token
      {CKA_PRIVATE, &yes, sizeof yes},      // visible only to logged-in sessions
      {CKA_SENSITIVE, &no, sizeof no},      // lives for one call; its value is ours anyway
      {CKA_EXTRACTABLE, &yes, sizeof yes},  // C_WrapKey requires it
      {CKA_VALUE, value.data(), value.size()},
  };
  CK_OBJECT_HANDLE handle;
  CK_RV rv = s.f->C_CreateObject(s.session, temporary, Count(temporary), &handle);
  if (rv != CKR_OK) return CallError("C_CreateObject", rv, s.Token());
  TemporaryObject object(s.f, s.session, handle);

  CK_MECHANISM mechanism{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
  Bytes wrapped(WrappedSize(secret.size()));
  CK_ULONG size = wrapped.size();
  rv = s.f->C_WrapKey(s.session, &mechanism, s.key, object.get(), wrapped.data(), &size);
  if (rv != CKR_OK) return CallError("C_WrapKey", rv, s.Key());
  if (size != wrapped.size()) {
    return DeviceError(StatusCode::kInternal, "C_WrapKey with " + s.Key() + " returned " +
                                                  std::to_string(size) + " bytes, expected " +
                                                  std::to_string(wrapped.size()));
  }
  return wrapped;
}

Result<SecretBytes> Session::Unwrap(ByteSpan wrapped, size_t expected_size) {
  if (!state_) return InternalError("PKCS#11 session used after it was moved from");
  if (!IsWrappableSize(expected_size)) return SizeError("an unwrapped secret", expected_size);
  State& s = *state_;
  auto refused = [&](std::string why) {
    return Status(StatusCode::kDataLoss,
                  "the token refused to unwrap the slot's key: the keystore was altered or the "
                  "slot belongs to another token key (" +
                      s.Key() + ": " + why + ")",
                  ErrorTag::kKeystore);
  };
  if (wrapped.size() != WrappedSize(expected_size)) {
    return Status(StatusCode::kDataLoss,
                  "the wrapped key for " + s.Key() + " has " + std::to_string(wrapped.size()) +
                      " bytes, expected " + std::to_string(WrappedSize(expected_size)) +
                      ": the keystore was altered or truncated",
                  ErrorTag::kKeystore);
  }
  Bytes blob(wrapped.begin(), wrapped.end());  // C_UnwrapKey wants a mutable pointer
  CK_OBJECT_CLASS secret_key = CKO_SECRET_KEY;
  CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  CK_ULONG value_len = expected_size;
  CK_ATTRIBUTE temporary[] = {
      {CKA_CLASS, &secret_key, sizeof secret_key},
      {CKA_KEY_TYPE, &generic, sizeof generic},
      {CKA_TOKEN, &no, sizeof no},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &no, sizeof no},  // we read CKA_VALUE back
      {CKA_EXTRACTABLE, &yes, sizeof yes},
      {CKA_VALUE_LEN, &value_len, sizeof value_len},  // only on the second try, see below
  };
  CK_MECHANISM mechanism{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
  CK_OBJECT_HANDLE handle;
  // RFC 5649 records the length in the blob, so the template leaves CKA_VALUE_LEN out: SoftHSM
  // refuses it (CKR_ATTRIBUTE_READ_ONLY). A module that wants it says CKR_TEMPLATE_INCOMPLETE and
  // gets it; either way the length is checked below.
  CK_RV rv = s.f->C_UnwrapKey(s.session, &mechanism, s.key, blob.data(), blob.size(), temporary,
                              Count(temporary) - 1, &handle);
  if (rv == CKR_TEMPLATE_INCOMPLETE) {
    rv = s.f->C_UnwrapKey(s.session, &mechanism, s.key, blob.data(), blob.size(), temporary,
                          Count(temporary), &handle);
  }
  if (rv != CKR_OK) {
    if (IsUnwrapEnvironmentFailure(rv)) return CallError("C_UnwrapKey", rv, s.Key());
    return refused(RvName(rv));
  }
  TemporaryObject object(s.f, s.session, handle);

  SecretBytes secret(expected_size);
  CK_ATTRIBUTE value = {CKA_VALUE, secret.data(), secret.size()};
  rv = s.f->C_GetAttributeValue(s.session, object.get(), &value, 1);
  if (rv == CKR_BUFFER_TOO_SMALL) return refused("the unwrapped key is too long");
  if (rv != CKR_OK) return CallError("C_GetAttributeValue", rv, s.Key());
  if (value.ulValueLen != expected_size) {
    return refused("the unwrapped key has " + std::to_string(value.ulValueLen) +
                   " bytes, expected " + std::to_string(expected_size));
  }
  return secret;
}

Result<bool> Session::KeyIsExtractable() {
  if (!state_) return InternalError("PKCS#11 session used after it was moved from");
  State& s = *state_;
  CK_BBOOL extractable = CK_FALSE;
  CK_ATTRIBUTE attribute = {CKA_EXTRACTABLE, &extractable, sizeof extractable};
  CK_RV rv = s.f->C_GetAttributeValue(s.session, s.key, &attribute, 1);
  if (rv != CKR_OK) return CallError("C_GetAttributeValue", rv, s.Key());
  return extractable == CK_TRUE;
}

const KeyRef& Session::ref() const {
  static const KeyRef kNone;
  return state_ ? state_->ref : kNone;
}

}  // namespace phivault::pkcs11
