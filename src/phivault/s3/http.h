// HttpClient: HTTPS requests through libcurl, with the transport policy phivault never relaxes.
//
//   - https only: other schemes and redirects are refused by libcurl itself;
//   - TLS 1.2 at least, set twice: as libcurl's minimum version and on the OpenSSL context;
//   - the server's certificate is verified (chain and host name) against the system store, or
//     only against the CA file the user names. Nothing turns verification off.
//
// A failed handshake fails before any HTTP request is sent. Transport failures come back as a
// Status: kFailedPrecondition tagged kTls for TLS or certificate problems (never retryable: a
// server does not learn TLS 1.2 by being asked again), kUnavailable for resets, timeouts and
// refused connections (retryable). HTTP status codes are the caller's business.
//
// Connections are kept alive: each thread's requests reuse a pooled libcurl handle, and TLS
// sessions are shared between handles.
//
// Thread safety: Perform may be called from many threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "phivault/base/bytes.h"
#include "phivault/base/status.h"
#include "phivault/s3/sigv4.h"

namespace phivault::s3 {

struct TransportOptions {
  std::string ca_file;  // empty: the system's trust store
  std::chrono::seconds connect_timeout{15};
  // A request that moves no byte for this long is abandoned (and is retryable).
  std::chrono::seconds stall_timeout{60};
};

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST, DELETE
  std::string url;     // https://…, query included
  HeaderList headers;
  ByteSpan body;
  // When non-empty, a 2xx response body is written here (and must fit); otherwise bodies go to
  // HttpResponse::body.
  MutableByteSpan sink;
};

struct HttpResponse {
  long status = 0;
  HeaderList headers;  // names lower-cased
  std::string body;
  uint64_t sink_bytes = 0;
  bool sink_overflow = false;

  std::optional<std::string> Header(std::string_view lower_name) const;
};

class HttpClient {
 public:
  // `endpoint` ("host:port") names the server in messages.
  static Result<std::unique_ptr<HttpClient>> Create(const TransportOptions& options,
                                                    std::string endpoint);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpResponse> Perform(const HttpRequest& request);

 private:
  struct Shared;
  HttpClient(TransportOptions options, std::string endpoint);
  void* Acquire();
  void Release(void* handle);

  TransportOptions options_;
  std::string endpoint_;
  std::unique_ptr<Shared> shared_;
  std::mutex pool_mu_;
  std::vector<void*> pool_;
};

}  // namespace phivault::s3
