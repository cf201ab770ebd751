#include "phivault/cli/app.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "phivault/base/file_util.h"
#include "phivault/base/log.h"
#include "phivault/cli/evidence.h"
#include "phivault/keys/keystore.h"
#include "phivault/keys/token_slot.h"
#include "phivault/s3/location.h"
#include "phivault/s3/s3_backend.h"
#include "phivault/storage/limit_backend.h"
#include "phivault/storage/local_backend.h"
#include "phivault/storage/retry_backend.h"

namespace phivault::cli {

std::atomic<bool> g_interrupted{false};

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? v : nullptr;
}

namespace {

constexpr size_t kMaxPassphrase = 4096;

extern "C" void OnSignal(int) {
  if (g_interrupted.exchange(true)) _exit(kExitInterrupted);  // second signal: stop now
}

// Strips one trailing "\n" or "\r\n".
size_t TrimNewline(const uint8_t* p, size_t n) {
  if (n > 0 && p[n - 1] == '\n') --n;
  if (n > 0 && p[n - 1] == '\r') --n;
  return n;
}

Result<SecretBytes> PassphraseFromFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open password file " + path);
  UniqueFd owner(fd);
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoToStatus(errno, "stat password file " + path);
  if ((st.st_mode & 077) != 0) {
    std::cerr << "warning: password file " << path << " is readable by other users\n";
  }
  SecretBytes buf(kMaxPassphrase + 1);
  size_t n = 0;
  while (n < buf.size()) {
    ssize_t r = read(fd, buf.data() + n, buf.size() - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoToStatus(errno, "read password file " + path);
    if (r == 0) break;
    n += static_cast<size_t>(r);
  }
  if (n > kMaxPassphrase) return InvalidArgumentError("password file " + path + " is too long");
  buf.Truncate(TrimNewline(buf.data(), n));
  if (buf.empty()) return InvalidArgumentError("password file " + path + " is empty");
  return buf;
}

Result<SecretBytes> PromptOnce(int tty, const char* prompt) {
  if (write(tty, prompt, std::strlen(prompt)) < 0) return ErrnoToStatus(errno, "write prompt");
  struct termios old_mode;
  bool restore = tcgetattr(tty, &old_mode) == 0;
  if (restore) {
    struct termios quiet = old_mode;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    tcsetattr(tty, TCSAFLUSH, &quiet);
  }
  SecretBytes buf(kMaxPassphrase + 1);
  size_t n = 0;
  while (n < buf.size()) {
    uint8_t c;
    ssize_t r = read(tty, &c, 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || c == '\n') break;
    buf.data()[n++] = c;
  }
  if (restore) tcsetattr(tty, TCSAFLUSH, &old_mode);
  if (n > kMaxPassphrase) return InvalidArgumentError("the passphrase is too long");
  buf.Truncate(TrimNewline(buf.data(), n));
  if (buf.empty()) return InvalidArgumentError("the passphrase is empty");
  return buf;
}

}  // namespace

void InstallSignalHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int ExitCodeFor(const Status& status) {
  if (status.ok()) return kExitOk;
  switch (status.tag()) {
    case ErrorTag::kRepositoryMissing: return kExitNoRepository;
    case ErrorTag::kKeystore: return kExitKeystore;
    case ErrorTag::kFormatVersion: return kExitFormatVersion;
    case ErrorTag::kStorageAuth: return kExitStorageAuth;
    case ErrorTag::kTls: return kExitTls;
    case ErrorTag::kRetention: return kExitRetention;
    case ErrorTag::kStorageUnavailable: return kExitStorageUnavailable;
    case ErrorTag::kKeyDevice: return kExitKeyDevice;
    case ErrorTag::kNone: break;
  }
  switch (status.code()) {
    case StatusCode::kUnauthenticated: return kExitWrongPassphrase;
    case StatusCode::kDataLoss: return kExitDataLoss;
    case StatusCode::kNotFound: return kExitNotFound;
    case StatusCode::kInvalidArgument: return kExitUsage;
    case StatusCode::kResourceExhausted: return kExitDiskFull;
    case StatusCode::kCancelled: return kExitInterrupted;
    default: return kExitError;
  }
}

