#include "phivault/pkcs11/pkcs11.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <p11-kit/pkcs11.h>

namespace phivault::pkcs11 {
namespace {

constexpr char kToken[] = "phivault-test";
constexpr char kOtherToken[] = "other-token";
constexpr char kOtherPin[] = "654321";

Bytes RandomSecret(size_t n) {
  Bytes b(n);
  EXPECT_EQ(getrandom(b.data(), n, 0), static_cast<ssize_t>(n));
  return b;
}

Bytes ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Talks to the module directly, beside the library under test, to see what it leaves on the
// token. It borrows the initialisation and the login of an open Session (PKCS#11 keeps both per
// process), so it must be destroyed before that Session; it never finalises the module.
class RawToken {
 public:
  RawToken(const std::string& module, const std::string& token) : error_(Init(module, token)) {}
  ~RawToken() {
    if (has_session_) f_->C_CloseSession(session_);
    if (dl_ != nullptr) dlclose(dl_);
  }

  const std::string& error() const { return error_; }

  // All objects a fresh session of this process sees: token objects (private ones too, since
  // the process is logged in) and the session objects of every session.
  long CountObjects() {
    CK_SESSION_HANDLE s;
    if (OpenSession(&s) != CKR_OK) return -1;
    long count = 0;
    if (f_->C_FindObjectsInit(s, nullptr, 0) == CKR_OK) {
      CK_OBJECT_HANDLE found[8];
      CK_ULONG n = 0;
      while (f_->C_FindObjects(s, found, std::size(found), &n) == CKR_OK && n > 0) {
        count += static_cast<long>(n);
      }
      f_->C_FindObjectsFinal(s);
    } else {
      count = -1;
    }
    f_->C_CloseSession(s);
    return count;
  }

  // A session object in this object's own session, as a leak by the library would leave one.
  CK_OBJECT_HANDLE CreateSessionObject() {
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_TOKEN, &no, sizeof no}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    EXPECT_EQ(f_->C_CreateObject(session_, templ, std::size(templ), &h), CKR_OK);
    return h;
  }
  void DestroyObject(CK_OBJECT_HANDLE h) { EXPECT_EQ(f_->C_DestroyObject(session_, h), CKR_OK); }

  // What the module answers to reading CKA_VALUE of the secret key labelled `label`.
  CK_RV ReadKeyValue(const std::string& label) {
    CK_OBJECT_HANDLE key;
    if (!FindKey(label, &key)) return CKR_OBJECT_HANDLE_INVALID;
    uint8_t value[64];
    CK_ATTRIBUTE attribute = {CKA_VALUE, value, sizeof value};
    CK_RV rv = f_->C_GetAttributeValue(session_, key, &attribute, 1);
    explicit_bzero(value, sizeof value);
    return rv;
  }

 private:
  // Returns what failed, or "".
  std::string Init(const std::string& module, const std::string& token) {
    dl_ = dlopen(module.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (dl_ == nullptr) return "dlopen";
    void* symbol = dlsym(dl_, "C_GetFunctionList");
    CK_C_GetFunctionList get_function_list;
    std::memcpy(&get_function_list, &symbol, sizeof symbol);
    if (symbol == nullptr || get_function_list(&f_) != CKR_OK) return "C_GetFunctionList";
    CK_SLOT_ID slots[16];
    CK_ULONG n = std::size(slots);
    if (f_->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK) return "C_GetSlotList";
    for (CK_ULONG i = 0; i < n; ++i) {
      CK_TOKEN_INFO info;
      if (f_->C_GetTokenInfo(slots[i], &info) != CKR_OK) return "C_GetTokenInfo";
      std::string label(reinterpret_cast<const char*>(info.label), sizeof info.label);
      if (label.substr(0, label.find_last_not_of(' ') + 1) == token) slot_ = slots[i];
    }
    if (OpenSession(&session_) != CKR_OK) return "C_OpenSession";
    has_session_ = true;
    return "";
  }

  CK_RV OpenSession(CK_SESSION_HANDLE* s) {
    return f_->C_OpenSession(slot_, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, s);
  }

  bool FindKey(const std::string& label, CK_OBJECT_HANDLE* key) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    std::string l = label;
    CK_ATTRIBUTE match[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, l.data(), l.size()}};
    CK_ULONG n = 0;
    if (f_->C_FindObjectsInit(session_, match, std::size(match)) != CKR_OK) return false;
    CK_RV rv = f_->C_FindObjects(session_, key, 1, &n);
    f_->C_FindObjectsFinal(session_);
    return rv == CKR_OK && n == 1;
  }

