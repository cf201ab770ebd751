#include "phivault/s3/http.h"

#include <unistd.h>

#include <array>
#include <cstring>

#include <curl/curl.h>
#include <openssl/ssl.h>

namespace phivault::s3 {
namespace {

std::once_flag g_curl_init;

struct Transfer {
  const HttpRequest* request;
  HttpResponse* response;
  CURL* handle;
  size_t body_limit = 1 << 20;  // error documents and listings; more is not an S3 answer
};

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * n);
  if (line.substr(0, 5) == "HTTP/") {
    t->response->headers.clear();  // a new status line (after 100 Continue, say)
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  t->response->headers.emplace_back(std::move(name), std::string(value));
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  long code = 0;
  curl_easy_getinfo(t->handle, CURLINFO_RESPONSE_CODE, &code);
  MutableByteSpan sink = t->request->sink;
  if (!sink.empty() && code >= 200 && code < 300) {
    HttpResponse* r = t->response;
    if (r->sink_bytes + len > sink.size()) {
      r->sink_overflow = true;
      return 0;  // aborts the transfer
    }
    std::memcpy(sink.data() + r->sink_bytes, data, len);
    r->sink_bytes += len;
    return len;
  }
  if (t->response->body.size() + len > t->body_limit) return 0;
  t->response->body.append(data, len);
  return len;
}

// Belt and braces: the floor is set on the OpenSSL context too, whatever libcurl does.
CURLcode OnSslContext(CURL*, void* ssl_ctx, void*) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) return CURLE_SSL_CIPHER;
  return CURLE_OK;
}

bool Contains(const char* haystack, const char* needle) {
  return std::strstr(haystack, needle) != nullptr;
}

}  // namespace

struct HttpClient::Shared {
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;
};

std::optional<std::string> HttpResponse::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return std::nullopt;
}

HttpClient::HttpClient(TransportOptions options, std::string endpoint)
    : options_(std::move(options)), endpoint_(std::move(endpoint)) {}

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const TransportOptions& options,
                                                       std::string endpoint) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (!options.ca_file.empty() && access(options.ca_file.c_str(), R_OK) != 0) {
    return Status(StatusCode::kFailedPrecondition,
                  "CA file " + options.ca_file + ": " + std::strerror(errno), ErrorTag::kTls);
  }
  std::unique_ptr<HttpClient> c(new HttpClient(options, std::move(endpoint)));
  c->shared_ = std::make_unique<Shared>();
  CURLSH* sh = curl_share_init();
  if (sh == nullptr) return InternalError("curl_share_init failed");
  c->shared_->share = sh;
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(sh, CURLSHOPT_USERDATA, c->shared_.get());
  curl_share_setopt(
      sh, CURLSHOPT_LOCKFUNC, +[](CURL*, curl_lock_data data, curl_lock_access, void* user) {
        static_cast<Shared*>(user)->locks[data].lock();
      });
  curl_share_setopt(
      sh, CURLSHOPT_UNLOCKFUNC, +[](CURL*, curl_lock_data data, void* user) {
        static_cast<Shared*>(user)->locks[data].unlock();
      });
  return c;
}

HttpClient::~HttpClient() {
  for (void* h : pool_) curl_easy_cleanup(static_cast<CURL*>(h));
  if (shared_ && shared_->share != nullptr) curl_share_cleanup(shared_->share);
}

void* HttpClient::Acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      void* h = pool_.back();
      pool_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void HttpClient::Release(void* handle) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  pool_.push_back(handle);
}

Result<HttpResponse> HttpClient::Perform(const HttpRequest& request) {
  CURL* h = static_cast<CURL*>(Acquire());
  if (h == nullptr) return InternalError("curl_easy_init failed");
  curl_easy_reset(h);  // keeps the handle's live connections and TLS sessions
  HttpResponse response;
  Transfer t{&request, &response, h};
  char errbuf[CURL_ERROR_SIZE] = "";

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, OnSslContext);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_SHARE, shared_->share);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options_.stall_timeout.count()));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);

  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    // PUT, POST and DELETE send their body from memory, without a copy.
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : request.headers) {
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  }
  // No "Expect: 100-continue" round trip, and no form content type on PUT.
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Content-Type:");
  headers = curl_slist_append(headers, "Accept:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);

  CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  Release(h);
  if (rc == CURLE_OK) return response;

  std::string detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  std::string what = request.method + " https://" + endpoint_;
  if (response.sink_overflow) {
    return DataLossError(what + ": the server sent more bytes than were asked for");
  }
  switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return Status(StatusCode::kFailedPrecondition,
                    "TLS with " + endpoint_ +
                        " refused: the server's certificate is not "
                        "trusted or does not match the host name (" +
                        detail + ")",
                    ErrorTag::kTls);
    case CURLE_SSL_CONNECT_ERROR:
      // A handshake cut off by a reset is transient; one the server answers with a protocol
      // version alert (it speaks only TLS < 1.2) or a refused certificate is not.
      if (Contains(errbuf, "protocol version") || Contains(errbuf, "unsupported protocol") ||
          Contains(errbuf, "no protocols available") || Contains(errbuf, "wrong version") ||
          Contains(errbuf, "legacy sigalg") || Contains(errbuf, "certificate")) {
        return Status(StatusCode::kFailedPrecondition,
                      "TLS with " + endpoint_ +
                          " refused: the server does not offer TLS 1.2 or "
                          "later, or its certificate is unacceptable (" +
                          detail + ")",
                      ErrorTag::kTls);
      }
      return UnavailableError(what + ": TLS handshake failed: " + detail);
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Status(StatusCode::kFailedPrecondition, what + ": " + detail, ErrorTag::kTls);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR: return UnavailableError(what + ": " + detail);
    default:
      return UnavailableError(what + ": " + detail + " (curl error " + std::to_string(rc) + ")");
  }
}

}  // namespace phivault::s3
