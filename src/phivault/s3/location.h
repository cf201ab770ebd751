// S3Location: where an S3 repository lives, parsed from its name
// "s3:https://HOST[:PORT]/BUCKET[/PREFIX]", and how requests address it.
//
// Only https endpoints are accepted: a plain http:// endpoint is refused when it is parsed, so no
// later code path can send a request in the clear.
//
// Thread safety: plain values.
#pragma once

#include <string>
#include <string_view>

#include "phivault/base/status.h"

namespace phivault::s3 {

// Path-style requests name the bucket in the path (https://host/bucket/key); virtual-hosted
// requests in the host name (https://bucket.host/key). AWS prefers the latter; Ceph RGW, MinIO and
// most private endpoints serve the former without DNS wildcards.
enum class Addressing {
  kPath,
  kVirtualHost,
};

struct S3Location {
  std::string host;  // "127.0.0.1", "s3.eu-central-1.amazonaws.com"
  int port = 443;
  std::string bucket;
  std::string prefix;  // "" or "clinic/main": no leading or trailing slash
  Addressing addressing = Addressing::kPath;

  // The repository name back again: "s3:https://host:port/bucket/prefix".
  std::string ToString() const;
  // "host:port", or "host" for port 443, as the Host header wants it (virtual-hosted: with the
  // bucket in front).
  std::string Authority() const;
  // The URL path of `key` (already URI-encoded, starting with '/'), and of the bucket itself
  // when `key` is empty.
  std::string PathOf(std::string_view key) const;
  // The object key of a repository path such as "data/3f/3f…": the prefix joined in front.
  std::string KeyOf(std::string_view repo_path) const;
};

// True if `name` names an S3 repository ("s3:" prefix).
bool IsS3Name(std::string_view name);

// Parses "s3:https://HOST[:PORT]/BUCKET[/PREFIX]". `addressing` is "path", "virtual" or "auto"
// (virtual-hosted for *.amazonaws.com when the bucket name allows it, path-style otherwise).
// kInvalidArgument for anything else, naming the problem; an http:// endpoint is refused.
Result<S3Location> ParseS3Name(std::string_view name, std::string_view addressing = "auto");

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters (A-Z a-z 0-9 - _ . ~) stay,
// every other byte becomes %XX with upper-case hex; '/' stays when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);

}  // namespace phivault::s3