  void* dl_ = nullptr;
  CK_FUNCTION_LIST* f_ = nullptr;
  CK_SLOT_ID slot_ = 0;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  bool has_session_ = false;
  std::string error_;
};

// One token store for the whole suite, made by tests/hsm/token.sh in a temporary directory.
class Pkcs11Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/phivault-pkcs11-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      setup_error_ = "mkdtemp failed";
      return;
    }
    dir_ = tmpl;
    auto start = std::chrono::steady_clock::now();
    int rc = std::system((std::string(PHIVAULT_TOKEN_SCRIPT) + " '" + dir_ + "'").c_str());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    std::printf("token.sh took %lld ms\n", static_cast<long long>(ms.count()));
    if (rc != 0) {
      setup_error_ = std::string(PHIVAULT_TOKEN_SCRIPT) + " failed (status " + std::to_string(rc) +
                     "); its messages are above";
      return;
    }
    // DIR/env holds `export NAME=VALUE` lines.
    std::ifstream env(dir_ + "/env");
    for (std::string line; std::getline(env, line);) {
      std::string_view l = line;
      if (l.substr(0, 7) != "export ") continue;
      l.remove_prefix(7);
      size_t eq = l.find('=');
      if (eq == std::string_view::npos) continue;
      setenv(std::string(l.substr(0, eq)).c_str(), std::string(l.substr(eq + 1)).c_str(), 1);
    }
    const char* module = getenv("PHIVAULT_TEST_PKCS11_MODULE");
    module_ = module != nullptr ? module : "";
    Bytes pin = ReadAll(dir_ + "/pin");
    pin_.assign(pin.begin(), pin.end());
    if (getenv("SOFTHSM2_CONF") == nullptr || module_.empty() || pin_.empty()) {
      setup_error_ = dir_ + "/env or " + dir_ + "/pin lacks SOFTHSM2_CONF, the module or the PIN";
    }
  }

  static void TearDownTestSuite() {
    if (!dir_.empty()) {
      EXPECT_EQ(std::system(("rm -rf '" + dir_ + "'").c_str()), 0);
    }
  }

  void SetUp() override { ASSERT_TRUE(setup_error_.empty()) << setup_error_; }

  static KeyRef Ref(const std::string& key = "kek-1", const std::string& token = kToken) {
    return KeyRef{module_, token, key};
  }
  static ByteSpan Pin() { return AsBytes(pin_); }

  static inline std::string setup_error_;
  static inline std::string dir_;
  static inline std::string module_;
  static inline std::string pin_;
};

TEST_F(Pkcs11Test, WrapThenUnwrapRoundTrips) {
  auto session = Session::Open(Ref(), Pin());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  Bytes secret = RandomSecret(32);
  auto wrapped = session->Wrap(secret);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_EQ(wrapped->size(), 40u);
  EXPECT_EQ(std::search(wrapped->begin(), wrapped->end(), secret.begin(), secret.end()),
            wrapped->end());
  auto unwrapped = session->Unwrap(*wrapped, 32);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().ToString();
  EXPECT_TRUE(unwrapped->Equals(secret));
}

TEST_F(Pkcs11Test, UnwrapsWhatPkcs11ToolWrapped) {
  auto session = Session::Open(Ref(), Pin());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  Bytes value = ReadAll(dir_ + "/dek-1.value");
  ASSERT_EQ(value.size(), 32u);
  auto unwrapped = session->Unwrap(ReadAll(dir_ + "/dek-1.wrapped"), 32);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().ToString();
  EXPECT_TRUE(unwrapped->Equals(value));
}

