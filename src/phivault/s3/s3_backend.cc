#include "phivault/s3/s3_backend.h"

#include <time.h>

#include <algorithm>
#include <deque>
#include <future>
#include <thread>
#include <vector>

#include "phivault/base/log.h"
#include "phivault/crypto/crypto.h"
#include "phivault/s3/xml.h"

namespace phivault::s3 {
namespace {

using storage::ObjectInfo;
using storage::ObjectKind;
using storage::ObjectName;
using storage::ObjectWriter;
using storage::SystemTime;

constexpr size_t kFirstReadSize = 1u << 20;  // ReadAll's first request; most objects fit

std::string Md5Base64(ByteSpan data) { return crypto::Base64(crypto::Md5(data)); }

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

// The key prefix under which objects of `kind` live ("data/", "index/", …).
std::string_view DirOf(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kPack: return "data/";
    case ObjectKind::kIndex: return "index/";
    case ObjectKind::kSnapshot: return "snapshots/";
    case ObjectKind::kDrill: return "drills/";
    case ObjectKind::kAuditCheckpoint: return "audit/";
    case ObjectKind::kConfig: return "config";
  }
  return "";
}

// Runs `n` jobs on up to `threads` threads; returns the first failure.
Status RunParallel(size_t n, unsigned threads, const std::function<Status(size_t)>& job) {
  if (n == 0) return OkStatus();
  threads = static_cast<unsigned>(std::min<size_t>(std::max(threads, 1u), n));
  std::atomic<size_t> next{0};
  std::mutex mu;
  Status first;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      Status s = job(i);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first.ok()) first = s;
        next.store(n);
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return first;
}

}  // namespace