Result<std::string> RepositoryPath(const Globals& g) {
  std::string repo = g.repo;
  if (repo.empty() && Env("PHIVAULT_REPO") != nullptr) repo = Env("PHIVAULT_REPO");
  if (repo.empty()) {
    return InvalidArgumentError("no repository given: use --repo or set PHIVAULT_REPO");
  }
  return NormalizeRepositoryName(repo);
}

Result<std::string> NormalizeRepositoryName(const std::string& name) {
  if (name.empty()) return InvalidArgumentError("empty repository name");
  if (s3::IsS3Name(name)) {
    PHV_RETURN_IF_ERROR(s3::ParseS3Name(name).status());
    return name;
  }
  if (name.find("://") != std::string::npos) {
    return InvalidArgumentError("repository '" + name +
                                "': unknown kind (a directory, or s3:https://HOST/BUCKET)");
  }
  return AbsolutePath(name);
}

namespace {

// A positive integer from the environment variable `name`, or `fallback` when it is unset.
Result<long> EnvNumber(const char* name, long fallback, long max) {
  const char* v = Env(name);
  if (v == nullptr) return fallback;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n <= 0 || n > max) {
    return InvalidArgumentError(std::string(name) + " must be a number from 1 to " +
                                std::to_string(max));
  }
  return n;
}

}  // namespace

Result<std::unique_ptr<storage::Backend>> OpenStorage(const Globals& g, const std::string& name,
                                                      bool create, bool object_lock) {
  if (!s3::IsS3Name(name)) {
    if (create) {
      PHV_ASSIGN_OR_RETURN(auto b, storage::LocalBackend::Create(name));
      return std::unique_ptr<storage::Backend>(std::move(b));
    }
    PHV_ASSIGN_OR_RETURN(auto b, storage::LocalBackend::Open(name));
    return std::unique_ptr<storage::Backend>(std::move(b));
  }
  const char* addressing = Env("PHIVAULT_S3_ADDRESSING");
  s3::S3Options options;
  PHV_ASSIGN_OR_RETURN(options.location,
                       s3::ParseS3Name(name, addressing != nullptr ? addressing : "auto"));
  options.region = s3::RegionFromEnvironment();
  options.transport.ca_file = g.ca_file;
  if (options.transport.ca_file.empty() && Env("PHIVAULT_CA_FILE") != nullptr) {
    options.transport.ca_file = Env("PHIVAULT_CA_FILE");
  }
  if (!options.transport.ca_file.empty()) {
    PHV_ASSIGN_OR_RETURN(options.transport.ca_file, AbsolutePath(options.transport.ca_file));
  }
  PHV_ASSIGN_OR_RETURN(long stall, EnvNumber("PHIVAULT_S3_TIMEOUT", 60, 3600));
  options.transport.stall_timeout = std::chrono::seconds(stall);
  PHV_ASSIGN_OR_RETURN(long connections, EnvNumber("PHIVAULT_S3_CONNECTIONS", 16, 256));
  options.connections = static_cast<unsigned>(connections);
  PHV_ASSIGN_OR_RETURN(long retry_s, EnvNumber("PHIVAULT_RETRY_SECONDS", 300, 86400));
  PHV_ASSIGN_OR_RETURN(s3::Credentials credentials, s3::LoadCredentials());

  storage::RetryPolicy retry;
  retry.max_total = std::chrono::seconds(retry_s);
  // Opening is retried like any other call: a server that is briefly unavailable at the start of
  // a nightly backup should not fail it.
  std::unique_ptr<s3::S3Backend> backend;
  PHV_RETURN_IF_ERROR(storage::RunWithRetries(retry, "open " + name, [&]() -> Status {
    s3::Credentials copy{credentials.access_key_id, credentials.secret_access_key.Clone(),
                         credentials.session_token.Clone(), credentials.source};
    auto b = create ? s3::S3Backend::Create(options, std::move(copy), object_lock)
                    : s3::S3Backend::Open(options, std::move(copy));
    if (!b.ok()) return b.status();
    backend = std::move(*b);
    return OkStatus();
  }));
  auto limited = std::make_unique<storage::LimitBackend>(std::move(backend), options.connections);
  return std::unique_ptr<storage::Backend>(
      std::make_unique<storage::RetryBackend>(std::move(limited), retry));
}

Status CheckKeystorePlacement(const std::string& keystore_dir, const std::string& repo_name) {
  if (s3::IsS3Name(repo_name)) return OkStatus();
  return keys::CheckKeystoreOutsideRepository(keystore_dir, repo_name);
}