TEST_F(Pkcs11Test, WrappingTwiceIsDeterministicAndBothUnwrap) {
  auto session = Session::Open(Ref(), Pin());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  Bytes a = RandomSecret(32);
  Bytes b = RandomSecret(32);
  auto a1 = session->Wrap(a);
  auto a2 = session->Wrap(a);
  auto b1 = session->Wrap(b);
  ASSERT_TRUE(a1.ok() && a2.ok() && b1.ok());
  EXPECT_EQ(*a1, *a2);  // RFC 5649 has no nonce
  EXPECT_NE(*a1, *b1);
  for (const auto& [blob, secret] : {std::pair{*a1, a}, std::pair{*a2, a}, std::pair{*b1, b}}) {
    auto unwrapped = session->Unwrap(blob, 32);
    ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().ToString();
    EXPECT_TRUE(unwrapped->Equals(secret));
  }
}

TEST_F(Pkcs11Test, EveryAllowedSizeRoundTripsAndOthersAreRefused) {
  auto session = Session::Open(Ref(), Pin());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  for (size_t n = 0; n <= 80; ++n) {
    Bytes secret = RandomSecret(n);
    auto wrapped = session->Wrap(secret);
    if (n < 16 || n > 64 || n % 8 != 0) {
      EXPECT_EQ(wrapped.status().code(), StatusCode::kInvalidArgument) << n;
      EXPECT_EQ(session->Unwrap(Bytes(n + 8), n).status().code(), StatusCode::kInvalidArgument)
          << n;
      continue;
    }
    ASSERT_TRUE(wrapped.ok()) << n << ": " << wrapped.status().ToString();
    EXPECT_EQ(wrapped->size(), n + 8);
    auto unwrapped = session->Unwrap(*wrapped, n);
    ASSERT_TRUE(unwrapped.ok()) << n << ": " << unwrapped.status().ToString();
    EXPECT_TRUE(unwrapped->Equals(secret)) << n;
  }
}

TEST_F(Pkcs11Test, BlobIsExactlyRfc5649) {
  // Computed with OpenSSL 3.0: `openssl enc -id-aes256-wrap-pad -K 000102..1f` over the secret.
  auto session = Session::Open(Ref("known-kek"), Pin());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto secret = FromHex("00112233445566778899aabbccddeeff000102030405060708090a0b0c0d0e0f");
  ASSERT_TRUE(secret.ok());
  auto wrapped = session->Wrap(*secret);
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_EQ(ToHex(*wrapped),
            "4a8029243027353b0694cf1bd8fc745bb0ce8a739b19b1960b12426d4c39cfeda926d103ab34e9f6");
  auto unwrapped = session->Unwrap(*wrapped, 32);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().ToString();
  EXPECT_TRUE(unwrapped->Equals(*secret));
}

TEST_F(Pkcs11Test, BlobWrappedUnderAnotherKeyIsDataLoss) {
  auto kek1 = Session::Open(Ref("kek-1"), Pin());
  auto kek2 = Session::Open(Ref("kek-2"), Pin());
  // Same key label, other token: the label alone does not make it the same key.
  auto other = Session::Open(Ref("kek-1", kOtherToken), AsBytes(kOtherPin));
  ASSERT_TRUE(kek1.ok() && kek2.ok() && other.ok());
  auto wrapped = kek1->Wrap(RandomSecret(32));
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  for (Session* s : {&*kek2, &*other}) {
    auto unwrapped = s->Unwrap(*wrapped, 32);
    EXPECT_EQ(unwrapped.status().code(), StatusCode::kDataLoss) << unwrapped.status().ToString();
    EXPECT_EQ(unwrapped.status().tag(), ErrorTag::kKeystore);
    EXPECT_NE(unwrapped.status().message().find("another token key"), std::string::npos);
  }
}