std::string Iso8601(SystemTime t) {
  time_t secs = std::chrono::system_clock::to_time_t(t);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<SystemTime> ParseIso8601(std::string_view s) {
  struct tm tm = {};
  std::string text(s);
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return std::nullopt;
  if (*end == '.') {
    ++end;
    while (*end >= '0' && *end <= '9') ++end;
  }
  if (*end != 'Z' || end[1] != '\0') return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// --- the writer -------------------------------------------------------------------------------

class S3Writer : public ObjectWriter {
 public:
  S3Writer(S3Backend* backend, const S3Options& options, std::string key)
      : backend_(backend), options_(options), key_(std::move(key)) {}

  ~S3Writer() override {
    for (Part& p : parts_) {
      if (p.result.valid()) p.result.wait();
    }
    if (!upload_id_.empty() && !committed_) {
      // Best effort: the upload is invisible either way; aborting frees its parts.
      auto r =
          backend_->Send({.method = "DELETE", .key = key_, .query = {{"uploadId", upload_id_}}});
      if (!r.ok()) PHV_LOG(kInfo, "abort upload of {}: {}", key_, r.status().message());
    }
  }

  Status Append(ByteSpan data) override {
    if (committed_) return InternalError("append after commit");
    buffer_.insert(buffer_.end(), data.begin(), data.end());
    size_ += data.size();
    if (upload_id_.empty() && buffer_.size() >= options_.multipart_threshold) {
      Status s = StartMultipart();
      // A transient failure only delays the switch to parts; Commit tries again.
      if (!s.ok() && !IsRetryable(s)) return s;
    }
    if (!upload_id_.empty()) {
      while (buffer_.size() >= options_.part_size) {
        Bytes part(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(options_.part_size));
        buffer_.erase(buffer_.begin(),
                      buffer_.begin() + static_cast<ptrdiff_t>(options_.part_size));
        PHV_RETURN_IF_ERROR(Dispatch(std::move(part)));
      }
    }
    return OkStatus();
  }

  Status Commit() override {
    if (committed_) return InternalError("commit after a successful commit");
    Status s = upload_id_.empty() && size_ < options_.multipart_threshold ? PutWhole()
                                                                          : CompleteMultipart();
    if (s.ok()) committed_ = true;
    return s;
  }

  uint64_t size() const override { return size_; }

 private:
  struct Part {
    int number = 0;
    Bytes data = {};  // kept until the part is stored, for retrying
    std::string etag = {};
    std::future<Status> result = {};
    bool done = false;
  };

  std::string What() const { return "write " + key_; }

  Status PutWhole() {
    if (payload_hash_.empty()) payload_hash_ = Sha256Hex(buffer_);
    S3Backend::Call call{
        .method = "PUT", .key = key_, .body = buffer_, .payload_hash = payload_hash_};
    call.headers = backend_->LockHeaders();
    call.headers.emplace_back("If-None-Match", "*");
    if (backend_->retention().enabled()) {
      call.headers.emplace_back("Content-MD5", Md5Base64(buffer_));
    }
    auto r = backend_->Send(call);
    if (!r.ok()) {
      sent_ = true;  // it may have arrived
      return r.status();
    }
    if (r->status == 200) return OkStatus();
    if (r->status == 412 && sent_) {
      // An earlier attempt may have landed and lost its answer: then the object is ours.
      std::string want = ToHex(crypto::Md5(buffer_));
      auto head = backend_->Send({.method = "HEAD", .key = key_});
      if (head.ok() && head->status == 200 && Unquote(head->Header("etag").value_or("")) == want &&
          head->Header("content-length").value_or("") == std::to_string(size_)) {
        return OkStatus();
      }
    }
    Status s = backend_->ErrorFor(*r, "PUT " + key_);
    if (IsRetryable(s)) sent_ = true;
    return s;
  }

  Status StartMultipart() {
    // Servers ignore If-None-Match when completing an upload, so look first.
    auto head = backend_->Send({.method = "HEAD", .key = key_});
    if (!head.ok()) return head.status();
    if (head->status == 200) return AlreadyExistsError("create " + key_ + ": object exists");
    if (head->status != 404) return backend_->ErrorFor(*head, "HEAD " + key_);
    S3Backend::Call call{.method = "POST", .key = key_, .query = {{"uploads", ""}}};
    call.headers = backend_->LockHeaders();
    auto r = backend_->Send(call);
    if (!r.ok()) return r.status();
    if (r->status != 200) return backend_->ErrorFor(*r, "start upload of " + key_);
    auto id = XmlText(r->body, "UploadId");
    if (!id || id->empty()) return UnavailableError("start upload of " + key_ + ": no UploadId");
    upload_id_ = *id;
    return OkStatus();
  }

  Status UploadPart(Part* part) {
    S3Backend::Call call{
        .method = "PUT",
        .key = key_,
        .query = {{"partNumber", std::to_string(part->number)}, {"uploadId", upload_id_}},
        .body = part->data};
    if (backend_->retention().enabled()) {
      call.headers.emplace_back("Content-MD5", Md5Base64(part->data));
    }
    auto r = backend_->Send(call);
    if (!r.ok()) return r.status();
    if (r->status != 200) return backend_->ErrorFor(*r, "upload part of " + key_);
    part->etag = r->Header("etag").value_or("");
    if (part->etag.empty()) return UnavailableError("upload part of " + key_ + ": no ETag");
    return OkStatus();
  }

  Status Dispatch(Bytes data) {
    // Bound the parts in flight (and so the memory) per writer.
    size_t running = 0;
    for (Part& p : parts_) running += p.result.valid() ? 1u : 0u;
    for (Part& p : parts_) {
      if (running < options_.parts_in_flight) break;
      if (p.result.valid()) {
        PHV_RETURN_IF_ERROR(Collect(&p, /*keep_going=*/true));
        --running;
      }
    }
    parts_.push_back(Part{.number = static_cast<int>(parts_.size()) + 1, .data = std::move(data)});
    Part* p = &parts_.back();
    p->result = std::async(std::launch::async, [this, p] { return UploadPart(p); });
    return OkStatus();
  }

  // Waits for `p`. A transient failure is remembered (the part is sent again at Commit) unless
  // `keep_going` is false.
  Status Collect(Part* p, bool keep_going) {
    Status s = p->result.get();
    if (s.ok()) {
      p->done = true;
      Bytes().swap(p->data);
      return OkStatus();
    }
    if (keep_going && IsRetryable(s)) return OkStatus();
    return s;
  }

  Status CompleteMultipart() {
    if (upload_id_.empty()) PHV_RETURN_IF_ERROR(StartMultipart());
    if (!buffer_.empty() || parts_.empty()) {
      Bytes last;
      last.swap(buffer_);
      PHV_RETURN_IF_ERROR(Dispatch(std::move(last)));
    }
    for (Part& p : parts_) {
      if (p.result.valid()) PHV_RETURN_IF_ERROR(Collect(&p, true));
    }
    // Parts that failed are sent again, in parallel.
    std::vector<Part*> again;
    for (Part& p : parts_) {
      if (!p.done) again.push_back(&p);
    }
    PHV_RETURN_IF_ERROR(RunParallel(again.size(), options_.parts_in_flight, [&](size_t i) {
      Status s = UploadPart(again[i]);
      if (s.ok()) {
        again[i]->done = true;
        Bytes().swap(again[i]->data);
      }
      return s;
    }));

    std::string doc = "<CompleteMultipartUpload>";
    Bytes etag_digests;
    for (const Part& p : parts_) {
      doc += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>" +
             XmlEscape(p.etag) + "</ETag></Part>";
      auto raw = FromHex(Unquote(p.etag));
      if (raw.ok()) etag_digests.insert(etag_digests.end(), raw->begin(), raw->end());
    }
    doc += "</CompleteMultipartUpload>";
    std::string want_etag = ToHex(crypto::Md5(etag_digests)) + "-" + std::to_string(parts_.size());

    if (!completing_) {
      auto head = backend_->Send({.method = "HEAD", .key = key_});
      if (!head.ok()) return head.status();
      if (head->status == 200) return AlreadyExistsError("create " + key_ + ": object exists");
    }
    completing_ = true;
    auto r = backend_->Send(
        {.method = "POST", .key = key_, .query = {{"uploadId", upload_id_}}, .body = AsBytes(doc)});
    if (!r.ok()) return r.status();
    // S3 may answer 200 and still report an error in the body.
    if (r->status == 200 && r->body.find("<Error>") == std::string::npos) return LockCompleted();
    Status s = backend_->ErrorFor(*r, "complete upload of " + key_);
    if (r->status == 404) {
      // NoSuchUpload after a lost answer: the upload completed. Check that it is ours.
      auto head = backend_->Send({.method = "HEAD", .key = key_});
      if (head.ok() && head->status == 200 &&
          Unquote(head->Header("etag").value_or("")) == want_etag) {
        return LockCompleted();
      }
    }
    return s;
  }

  // Servers may ignore the lock headers of CreateMultipartUpload (RGW 16 does), so a completed
  // multipart object is locked explicitly.
  Status LockCompleted() {
    if (!backend_->retention().enabled()) return OkStatus();
    return backend_->LockObject(
        key_, storage::LockedUntilFor(backend_->retention(), std::chrono::system_clock::now()));
  }

  S3Backend* backend_;
  const S3Options& options_;
  std::string key_;
  Bytes buffer_;
  uint64_t size_ = 0;
  std::string payload_hash_;
  bool sent_ = false;
  bool committed_ = false;
  bool completing_ = false;
  std::string upload_id_;
  std::deque<Part> parts_;  // a deque: running uploads hold pointers to their Part
};

// --- the backend ------------------------------------------------------------------------------

S3Backend::S3Backend(S3Options options, Credentials credentials, std::unique_ptr<HttpClient> http)
    : options_(std::move(options)), credentials_(std::move(credentials)), http_(std::move(http)) {}

S3Backend::~S3Backend() {
  PHV_LOG(kInfo, "{}: {} requests, {} bytes sent, {} received", Location(), stats_.requests.load(),
          stats_.bytes_sent.load(), stats_.bytes_received.load());
}

Result<HttpResponse> S3Backend::Send(const Call& call) {
  const S3Location& loc = options_.location;
  std::string path = loc.PathOf(call.key);
  std::string query = CanonicalQuery(call.query);
  std::string amz_date = AmzDate(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  SigningRequest req;
  req.method = call.method;
  req.path = path;
  req.query = call.query;
  req.payload_hash = !call.payload_hash.empty() ? call.payload_hash : Sha256Hex(call.body);
  req.headers = call.headers;
  req.headers.emplace_back("host", loc.Authority());
  req.headers.emplace_back("x-amz-date", amz_date);
  req.headers.emplace_back("x-amz-content-sha256", req.payload_hash);
  std::string token;
  if (!credentials_.session_token.empty()) {
    token.assign(reinterpret_cast<const char*>(credentials_.session_token.data()),
                 credentials_.session_token.size());
    req.headers.emplace_back("x-amz-security-token", token);
  }
  SigningScope scope{amz_date.substr(0, 8), options_.region, "s3"};
  PHV_ASSIGN_OR_RETURN(Signature sig, SignV4(req, credentials_.access_key_id,
                                             credentials_.secret_access_key, scope, amz_date));
  HttpRequest http;
  http.method = call.method;
  http.url = "https://" + loc.Authority() + path + (query.empty() ? "" : "?" + query);
  http.headers = std::move(req.headers);
  http.headers.emplace_back("Authorization", sig.authorization);
  http.body = call.body;
  http.sink = call.sink;
  ++stats_.requests;
  stats_.bytes_sent += call.body.size();
  auto r = http_->Perform(http);
  if (!token.empty()) SecureWipe(token.data(), token.size());
  if (r.ok()) stats_.bytes_received += r->sink_bytes + r->body.size();
  return r;
}

Status S3Backend::ErrorFor(const HttpResponse& r, std::string_view what) const {
  std::string code = XmlText(r.body, "Code").value_or("");
  std::string message = XmlText(r.body, "Message").value_or("");
  std::string where = std::string(what) + " at " + Location();
  std::string detail = "HTTP " + std::to_string(r.status) + (code.empty() ? "" : " " + code) +
                       (message.empty() ? "" : ": " + message);
  if (code == "SignatureDoesNotMatch" || code == "InvalidAccessKeyId" || code == "InvalidToken" ||
      code == "ExpiredToken" || r.status == 401 || (r.status == 403 && code.empty())) {
    return Status(
        StatusCode::kUnauthenticated,
        Location() + " refused the credentials from " + credentials_.source + " (" + detail + ")",
        ErrorTag::kStorageAuth);
  }
  if (code == "RequestTimeTooSkewed") {
    return FailedPreconditionError(where +
                                   ": this machine's clock is off by more than 15 "
                                   "minutes (" +
                                   detail + ")");
  }
  if (code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
      code == "OperationAborted" || r.status == 429 || r.status >= 500) {
    return UnavailableError(where + ": " + detail);
  }
  if (r.status == 403) {
    return Status(StatusCode::kPermissionDenied, where + ": " + detail, ErrorTag::kStorageAuth);
  }
  if (code == "NoSuchBucket") {
    return Status(StatusCode::kNotFound,
                  where + ": bucket '" + options_.location.bucket + "' does not exist",
                  ErrorTag::kRepositoryMissing);
  }
  if (r.status == 404) return NotFoundError(where + ": no such object");
  if (r.status == 412) return AlreadyExistsError(where + ": object exists");
  if (r.status == 416) return DataLossError(where + ": truncated");
  return FailedPreconditionError(where + ": " + detail);
}

HeaderList S3Backend::LockHeaders() const {
  if (!policy_.enabled()) return {};
  auto until = storage::LockedUntilFor(policy_, std::chrono::system_clock::now());
  return {{"x-amz-object-lock-mode",
           policy_.mode == storage::RetentionMode::kGovernance ? "GOVERNANCE" : "COMPLIANCE"},
          {"x-amz-object-lock-retain-until-date", Iso8601(until)}};
}

Status S3Backend::ProbeBucket(bool* exists, bool* empty) {
  // A listing, not HEAD: its error answers have a body that says what is wrong.
  std::string prefix = options_.location.prefix.empty() ? "" : options_.location.prefix + "/";
  auto r =
      Send({.method = "GET", .query = {{"list-type", "2"}, {"max-keys", "1"}, {"prefix", prefix}}});
  if (!r.ok()) return r.status();
  if (r->status == 404) {
    *exists = false;
    return OkStatus();
  }
  if (r->status != 200) return ErrorFor(*r, "list bucket " + options_.location.bucket);
  *exists = true;
  *empty = XmlElements(r->body, "Contents").empty();
  return OkStatus();
}

Result<std::unique_ptr<S3Backend>> S3Backend::Connect(S3Options options, Credentials credentials,
                                                      bool* exists, bool* empty) {
  std::string endpoint = options.location.Authority();
  PHV_ASSIGN_OR_RETURN(auto http, HttpClient::Create(options.transport, endpoint));
  std::unique_ptr<S3Backend> b(
      new S3Backend(std::move(options), std::move(credentials), std::move(http)));
  PHV_RETURN_IF_ERROR(b->ProbeBucket(exists, empty));
  return b;
}

Result<std::unique_ptr<S3Backend>> S3Backend::Open(S3Options options, Credentials credentials) {
  bool exists = false, empty = true;
  PHV_ASSIGN_OR_RETURN(auto b,
                       Connect(std::move(options), std::move(credentials), &exists, &empty));
  if (!exists) {
    return Status(StatusCode::kNotFound,
                  b->Location() + ": bucket '" + b->options_.location.bucket + "' does not exist",
                  ErrorTag::kRepositoryMissing);
  }
  return b;
}

Result<std::unique_ptr<S3Backend>> S3Backend::Create(S3Options options, Credentials credentials,
                                                     bool object_lock) {
  bool exists = false, empty = true;
  PHV_ASSIGN_OR_RETURN(auto b,
                       Connect(std::move(options), std::move(credentials), &exists, &empty));
  if (!exists) {
    Call call{.method = "PUT"};
    std::string doc;
    if (b->options_.region != "us-east-1") {
      doc = "<CreateBucketConfiguration><LocationConstraint>" + XmlEscape(b->options_.region) +
            "</LocationConstraint></CreateBucketConfiguration>";
      call.body = AsBytes(doc);
    }
    if (object_lock) call.headers.emplace_back("x-amz-bucket-object-lock-enabled", "true");
    PHV_ASSIGN_OR_RETURN(HttpResponse r, b->Send(call));
    if (r.status != 200) return b->ErrorFor(r, "create bucket " + b->options_.location.bucket);
    PHV_LOG(kInfo, "created bucket {}{}", b->options_.location.bucket,
            object_lock ? " with object lock" : "");
  } else if (!empty) {
    return FailedPreconditionError(b->Location() +
                                   ": holds objects already; a new repository needs an empty "
                                   "bucket or prefix");
  }
  return b;
}

Result<std::unique_ptr<ObjectWriter>> S3Backend::Create(const ObjectName& name) {
  return std::unique_ptr<ObjectWriter>(
      std::make_unique<S3Writer>(this, options_, options_.location.KeyOf(name.Path())));
}

Status S3Backend::ReadRange(const std::string& key, uint64_t offset, MutableByteSpan out,
                            std::optional<uint64_t>* total) {
  std::string range =
      "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + out.size() - 1);
  auto r = Send({.method = "GET", .key = key, .headers = {{"Range", range}}, .sink = out});
  if (!r.ok()) return r.status();
  if (r->status != 206 && r->status != 200) return ErrorFor(*r, "read " + key);
  if (total != nullptr) {
    // "bytes 0-1048575/7340032"
    std::string cr = r->Header("content-range").value_or("");
    size_t slash = cr.rfind('/');
    if (slash != std::string::npos) {
      *total = std::strtoull(cr.c_str() + slash + 1, nullptr, 10);
    } else if (r->status == 200) {
      *total = r->sink_bytes;
    }
  }
  if (r->sink_bytes != out.size()) {
    if (total != nullptr) return OkStatus();  // the caller compares with the total
    return DataLossError(key + ": truncated (asked for " + std::to_string(out.size()) +
                         " bytes at " + std::to_string(offset) + ", got " +
                         std::to_string(r->sink_bytes) + ")");
  }
  return OkStatus();
}

Status S3Backend::ReadAt(const ObjectName& name, uint64_t offset, MutableByteSpan out) {
  std::string key = options_.location.KeyOf(name.Path());
  if (out.empty()) {
    PHV_ASSIGN_OR_RETURN(ObjectInfo info, Stat(name));
    if (offset > info.size) return DataLossError(key + ": truncated");
    return OkStatus();
  }
  // Large ranges are fetched as parallel part-sized ranges.
  size_t piece = options_.part_size;
  if (out.size() <= 2 * piece) {
    Status s = ReadRange(key, offset, out, nullptr);
    if (s.code() == StatusCode::kNotFound) return NotFoundError(key + ": no such object");
    return s;
  }
  size_t n = (out.size() + piece - 1) / piece;
  return RunParallel(n, std::min(options_.connections, 8u), [&](size_t i) {
    size_t len = std::min(piece, out.size() - i * piece);
    return ReadRange(key, offset + i * piece, out.subspan(i * piece, len), nullptr);
  });
}

Result<Bytes> S3Backend::ReadAll(const ObjectName& name) {
  std::string key = options_.location.KeyOf(name.Path());
  Bytes data(kFirstReadSize);
  std::optional<uint64_t> total;
  Status s = ReadRange(key, 0, data, &total);
  if (s.code() == StatusCode::kDataLoss) {
    // 416: the object is empty (a range cannot start inside it).
    PHV_ASSIGN_OR_RETURN(ObjectInfo info, Stat(name));
    if (info.size == 0) return Bytes();
    return s;
  }
  PHV_RETURN_IF_ERROR(s);
  if (!total) return DataLossError(key + ": the server sent no Content-Range");
  if (*total <= kFirstReadSize) {
    data.resize(*total);
    return data;
  }
  data.resize(*total);
  PHV_RETURN_IF_ERROR(ReadAt(name, kFirstReadSize, MutableByteSpan(data).subspan(kFirstReadSize)));
  return data;
}

Result<HttpResponse> S3Backend::Head(const std::string& key, std::string_view what) {
  PHV_ASSIGN_OR_RETURN(HttpResponse r, Send({.method = "HEAD", .key = key}));
  if (r.status == 404) return NotFoundError(key + ": no such object");
  if (r.status != 200) return ErrorFor(r, std::string(what) + " " + key);
  return r;
}

Result<ObjectInfo> S3Backend::Stat(const ObjectName& name) {
  std::string key = options_.location.KeyOf(name.Path());
  PHV_ASSIGN_OR_RETURN(HttpResponse r, Head(key, "stat"));
  auto len = r.Header("content-length");
  if (!len) return UnavailableError("stat " + key + ": no Content-Length");
  return ObjectInfo{name, std::strtoull(len->c_str(), nullptr, 10)};
}

Status S3Backend::List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) {
  if (kind == ObjectKind::kConfig) {
    auto info = Stat(ObjectName{ObjectKind::kConfig, ""});
    if (info.status().code() == StatusCode::kNotFound) return OkStatus();
    PHV_RETURN_IF_ERROR(info.status());
    return fn(*info);
  }
  const std::string root = options_.location.KeyOf("");
  const std::string prefix = options_.location.KeyOf(DirOf(kind));
  std::string token;
  for (;;) {
    QueryList q = {{"list-type", "2"}, {"max-keys", "1000"}, {"prefix", prefix}};
    if (!token.empty()) q.emplace_back("continuation-token", token);
    PHV_ASSIGN_OR_RETURN(HttpResponse r, Send({.method = "GET", .query = q}));
    if (r.status != 200) return ErrorFor(r, "list " + prefix);
    for (std::string_view entry : XmlElements(r.body, "Contents")) {
      std::string key = XmlText(entry, "Key").value_or("");
      std::string size = XmlText(entry, "Size").value_or("0");
      if (key.size() <= root.size()) continue;
      std::string path = key.substr(root.size());
      std::string id = path.substr(path.rfind('/') + 1);
      ObjectName name{kind, id};
      // Anything that is not exactly an object of this kind (a stray upload) is not listed.
      if (!storage::IsObjectId(id) || name.Path() != path) continue;
      PHV_RETURN_IF_ERROR(fn(ObjectInfo{name, std::strtoull(size.c_str(), nullptr, 10)}));
    }
    if (XmlText(r.body, "IsTruncated").value_or("false") != "true") return OkStatus();
    token = XmlText(r.body, "NextContinuationToken").value_or("");
    if (token.empty()) return UnavailableError("list " + prefix + ": truncated without a token");
  }
}

Result<SystemTime> S3Backend::RetainedUntil(const ObjectName& name) {
  std::string key = options_.location.KeyOf(name.Path());
  PHV_ASSIGN_OR_RETURN(HttpResponse r, Head(key, "read retention of"));
  auto until = r.Header("x-amz-object-lock-retain-until-date");
  if (!until) return SystemTime{};
  auto t = ParseIso8601(*until);
  if (!t) return UnavailableError(key + ": unreadable retain-until date");
  return *t;
}

Status S3Backend::Remove(const ObjectName& name) {
  std::string key = options_.location.KeyOf(name.Path());
  PHV_ASSIGN_OR_RETURN(HttpResponse head, Head(key, "remove"));
  auto until_text = head.Header("x-amz-object-lock-retain-until-date");
  if (until_text) {
    auto until = ParseIso8601(*until_text);
    if (!until || *until > std::chrono::system_clock::now()) {
      return Status(StatusCode::kFailedPrecondition,
                    Location() + ": " + name.Path() + " is locked (" +
                        head.Header("x-amz-object-lock-mode").value_or("object lock") + ") until " +
                        *until_text + "; it cannot be deleted before then",
                    ErrorTag::kRetention);
    }
  }
  PHV_ASSIGN_OR_RETURN(HttpResponse r, Send({.method = "DELETE", .key = key}));
  if (r.status != 204 && r.status != 200) return ErrorFor(r, "remove " + key);
  return OkStatus();
}

Status S3Backend::EnableRetention(const storage::RetentionPolicy& policy) {
  PHV_ASSIGN_OR_RETURN(HttpResponse r, Send({.method = "GET", .query = {{"object-lock", ""}}}));
  bool enabled = r.status == 200 && XmlText(r.body, "ObjectLockEnabled").value_or("") == "Enabled";
  if (!enabled) {
    if (r.status != 200 && r.status != 404) {
      Status s = ErrorFor(r, "read object lock configuration");
      if (s.tag() == ErrorTag::kStorageAuth || IsRetryable(s)) return s;
    }
    return Status(StatusCode::kFailedPrecondition,
                  Location() + ": bucket '" + options_.location.bucket +
                      "' does not have Object Lock enabled, so objects cannot be locked. Object "
                      "Lock can only be chosen when a bucket is created: use a new bucket "
                      "created with Object Lock (or let phivault init create it)",
                  ErrorTag::kRetention);
  }
  policy_ = policy;
  return OkStatus();
}

Status S3Backend::LockObject(const std::string& key, SystemTime until) {
  std::string mode =
      policy_.mode == storage::RetentionMode::kGovernance ? "GOVERNANCE" : "COMPLIANCE";
  std::string doc = "<Retention><Mode>" + mode + "</Mode><RetainUntilDate>" + Iso8601(until) +
                    "</RetainUntilDate></Retention>";
  PHV_ASSIGN_OR_RETURN(HttpResponse r, Send({.method = "PUT",
                                             .key = key,
                                             .query = {{"retention", ""}},
                                             .headers = {{"Content-MD5", Md5Base64(AsBytes(doc))}},
                                             .body = AsBytes(doc)}));
  if (r.status == 200 || r.status == 204) return OkStatus();
  // A lock that already ends later may not be shortened; that is not a failure here.
  if (r.status == 403 && r.body.find("shorten") != std::string::npos) return OkStatus();
  return ErrorFor(r, "lock " + key);
}

Status S3Backend::ExtendRetention(std::span<const ObjectName> names, SystemTime until) {
  if (!policy_.enabled()) return Backend::ExtendRetention(names, until);
  return RunParallel(names.size(), options_.connections, [&](size_t i) -> Status {
    return LockObject(options_.location.KeyOf(names[i].Path()), until);
  });
}

}  // namespace phivault::s3
