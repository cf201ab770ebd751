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
#include "phivault/keys/keystore.h"
#include "phivault/storage/local_backend.h"

namespace phivault::cli {

std::atomic<bool> g_interrupted{false};

namespace {

constexpr size_t kMaxPassphrase = 4096;

extern "C" void OnSignal(int) {
  if (g_interrupted.exchange(true)) _exit(kExitInterrupted);  // second signal: stop now
}

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' ? v : nullptr;
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
  if (repo.rfind("s3:", 0) == 0) {
    return InvalidArgumentError("S3 repositories are not supported by this build yet");
  }
  return AbsolutePath(repo);
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
  if (!file.empty()) return PassphraseFromFile(file);
  int tty = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (tty < 0) {
    return InvalidArgumentError(
        "no terminal to ask for the passphrase: use --password-file or PHIVAULT_PASSWORD_FILE");
  }
  UniqueFd owner(tty);
  PHV_ASSIGN_OR_RETURN(SecretBytes first, PromptOnce(tty, "enter repository passphrase: "));
  if (!confirm) return first;
  PHV_ASSIGN_OR_RETURN(SecretBytes second, PromptOnce(tty, "enter it again: "));
  if (!first.Equals(second.span())) return InvalidArgumentError("the passphrases differ");
  return first;
}

Result<std::unique_ptr<repo::Repository>> OpenRepository(const Globals& g, bool load_index,
                                                         bool adopt) {
  PHV_ASSIGN_OR_RETURN(std::string path, RepositoryPath(g));
  std::string keystore_dir = KeystoreDir(g);
  PHV_RETURN_IF_ERROR(keys::CheckKeystoreOutsideRepository(keystore_dir, path));
  PHV_ASSIGN_OR_RETURN(auto backend, storage::LocalBackend::Open(path));
  PHV_ASSIGN_OR_RETURN(auto repo, repo::Repository::Open(std::move(backend), keystore_dir, [&g] {
                         return ReadPassphrase(g, false);
                       }));
  if (load_index) PHV_RETURN_IF_ERROR(repo->LoadIndex(adopt));
  return repo;
}

void PrintJson(const nlohmann::json& value) {
  std::cout << value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

int ReportError(const Globals& g, const Status& status) {
  int code = ExitCodeFor(status);
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