TEST_F(Pkcs11Test, EveryFlippedBitIsDataLoss) {
  auto session = Session::Open(Ref(), Pin());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto wrapped = session->Wrap(RandomSecret(32));
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  for (size_t i = 0; i < wrapped->size(); ++i) {
    Bytes tampered = *wrapped;
    tampered[i] ^= static_cast<uint8_t>(1u << (i % 8));
    auto unwrapped = session->Unwrap(tampered, 32);
    EXPECT_EQ(unwrapped.status().code(), StatusCode::kDataLoss)
        << "byte " << i << ": " << unwrapped.status().ToString();
    EXPECT_EQ(unwrapped.status().tag(), ErrorTag::kKeystore) << "byte " << i;
  }
}

TEST_F(Pkcs11Test, WrongLengthOrSizeIsDataLoss) {
  auto session = Session::Open(Ref(), Pin());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto wrapped = session->Wrap(RandomSecret(32));
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  Bytes truncated(wrapped->begin(), wrapped->end() - 1);
  Bytes extended = *wrapped;
  extended.push_back(0);
  Bytes empty;
  for (auto [blob, size] : {std::pair{truncated, 32}, std::pair{extended, 32}, std::pair{empty, 32},
                            std::pair{*wrapped, 24}, std::pair{*wrapped, 40}}) {
    auto unwrapped = session->Unwrap(blob, static_cast<size_t>(size));
    EXPECT_EQ(unwrapped.status().code(), StatusCode::kDataLoss)
        << blob.size() << "/" << size << ": " << unwrapped.status().ToString();
    EXPECT_EQ(unwrapped.status().tag(), ErrorTag::kKeystore);
  }
  // Blob sizes that pass the length check but are not what Wrap made of a 24-byte secret.
  Bytes shorter(wrapped->begin(), wrapped->end() - 8);
  auto unwrapped = session->Unwrap(shorter, 24);
  EXPECT_EQ(unwrapped.status().code(), StatusCode::kDataLoss) << unwrapped.status().ToString();
  EXPECT_EQ(unwrapped.status().tag(), ErrorTag::kKeystore);
}

TEST_F(Pkcs11Test, WrongPinIsUnauthenticatedAndNotInTheMessage) {
  for (const char* wrong : {"000000", kOtherPin, "1"}) {
    auto session = Session::Open(Ref(), AsBytes(wrong));
    ASSERT_FALSE(session.ok()) << wrong;
    EXPECT_EQ(session.status().code(), StatusCode::kUnauthenticated) << session.status().ToString();
    EXPECT_EQ(session.status().tag(), ErrorTag::kNone);
    EXPECT_EQ(session.status().message(), "wrong PIN for token 'phivault-test'");
  }
  // A failed login leaves nothing behind that would stop the right PIN.
  auto session = Session::Open(Ref(), Pin());
  EXPECT_TRUE(session.ok()) << session.status().ToString();
}

TEST_F(Pkcs11Test, MissingModuleIsKeyDevice) {
  KeyRef ref = Ref();
  ref.module = dir_ + "/no-such-module.so";
  auto session = Session::Open(ref, Pin());
  EXPECT_EQ(session.status().code(), StatusCode::kNotFound) << session.status().ToString();
  EXPECT_EQ(session.status().tag(), ErrorTag::kKeyDevice);
  EXPECT_NE(session.status().message().find(ref.module), std::string::npos);
  EXPECT_NE(session.status().message().find("No such file"), std::string::npos);
}

TEST_F(Pkcs11Test, LibraryThatIsNoModuleIsKeyDevice) {
  // libc is a shared library everywhere, and without C_GetFunctionList.
  Dl_info info;
  ASSERT_NE(dladdr(reinterpret_cast<void*>(&getpid), &info), 0);
  KeyRef ref = Ref();
  ref.module = info.dli_fname;
  auto session = Session::Open(ref, Pin());
  EXPECT_EQ(session.status().code(), StatusCode::kNotFound) << session.status().ToString();
  EXPECT_EQ(session.status().tag(), ErrorTag::kKeyDevice);
  EXPECT_NE(session.status().message().find("C_GetFunctionList"), std::string::npos);
  EXPECT_NE(session.status().message().find(ref.module), std::string::npos);

  ref.module = dir_ + "/env";  // not even a shared library
  session = Session::Open(ref, Pin());
  EXPECT_EQ(session.status().code(), StatusCode::kNotFound) << session.status().ToString();
  EXPECT_EQ(session.status().tag(), ErrorTag::kKeyDevice);
  EXPECT_NE(session.status().message().find(ref.module), std::string::npos);
}

