#include "phivault/s3/credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "phivault/base/file_util.h"

namespace phivault::s3 {
namespace {

Status AuthError(std::string message) {
  return Status(StatusCode::kUnauthenticated, std::move(message), ErrorTag::kStorageAuth);
}

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

SecretBytes SecretOf(std::string_view s) {
  return SecretBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

}  // namespace

std::string RegionFromEnvironment() {
  if (const char* r = Env("AWS_REGION")) return r;
  if (const char* r = Env("AWS_DEFAULT_REGION")) return r;
  return "us-east-1";
}

Result<Credentials> ParseCredentialsFile(std::string_view text, std::string_view profile,
                                         std::string_view source) {
  Credentials c;
  c.source = std::string(source);
  bool in_profile = false;
  bool found = false;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++line_no;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return AuthError(std::string(source) + ":" + std::to_string(line_no) +
                         ": malformed section header");
      }
      std::string_view name = Trim(line.substr(1, line.size() - 2));
      if (name.substr(0, 8) == "profile ") name = Trim(name.substr(8));
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      // Say where, never what: the line may hold a secret.
      return AuthError(std::string(source) + ":" + std::to_string(line_no) +
                       ": expected 'name = value'");
    }
    std::string_view key = Trim(line.substr(0, eq));
    std::string_view value = Trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key_id = std::string(value);
    if (key == "aws_secret_access_key") c.secret_access_key = SecretOf(value);
    if (key == "aws_session_token") c.session_token = SecretOf(value);
  }
  if (!found) {
    return AuthError(std::string(source) + ": no profile [" + std::string(profile) + "]");
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return AuthError(std::string(source) + ": profile [" + std::string(profile) +
                     "] lacks aws_access_key_id or aws_secret_access_key");
  }
  return c;
}

Result<Credentials> LoadCredentials() {
  const char* id = Env("AWS_ACCESS_KEY_ID");
  const char* secret = Env("AWS_SECRET_ACCESS_KEY");
  if (id != nullptr || secret != nullptr) {
    if (id == nullptr || secret == nullptr) {
      return AuthError(
          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together (one is missing)");
    }
    Credentials c;
    c.access_key_id = id;
    c.secret_access_key = SecretOf(secret);
    if (const char* token = Env("AWS_SESSION_TOKEN")) c.session_token = SecretOf(token);
    c.source = "environment";
    return c;
  }
  std::string path;
  if (const char* f = Env("AWS_SHARED_CREDENTIALS_FILE")) {
    path = f;
  } else if (const char* home = Env("HOME")) {
    path = std::string(home) + "/.aws/credentials";
  }
  const char* profile = Env("AWS_PROFILE");
  int fd = path.empty() ? -1 : open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return AuthError(
        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a "
        "credentials file in AWS_SHARED_CREDENTIALS_FILE" +
        (path.empty() ? std::string() : " (" + path + ": " + std::strerror(errno) + ")"));
  }
  UniqueFd owner(fd);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return AuthError(path + ": not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return AuthError(path + ": credentials file is readable by group or others (mode " + mode +
                     "); refusing it. Run: chmod 600 " + path);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return AuthError(path + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > (1u << 20)) return AuthError(path + ": larger than 1 MiB");
  }
  auto c = ParseCredentialsFile(text, profile != nullptr ? profile : "default", path);
  SecureWipe(text.data(), text.size());  // the text held the secret too
  SecureWipe(buf, sizeof buf);
  return c;
}

}  // namespace phivault::s3
