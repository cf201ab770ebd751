// AWS Signature Version 4 (the "AWS4-HMAC-SHA256" Authorization header), computed by phivault
// itself: libcurl 7.88's built-in signer neither sorts and re-encodes the query string nor signs
// the payload hash, and RGW and AWS refuse what it produces.
//
// The steps, as AWS documents them: a canonical request (method, URI-encoded path, sorted and
// encoded query, lower-cased sorted headers with trimmed values, the signed header list and the
// payload's SHA-256), a string to sign over its hash and the credential scope
// (date/region/service/aws4_request), and an HMAC-SHA256 chain that derives the signing key from
// the secret. Checked against AWS's published test suite (s3/testdata/sigv4/).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "phivault/base/bytes.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"

namespace phivault::s3 {

using HeaderList = std::vector<std::pair<std::string, std::string>>;
using QueryList = std::vector<std::pair<std::string, std::string>>;

struct SigningRequest {
  std::string method;
  std::string path;          // already URI-encoded, e.g. "/bucket/data/3f/3f…"
  QueryList query;           // decoded names and values; encoded and sorted when signing
  HeaderList headers;        // every header to sign, "host" and "x-amz-date" among them
  std::string payload_hash;  // hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

struct SigningScope {
  std::string date;  // "20150830"
  std::string region;
  std::string service;  // "s3"
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the whole Authorization header value
};

// "20150830T123600Z" for `unix_seconds`.
std::string AmzDate(int64_t unix_seconds);

// The canonical query string: each name and value RFC 3986-encoded, sorted by name then value,
// joined with '&'.
std::string CanonicalQuery(const QueryList& query);

// Signs `request` with the secret `secret` of `access_key_id`. `amz_date` must equal the
// request's x-amz-date header.
Result<Signature> SignV4(const SigningRequest& request, std::string_view access_key_id,
                         const SecretBytes& secret, const SigningScope& scope,
                         std::string_view amz_date);

// Lower-case hex SHA-256, as x-amz-content-sha256 wants it.
std::string Sha256Hex(ByteSpan data);

}  // namespace phivault::s3
