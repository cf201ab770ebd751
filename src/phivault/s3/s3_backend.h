// S3Backend: a repository in an S3 bucket (AWS S3, Ceph RGW, MinIO, Wasabi, Backblaze B2 …),
// spoken to over HTTPS (s3/http.h) with requests signed by phivault's own SigV4 (s3/sigv4.h).
//
// Layout. Every repository path of doc/format/repository.md becomes the object key
// PREFIX/path ("clinic/data/3f/3fa4…"). Keys are random or keyed-hash ids: they reveal no file
// name and no size.
//
// How the Backend contract is kept (doc/format/s3.md has the details):
//   - Create-only: a single PUT carries "If-None-Match: *", which the server answers with 412 if
//     the key exists. Objects of at least `multipart_threshold` bytes are uploaded in parts, in
//     parallel while the writer is still being filled; because servers (RGW 16) ignore
//     If-None-Match on CompleteMultipartUpload, the key is checked with HEAD before completing.
//     Pack keys are random 256-bit ids, so only a repeated commit of the same pack could meet an
//     existing key.
//   - All or nothing: S3 shows an object only once its PUT or CompleteMultipartUpload succeeded.
//     An abandoned multipart upload is aborted; one left by a killed process is invisible and
//     costs only storage until a lifecycle rule removes it.
//   - A retried Commit recognises its own earlier success (the answer was lost): on 412 or
//     NoSuchUpload it compares the stored object's ETag with the MD5 of what it sent.
//   - Every upload carries the SHA-256 of its body in x-amz-content-sha256, which the server
//     checks, so what is stored is exactly what was sent.
//   - Reads are ranged GETs; large ranges are split and fetched in parallel.
//   - Retention: S3 Object Lock. EnableRetention checks the bucket has Object Lock; every object
//     is then written with the mode and a retain-until date `days` ahead; ExtendRetention PUTs
//     ?retention in parallel; Remove refuses locked objects before asking the server.
//
// Errors: HTTP answers become Status codes (403 on credentials: kUnauthenticated tagged
// kStorageAuth; 404: kNotFound; 5xx, 429, SlowDown, RequestTimeout: kUnavailable, retried by
// the RetryBackend around this backend). Messages name the endpoint, bucket and key, never the
// secret.
//
// Thread safety: safe for concurrent use; an ObjectWriter by one thread at a time.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "phivault/s3/credentials.h"
#include "phivault/s3/http.h"
#include "phivault/s3/location.h"
#include "phivault/storage/backend.h"

namespace phivault::s3 {

struct S3Options {
  S3Location location;
  std::string region = "us-east-1";
  TransportOptions transport;
  unsigned connections = 16;               // parallel requests this backend is used with
  size_t part_size = 8u << 20;             // multipart part size
  size_t multipart_threshold = 16u << 20;  // objects this large are uploaded in parts
  unsigned parts_in_flight = 4;            // per writer
};

// Traffic counters, for the log and the benchmarks.
struct S3Stats {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> bytes_received{0};
};

class S3Backend : public storage::Backend {
 public:
  // Opens the repository at `options.location`: checks that the bucket exists and that the
  // server accepts the credentials. kNotFound tagged kRepositoryMissing when the bucket does
  // not exist.
  static Result<std::unique_ptr<S3Backend>> Open(S3Options options, Credentials credentials);
  // For a new repository: creates the bucket when it does not exist (with Object Lock when
  // `object_lock`), and refuses a prefix that already holds objects.
  static Result<std::unique_ptr<S3Backend>> Create(S3Options options, Credentials credentials,
                                                   bool object_lock);
  ~S3Backend() override;

  std::string Location() const override { return options_.location.ToString(); }
  Result<std::unique_ptr<storage::ObjectWriter>> Create(const storage::ObjectName& name) override;
  Status ReadAt(const storage::ObjectName& name, uint64_t offset, MutableByteSpan out) override;
  Result<Bytes> ReadAll(const storage::ObjectName& name) override;
  Result<storage::ObjectInfo> Stat(const storage::ObjectName& name) override;
  Status List(storage::ObjectKind kind,
              const std::function<Status(const storage::ObjectInfo&)>& fn) override;
  Status Remove(const storage::ObjectName& name) override;
  unsigned PreferredConcurrency() const override { return options_.connections; }
  Status EnableRetention(const storage::RetentionPolicy& policy) override;
  storage::RetentionPolicy retention() const override { return policy_; }
  Result<storage::SystemTime> RetainedUntil(const storage::ObjectName& name) override;
  Status ExtendRetention(std::span<const storage::ObjectName> names,
                         storage::SystemTime until) override;

  const S3Stats& stats() const { return stats_; }

  // --- the request layer, used by the writer and by tests ------------------------------------
  struct Call {
    std::string method = {};
    std::string key = {};  // "" for the bucket itself
    QueryList query = {};
    HeaderList headers = {};  // besides host, x-amz-date and x-amz-content-sha256
    ByteSpan body = {};
    MutableByteSpan sink = {};
    std::string payload_hash = {};  // computed from `body` when empty
  };
  // Signs and sends `call`. Transport failures are a Status; HTTP errors are in the response.
  Result<HttpResponse> Send(const Call& call);
  // The Status for a non-2xx response to `what` ("PUT data/3f/…").
  Status ErrorFor(const HttpResponse& response, std::string_view what) const;
  // The object lock headers for a new object, or none.
  HeaderList LockHeaders() const;
  // Sets the lock of `key` to `until` (PUT ?retention); a lock that ends later stays.
  Status LockObject(const std::string& key, storage::SystemTime until);

 private:
  S3Backend(S3Options options, Credentials credentials, std::unique_ptr<HttpClient> http);
  // Builds a backend and asks whether its bucket exists and whether the prefix holds objects.
  static Result<std::unique_ptr<S3Backend>> Connect(S3Options options, Credentials credentials,
                                                    bool* exists, bool* empty);
  Status ProbeBucket(bool* exists, bool* empty);
  Status ReadRange(const std::string& key, uint64_t offset, MutableByteSpan out,
                   std::optional<uint64_t>* total);
  Result<HttpResponse> Head(const std::string& key, std::string_view what);

  S3Options options_;
  Credentials credentials_;
  std::unique_ptr<HttpClient> http_;
  storage::RetentionPolicy policy_;
  mutable S3Stats stats_;
};

// "2026-12-10T23:00:00Z".
std::string Iso8601(storage::SystemTime t);
// Parses the ISO 8601 UTC times S3 sends ("2026-12-10T23:00:00.000Z"); nullopt when malformed.
std::optional<storage::SystemTime> ParseIso8601(std::string_view s);

}  // namespace phivault::s3