TEST_F(Pkcs11Test, UnknownTokenIsKeyDeviceAndNamed) {
  auto session = Session::Open(Ref("kek-1", "no-such-token"), Pin());
  EXPECT_EQ(session.status().code(), StatusCode::kNotFound) << session.status().ToString();
  EXPECT_EQ(session.status().tag(), ErrorTag::kKeyDevice);
  std::string m(session.status().message());
  EXPECT_NE(m.find("'no-such-token'"), std::string::npos) << m;
  // SoftHSM always shows one more, uninitialised token for the next --init-token. The order
  // follows the slot ids, which SoftHSM picks at random.
  EXPECT_NE(m.find("shows 3 tokens ("), std::string::npos) << m;
  for (const char* label : {"'phivault-test'", "'other-token'", "'(uninitialised)'"}) {
    EXPECT_NE(m.find(label), std::string::npos) << m;
  }
  EXPECT_EQ(Session::Open(Ref("kek-1", std::string(33, 'x')), Pin()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(Pkcs11Test, UnknownKeyIsKeyDevice) {
  auto session = Session::Open(Ref("kek-9"), Pin());
  EXPECT_EQ(session.status().code(), StatusCode::kNotFound) << session.status().ToString();
  EXPECT_EQ(session.status().tag(), ErrorTag::kKeyDevice);
  EXPECT_NE(session.status().message().find("'kek-9'"), std::string::npos);
}

TEST_F(Pkcs11Test, KeyThatMayNotWrapIsRefused) {
  auto session = Session::Open(Ref("no-wrap"), Pin());
  EXPECT_EQ(session.status().code(), StatusCode::kNotFound) << session.status().ToString();
  EXPECT_EQ(session.status().tag(), ErrorTag::kKeyDevice);
  EXPECT_NE(session.status().message().find("CKA_WRAP and CKA_UNWRAP"), std::string::npos);
}

TEST_F(Pkcs11Test, AmbiguousKeyLabelIsRefused) {
  auto session = Session::Open(Ref("twin"), Pin());
  EXPECT_EQ(session.status().code(), StatusCode::kFailedPrecondition)
      << session.status().ToString();
  EXPECT_EQ(session.status().tag(), ErrorTag::kKeyDevice);
}

TEST_F(Pkcs11Test, SessionsComeAndGoIndependently) {
  auto first = Session::Open(Ref("kek-1"), Pin());   // initialises the module
  auto second = Session::Open(Ref("kek-2"), Pin());  // CKR_CRYPTOKI_ALREADY_INITIALIZED
  auto other = Session::Open(Ref("kek-1", kOtherToken), AsBytes(kOtherPin));
  ASSERT_TRUE(first.ok() && second.ok() && other.ok());
  Bytes secret = RandomSecret(32);
  auto by_first = first->Wrap(secret);
  auto by_second = second->Wrap(secret);
  auto by_other = other->Wrap(secret);
  ASSERT_TRUE(by_first.ok() && by_second.ok() && by_other.ok());

  // Closing the Session that initialised the module and logged in to the token must neither
  // finalise the module nor log the token out under the others.
  { Session closing = std::move(*first); }
  auto unwrapped = second->Unwrap(*by_second, 32);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().ToString();
  EXPECT_TRUE(unwrapped->Equals(secret));
  unwrapped = other->Unwrap(*by_other, 32);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().ToString();
  EXPECT_TRUE(unwrapped->Equals(secret));

  auto again = Session::Open(Ref("kek-1"), Pin());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  unwrapped = again->Unwrap(*by_first, 32);
  ASSERT_TRUE(unwrapped.ok()) << unwrapped.status().ToString();
  EXPECT_TRUE(unwrapped->Equals(secret));
}

TEST_F(Pkcs11Test, SessionsWorkFromSeveralThreads) {
  // Each thread opens and closes Sessions over and over, so that module initialisation, login
  // and logout race with the other threads' use of the token.
  constexpr size_t kThreads = 4;
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 20 && failures[t].empty(); ++i) {
        auto session = Session::Open(Ref(t % 2 == 0 ? "kek-1" : "kek-2"), Pin());
        if (!session.ok()) {
          failures[t] = session.status().ToString();
          break;
        }
        Bytes secret = RandomSecret(32);
        auto wrapped = session->Wrap(secret);
        auto unwrapped = wrapped.ok() ? session->Unwrap(*wrapped, 32) : wrapped.status();
        if (!unwrapped.ok()) failures[t] = unwrapped.status().ToString();
        if (unwrapped.ok() && !unwrapped->Equals(secret)) failures[t] = "mismatch";
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], "") << "thread " << t;
}

TEST_F(Pkcs11Test, ModuleIsLoadedAgainAfterTheLastSessionCloses) {
  for (int round = 0; round < 3; ++round) {
    auto session = Session::Open(Ref(), Pin());
    ASSERT_TRUE(session.ok()) << round << ": " << session.status().ToString();
    EXPECT_TRUE(session->Wrap(RandomSecret(32)).ok()) << round;
  }
}

TEST_F(Pkcs11Test, MovedSessionKeepsWorking) {
  auto opened = Session::Open(Ref(), Pin());
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Session session = std::move(*opened);
  auto wrapped = session.Wrap(RandomSecret(32));
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  auto other = Session::Open(Ref("kek-2"), Pin());
  ASSERT_TRUE(other.ok());
  *other = std::move(session);  // closes the kek-2 session, takes over kek-1's
  EXPECT_EQ(other->ref().key_label, "kek-1");
  EXPECT_TRUE(other->Unwrap(*wrapped, 32).ok());
  EXPECT_EQ(session.Wrap(RandomSecret(32)).status().code(),  // NOLINT(bugprone-use-after-move)
            StatusCode::kInternal);
}

TEST_F(Pkcs11Test, TokenKeysNeverLeaveTheToken) {
  for (const char* label : {"kek-1", "kek-2"}) {
    auto session = Session::Open(Ref(label), Pin());
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    auto extractable = session->KeyIsExtractable();
    ASSERT_TRUE(extractable.ok()) << extractable.status().ToString();
    EXPECT_FALSE(*extractable) << label;
    RawToken raw(module_, kToken);
    ASSERT_EQ(raw.error(), "");
    EXPECT_EQ(raw.ReadKeyValue(label), CKR_ATTRIBUTE_SENSITIVE) << label;
  }
}

TEST_F(Pkcs11Test, NoObjectsAreLeftOnTheToken) {
  auto session = Session::Open(Ref(), Pin());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  RawToken raw(module_, kToken);
  ASSERT_EQ(raw.error(), "");
  long before = raw.CountObjects();
  EXPECT_EQ(before, 7);  // kek-1, kek-2, no-wrap, twin, twin, known-kek, dek-1

  // The count must see a session object of another session, or the test proves nothing.
  CK_OBJECT_HANDLE probe = raw.CreateSessionObject();
  EXPECT_EQ(raw.CountObjects(), before + 1);
  raw.DestroyObject(probe);

  auto wrapped = session->Wrap(RandomSecret(32));
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_EQ(raw.CountObjects(), before);
  EXPECT_TRUE(session->Unwrap(*wrapped, 32).ok());
  EXPECT_EQ(raw.CountObjects(), before);
  (*wrapped)[5] ^= 0x10;
  EXPECT_EQ(session->Unwrap(*wrapped, 32).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(raw.CountObjects(), before);
}

}  // namespace
}  // namespace phivault::pkcs11