std::string KeystoreDir(const Globals& g) {
  if (!g.keystore.empty()) return AbsolutePath(g.keystore).value_or(g.keystore);
  return keys::DefaultKeystoreDir();
}

Result<SecretBytes> ReadPassphrase(const Globals& g, bool confirm) {
  std::string file = g.password_file;
  if (file.empty() && Env("PHIVAULT_PASSWORD_FILE") != nullptr) {
    file = Env("PHIVAULT_PASSWORD_FILE");
  }
  return ReadPassphraseFrom(file, "enter repository passphrase: ", confirm);
}

Result<SecretBytes> ReadPassphraseFrom(const std::string& file, const std::string& prompt,
                                       bool confirm) {
  if (!file.empty()) return PassphraseFromFile(file);
  int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty < 0) {
    return InvalidArgumentError(
        "no terminal to ask for the passphrase: use --password-file or PHIVAULT_PASSWORD_FILE");
  }
  UniqueFd owner(tty);
  PHV_ASSIGN_OR_RETURN(SecretBytes first, PromptOnce(tty, prompt.c_str()));
  if (!confirm) return first;
  PHV_ASSIGN_OR_RETURN(SecretBytes second, PromptOnce(tty, "enter it again: "));
  if (!first.Equals(second.span())) return InvalidArgumentError("the passphrases differ");
  return first;
}

Result<std::unique_ptr<repo::Repository>> OpenRepository(const Globals& g, bool load_index,
                                                         bool adopt) {
  RepositoryTarget target;
  PHV_ASSIGN_OR_RETURN(target.name, RepositoryPath(g));
  target.keystore_dir = KeystoreDir(g);
  target.unlock = [&g](keys::Keystore* ks) {
    return UnlockKeystore(g, ks);
  };
  return OpenRepositoryAt(g, target, load_index, adopt);
}

std::string KeyFilePath(const Globals& g) {
  if (!g.key_file.empty()) return g.key_file;
  return Env("PHIVAULT_KEY_FILE") != nullptr ? Env("PHIVAULT_KEY_FILE") : "";
}

std::string Pkcs11Module(const Globals& g) {
  if (!g.pkcs11_module.empty()) return g.pkcs11_module;
  return Env("PHIVAULT_PKCS11_MODULE") != nullptr ? Env("PHIVAULT_PKCS11_MODULE") : "";
}

