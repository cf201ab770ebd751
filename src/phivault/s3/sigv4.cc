#include "phivault/s3/sigv4.h"

#include <time.h>

#include <algorithm>
#include <map>

#include "phivault/crypto/crypto.h"
#include "phivault/s3/location.h"

namespace phivault::s3 {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Leading and trailing blanks removed, inner runs of blanks collapsed to one space.
std::string TrimValue(std::string_view v) {
  std::string out;
  bool blank = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      blank = !out.empty();
      continue;
    }
    if (blank) out.push_back(' ');
    blank = false;
    out.push_back(c);
  }
  return out;
}

Result<Id> Hmac(ByteSpan key, std::string_view data) {
  PHV_ASSIGN_OR_RETURN(auto mac, crypto::HmacSha256::Create(key));
  return mac->Compute(AsBytes(data));
}

}  // namespace

std::string AmzDate(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string Sha256Hex(ByteSpan data) { return crypto::Sha256(data).Hex(); }

std::string CanonicalQuery(const QueryList& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k + "=" + v;
  }
  return out;
}

Result<Signature> SignV4(const SigningRequest& request, std::string_view access_key_id,
                         const SecretBytes& secret, const SigningScope& scope,
                         std::string_view amz_date) {
  // Headers by lower-cased name; repeated headers are joined with commas in the order given.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) {
    std::string& slot = headers[Lower(name)];
    std::string v = TrimValue(value);
    slot = slot.empty() ? v : slot + "," + v;
  }
  std::string canonical_headers;
  std::string signed_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += name;
  }
  Signature sig;
  sig.canonical_request = request.method + "\n" + request.path + "\n" +
                          CanonicalQuery(request.query) + "\n" + canonical_headers + "\n" +
                          signed_headers + "\n" + request.payload_hash;
  std::string scope_text = scope.date + "/" + scope.region + "/" + scope.service + "/aws4_request";
  sig.string_to_sign = "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + scope_text + "\n" +
                       Sha256Hex(AsBytes(sig.canonical_request));

  // kSecret = "AWS4" + secret; kDate = HMAC(kSecret, date); ... kSigning = HMAC(kService,
  // "aws4_request"). The intermediate keys are secrets as well and are wiped with their buffers.
  SecretBytes k(4 + secret.size());
  std::copy_n("AWS4", 4, k.data());
  std::copy_n(secret.data(), secret.size(), k.data() + 4);
  for (std::string_view part :
       {std::string_view(scope.date), std::string_view(scope.region),
        std::string_view(scope.service), std::string_view("aws4_request")}) {
    PHV_ASSIGN_OR_RETURN(Id next, Hmac(k.span(), part));
    k = SecretBytes(std::span<const uint8_t>(next.bytes));
    SecureWipe(next.bytes.data(), next.bytes.size());
  }
  PHV_ASSIGN_OR_RETURN(Id mac, Hmac(k.span(), sig.string_to_sign));
  sig.signature = mac.Hex();
  sig.authorization = "AWS4-HMAC-SHA256 Credential=" + std::string(access_key_id) + "/" +
                      scope_text + ", SignedHeaders=" + signed_headers +
                      ", Signature=" + sig.signature;
  return sig;
}

}  // namespace phivault::s3
