// Status and Result<T>: how every fallible phivault function reports failure.
//
// A Status is either OK or carries a StatusCode, a message and an optional ErrorTag that tells
// the command line which documented exit code applies. An OK status allocates nothing. Statuses
// are values: copy them, return them, never throw them. Dropping one on purpose must be written
// `status.IgnoreError()` so that every ignored error can be found with grep.
//
// Result<T> holds either a T or a non-OK Status; it mirrors the parts of std::expected we need
// (g++ 12 has no <expected> in C++20 mode).
//
// Thread safety: Status and Result are plain values; distinct objects may be used from
// different threads, one object only from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace phivault {

// The canonical error codes, a subset of abseil's. Each says whether retrying can help; the
// retry layer asks IsRetryable() and nothing else.
enum class StatusCode : uint8_t {
  kOk = 0,
  // The operation was cancelled by the user (SIGINT). Not retryable.
  kCancelled,
  // A flag, path, URL or configuration value is malformed. Not retryable.
  kInvalidArgument,
  // A snapshot, object, key or file does not exist. Not retryable.
  kNotFound,
  // The object to be created exists already. Not retryable.
  kAlreadyExists,
  // The operating system or the server refused access. Not retryable.
  kPermissionDenied,
  // A passphrase or key was wrong: authentication of key material failed. Not retryable.
  kUnauthenticated,
  // The system is not in a state that allows the operation (format too new, keystore in the
  // wrong place). Not retryable until the state changes.
  kFailedPrecondition,
  // A concurrent writer won a race. Retryable at a higher level.
  kAborted,
  // A transient failure of a service or connection. Retryable with backoff.
  kUnavailable,
  // A deadline passed. Retryable.
  kDeadlineExceeded,
  // Disk full, quota exceeded, too many open files. Not retryable.
  kResourceExhausted,
  // Stored bytes failed authentication, or are truncated or malformed: corruption or tampering.
  // Never retryable, never an assertion.
  kDataLoss,
  // A bug in phivault.
  kInternal,
  // A feature this version does not implement.
  kUnimplemented,
};

// A refinement of the code for the errors that have their own exit code on the command line.
enum class ErrorTag : uint8_t {
  kNone = 0,
  kRepositoryMissing,   // exit 10
  kKeystore,            // exit 13
  kFormatVersion,       // exit 14
  kStorageAuth,         // exit 17: storage credentials missing, unsafe or refused
  kTls,                 // exit 18: TLS version, certificate or host name not acceptable
  kRetention,           // exit 19: object lock missing or an object still locked
  kStorageUnavailable,  // exit 20: storage kept failing until the retry time ran out
  kKeyDevice,           // exit 21: PKCS#11 module, token or key missing or failing
};

// Returns the code's name, e.g. "DATA_LOSS".
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  // An OK status.
  Status() = default;
  // A status with `code` (which must not be kOk) and a message. Messages are lower case, name
  // the object concerned, and never contain secrets or file contents.
  Status(StatusCode code, std::string message, ErrorTag tag = ErrorTag::kNone);

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  ErrorTag tag() const { return state_ ? state_->tag : ErrorTag::kNone; }
  // The message, with any context prepended ("loading index 3fa4…: mac mismatch").
  std::string_view message() const;
  // "DATA_LOSS: loading index …", or "OK".
  std::string ToString() const;

  // Returns a copy whose message is "context: message". OK statuses are returned unchanged.
  Status WithContext(std::string_view context) const&;
  Status WithContext(std::string_view context) &&;
  // Returns a copy with `tag` set. OK statuses are returned unchanged.
  Status WithTag(ErrorTag tag) &&;

  // Marks the status as deliberately ignored.
  void IgnoreError() const {}

  friend bool operator==(const Status& a, const Status& b);

 private:
  struct State {
    StatusCode code;
    ErrorTag tag;
    std::string message;
  };
  std::unique_ptr<State> state_;
};

inline Status OkStatus() { return Status(); }

Status CancelledError(std::string message);
Status InvalidArgumentError(std::string message);
Status NotFoundError(std::string message);
Status AlreadyExistsError(std::string message);
Status PermissionDeniedError(std::string message);
Status UnauthenticatedError(std::string message);
Status FailedPreconditionError(std::string message);
Status AbortedError(std::string message);
Status UnavailableError(std::string message);
Status DeadlineExceededError(std::string message);
Status ResourceExhaustedError(std::string message);
Status DataLossError(std::string message);
Status InternalError(std::string message);
Status UnimplementedError(std::string message);

// Converts an errno value from a failed system call into a Status: ENOENT is kNotFound, EACCES
// and EPERM kPermissionDenied, ENOSPC and EDQUOT kResourceExhausted, EEXIST kAlreadyExists,
// EINTR/EAGAIN kUnavailable, the rest kInternal... `what` names the operation and object, e.g.
// "open data/3f/3fa4…".
Status ErrnoToStatus(int err, std::string_view what);

// True for the codes where a retry of the same operation can succeed.
bool IsRetryable(const Status& status);

template <class T>
class [[nodiscard]] Result {
 public:
  // REQUIRES: !status.ok()
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)

  bool has_value() const { return v_.index() == 1; }
  explicit operator bool() const { return has_value(); }
  bool ok() const { return has_value(); }

  // REQUIRES: has_value()
  T& value() & { return std::get<1>(v_); }
  const T& value() const& { return std::get<1>(v_); }
  T&& value() && { return std::get<1>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

  // The error, or an OK status when a value is held.
  Status status() const& { return has_value() ? Status() : std::get<0>(v_); }
  Status status() && { return has_value() ? Status() : std::get<0>(std::move(v_)); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace phivault

// Evaluates `expr` (a Status); returns it from the enclosing function if it is not OK.
#define PHV_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::phivault::Status phv_status_ = (expr);   \
    if (!phv_status_.ok()) return phv_status_; \
  } while (false)

#define PHV_INTERNAL_CONCAT2(a, b) a##b
#define PHV_INTERNAL_CONCAT(a, b) PHV_INTERNAL_CONCAT2(a, b)

// Evaluates `expr` (a Result<T>); on error returns its status from the enclosing function,
// otherwise moves the value into `lhs`, which may be a declaration (`auto x`).
#define PHV_ASSIGN_OR_RETURN(lhs, expr) \
  PHV_INTERNAL_ASSIGN_OR_RETURN(PHV_INTERNAL_CONCAT(phv_result_, __LINE__), lhs, expr)

#define PHV_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, expr)   \
  auto tmp = (expr);                                    \
  if (!tmp.has_value()) return std::move(tmp).status(); \
  lhs = std::move(tmp).value()