Result<SecretBytes> ReadPkcs11Pin(const Globals& g, const std::string& token_label) {
  std::string file = g.pkcs11_pin_file;
  if (file.empty() && Env("PHIVAULT_PKCS11_PIN_FILE") != nullptr) {
    file = Env("PHIVAULT_PKCS11_PIN_FILE");
  }
  if (!file.empty()) {
    struct stat st;
    if (stat(file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      return Status(StatusCode::kPermissionDenied,
                    "PIN file " + file +
                        " is readable by group or others; refusing it. Run: "
                        "chmod 600 " +
                        file,
                    ErrorTag::kKeystore);
    }
  }
  return ReadPassphraseFrom(file, "enter the PIN of token '" + token_label + "': ", false);
}

namespace {

bool Pkcs11Requested(const Globals& g) {
  const char* env = Env("PHIVAULT_PKCS11");
  return g.pkcs11 || (env != nullptr && std::string_view(env) != "0");
}

}  // namespace

Status UnlockKeystore(const Globals& g, keys::Keystore* keystore) {
  std::string key_file = KeyFilePath(g);
  if (!key_file.empty()) {
    PHV_ASSIGN_OR_RETURN(SecretBytes key, keys::ReadKeyFile(key_file));
    return keystore->UnlockWith(keys::SlotType::kKeyFile, key.span());
  }
  if (Pkcs11Requested(g)) {
    std::string token;
    for (const keys::SlotInfo& s : keystore->slots()) {
      if (s.type == keys::SlotType::kPkcs11 && token.empty()) token = s.token_label;
    }
    if (token.empty()) {
      return Status(StatusCode::kNotFound, "the keystore has no PKCS#11 slot (see key list)",
                    ErrorTag::kKeyDevice);
    }
    PHV_ASSIGN_OR_RETURN(SecretBytes pin, ReadPkcs11Pin(g, token));
    return keys::UnlockWithPkcs11(keystore, pin.span(), Pkcs11Module(g));
  }
  PHV_ASSIGN_OR_RETURN(SecretBytes pass, ReadPassphrase(g, /*confirm=*/false));
  return keystore->Unlock(pass.span());
}

Result<std::unique_ptr<repo::Repository>> OpenRepositoryAt(const Globals& g,
                                                           const RepositoryTarget& target,
                                                           bool load_index, bool adopt) {
  PHV_RETURN_IF_ERROR(CheckKeystorePlacement(target.keystore_dir, target.name));
  PHV_ASSIGN_OR_RETURN(auto backend, OpenStorage(g, target.name, /*create=*/false));
  repo::KeystoreUnlocker unlock = target.unlock;
  if (!unlock) {
    const bool key_file = !target.key_file.empty();
    unlock = repo::UnlockWithSecret(
        [key_file, &target]() -> Result<SecretBytes> {
          if (key_file) return keys::ReadKeyFile(target.key_file);
          return ReadPassphraseFrom(target.password_file, target.prompt, false);
        },
        key_file ? keys::SlotType::kKeyFile : keys::SlotType::kPassphrase);
  }
  // Noted before unlocking, so that a failed unlock is an audit event of this repository too.
  PHV_ASSIGN_OR_RETURN(repo::StoredConfig stored, repo::ReadConfig(backend.get()));
  if (target.audit) NoteRepository(stored.config.id);
  PHV_ASSIGN_OR_RETURN(repo::UnlockedKeystore unlocked,
                       repo::UnlockRepositoryKeystore(backend.get(), std::move(stored),
                                                      target.keystore_dir, unlock));
  if (target.audit) PHV_RETURN_IF_ERROR(NoteUnlocked(g, target.name, &unlocked));
  PHV_ASSIGN_OR_RETURN(auto repo, repo::Repository::Open(std::move(backend), unlocked));
  if (load_index) PHV_RETURN_IF_ERROR(repo->LoadIndex(adopt));
  return repo;
}

void PrintJson(const nlohmann::json& value) {
  std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

int ReportError(const Globals& g, const Status& status) {
  int code = ExitCodeFor(status);
  Audit().last_error = status;
  if (g.json) {
    PrintJson({{"error", std::string(status.message())},
               {"code", std::string(StatusCodeName(status.code()))},
               {"exit_code", code}});
  } else {
    WithStderrLock([&] { std::cerr << "phivault: " << status.message() << "\n"; });
  }
  return code;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, kUnits[u]);
  return buf;
}

std::string Rate(uint64_t bytes, double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MiB/s",
                seconds > 0 ? static_cast<double>(bytes) / seconds / 1048576 : 0.0);
  return buf;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string PathForJson(std::string_view path) {
  std::string out;
  out.reserve(path.size());
  size_t i = 0;
  auto escape = [&](uint8_t c) {
    char buf[5];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out += buf;
  };
  while (i < path.size()) {
    uint8_t c = static_cast<uint8_t>(path[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool valid = len > 0 && i + len <= path.size();
    for (size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<uint8_t>(path[i + k]) >> 6) == 2;
    }
    if (!valid || c < 0x20) {
      escape(c);
      ++i;
      continue;
    }
    if (c == '\\') out += '\\';
    out.append(path.substr(i, len));
    i += len;
  }
  return out;
}

ProgressLine::ProgressLine(const Globals& g, std::function<std::string()> render)
    : render_(std::move(render)) {
  if (g.json || g.quiet || !isatty(STDERR_FILENO)) return;
  active_ = true;
  SetStderrClearHook([this] { Clear(); });
  thread_ = std::thread([this] {
    auto last = std::chrono::steady_clock::now();
    while (!stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (std::chrono::steady_clock::now() - last < std::chrono::milliseconds(500)) continue;
      last = std::chrono::steady_clock::now();
      std::string line = render_();
      WithStderrLock([&] { std::cerr << "\r\033[K" << line << std::flush; });
    }
  });
}

void ProgressLine::Clear() { std::cerr << "\r\033[K" << std::flush; }

ProgressLine::~ProgressLine() {
  if (!active_) return;
  stop_.store(true);
  thread_.join();
  SetStderrClearHook(nullptr);
  WithStderrLock([this] { Clear(); });
}

}  // namespace phivault::cli
