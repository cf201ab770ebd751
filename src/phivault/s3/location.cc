#include "phivault/s3/location.h"

#include <cstdlib>

namespace phivault::s3 {
namespace {

constexpr std::string_view kScheme = "s3:";

bool ValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
    if (!ok) return false;
  }
  return b.front() != '-' && b.front() != '.' && b.back() != '-' && b.back() != '.';
}

bool ValidPrefixChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '/';
}

bool ValidHost(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

bool IsS3Name(std::string_view name) { return name.substr(0, kScheme.size()) == kScheme; }

std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Result<S3Location> ParseS3Name(std::string_view name, std::string_view addressing) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("repository '" + std::string(name) + "': " + std::string(why) +
                                " (expected s3:https://HOST[:PORT]/BUCKET[/PREFIX])");
  };
  if (!IsS3Name(name)) return bad("not an S3 repository name");
  std::string_view rest = name.substr(kScheme.size());
  if (rest.substr(0, 7) == "http://") {
    return bad("plain http is refused: phivault reaches object storage over HTTPS only");
  }
  if (rest.substr(0, 8) != "https://") return bad("the endpoint must start with https://");
  rest.remove_prefix(8);
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return bad("no bucket");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = rest.substr(slash + 1);
  if (authority.find('@') != std::string_view::npos) {
    return bad("credentials do not belong in the repository name");
  }
  S3Location loc;
  size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos) {
    std::string port(authority.substr(colon + 1));
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (port.empty() || *end != '\0' || p <= 0 || p > 65535) return bad("bad port");
    loc.port = static_cast<int>(p);
    authority = authority.substr(0, colon);
  }
  if (!ValidHost(authority)) return bad("bad host name");
  loc.host = std::string(authority);
  size_t bslash = path.find('/');
  std::string_view bucket = path.substr(0, bslash);
  if (!ValidBucket(bucket)) {
    return bad("bad bucket name '" + std::string(bucket) +
               "' (3-63 lower-case letters, digits, dots and hyphens)");
  }
  loc.bucket = std::string(bucket);
  std::string_view prefix = bslash == std::string_view::npos ? "" : path.substr(bslash + 1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  for (char c : prefix) {
    if (!ValidPrefixChar(c)) return bad("the prefix may hold only letters, digits and -_./");
  }
  if (prefix.find("//") != std::string_view::npos || (!prefix.empty() && prefix[0] == '/')) {
    return bad("empty path segment in the prefix");
  }
  loc.prefix = std::string(prefix);
  bool aws = loc.host.size() > 14 && loc.host.ends_with(".amazonaws.com");
  if (addressing == "auto") {
    loc.addressing = aws && loc.bucket.find('.') == std::string::npos ? Addressing::kVirtualHost
                                                                      : Addressing::kPath;
  } else if (addressing == "virtual") {
    loc.addressing = Addressing::kVirtualHost;
  } else if (addressing == "path") {
    loc.addressing = Addressing::kPath;
  } else {
    return InvalidArgumentError("unknown S3 addressing '" + std::string(addressing) +
                                "' (path, virtual or auto)");
  }
  return loc;
}

std::string S3Location::ToString() const {
  std::string out = "s3:https://" + host;
  if (port != 443) out += ":" + std::to_string(port);
  out += "/" + bucket;
  if (!prefix.empty()) out += "/" + prefix;
  return out;
}

std::string S3Location::Authority() const {
  std::string h = addressing == Addressing::kVirtualHost ? bucket + "." + host : host;
  if (port != 443) h += ":" + std::to_string(port);
  return h;
}

std::string S3Location::PathOf(std::string_view key) const {
  std::string path = addressing == Addressing::kPath ? "/" + bucket : "";
  if (!key.empty()) {
    path += "/" + UriEncode(key, /*keep_slash=*/true);
  } else if (path.empty()) {
    path = "/";
  }
  return path;
}

std::string S3Location::KeyOf(std::string_view repo_path) const {
  return prefix.empty() ? std::string(repo_path) : prefix + "/" + std::string(repo_path);
}

}  // namespace phivault::s3
