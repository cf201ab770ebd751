#include "phivault/audit/audit_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <map>
#include <optional>

#include "phivault/base/provenance.h"
#include "phivault/crypto/crypto.h"
#include "phivault/crypto/ed25519.h"

namespace phivault::audit {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kCheckpointDomain = "phivault/v1/audit-checkpoint";
constexpr size_t kHashHexSize = 64;
constexpr size_t kSignatureHexSize = 128;
// Every record ends with `,"hash":"<64 hex digits>"}`.
constexpr std::string_view kHashMemberStart = ",\"hash\":\"";
constexpr size_t kHashMemberSize = kHashMemberStart.size() + kHashHexSize + 2;
const std::string kZeroHash(kHashHexSize, '0');

// Compact, in insertion order, UTF-8 as is; invalid UTF-8 becomes U+FFFD rather than an
// exception, so a bad byte in a host name cannot cost the record.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

bool IsLowerHex(const Json& j, size_t digits) {
  if (!j.is_string()) return false;
  const std::string& s = j.get_ref<const std::string&>();
  return s.size() == digits && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool IsNonEmptyString(const Json& j) {
  return j.is_string() && !j.get_ref<const std::string&>().empty();
}

template <size_t N>
std::array<uint8_t, N> ArrayFromHex(const std::string& hex) {
  std::array<uint8_t, N> out{};
  auto bytes = FromHex(hex);
  if (bytes.ok() && bytes->size() == N) std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

// Serialises `body` (every member but "hash") and appends its "hash": the SHA-256 of the body's
// serialisation, which is the finished line up to `,"hash":` with a `}` in its place.
std::string SealRecord(const Json& body) {
  std::string line = Dump(body);
  std::string hash = crypto::Sha256(AsBytes(line)).Hex();
  line.pop_back();
  line.append(kHashMemberStart).append(hash).append("\"}");
  return line;
}

// The hash a complete record line should carry in its "hash" member.
// REQUIRES: the line ends with a "hash" member (checked by the record's shape).
std::string RecordHash(std::string_view line) {
  std::string body(line.substr(0, line.size() - kHashMemberSize));
  body.push_back('}');
  return crypto::Sha256(AsBytes(body)).Hex();
}

std::string LineDigest(std::string_view line) { return crypto::Sha256(AsBytes(line)).Hex(); }

// What the writer needs to know about the last record.
struct Tail {
  uint64_t seq = 0;
  std::string line_digest = kZeroHash;  // the next record's "prev"
  std::string record_hash = kZeroHash;  // the next checkpoint's "head"
};

Status Unreadable(const std::string& path, std::string_view why) {
  return DataLossError("audit log " + path + ": " + std::string(why) +
                       "; nothing is appended to it until it has been verified and investigated");
}

// Finds the last line by reading backwards from the end: a small read almost always holds it,
// and a record is never longer than kMaxRecordSize.
Result<std::string> ReadLastLine(int fd, const std::string& path, uint64_t size) {
  uint64_t window = std::min<uint64_t>(size, 4096);
  while (true) {
    Bytes buf(window);
    PHV_RETURN_IF_ERROR(PreadExact(fd, buf, size - window, "read audit log " + path));
    std::string_view text = AsStringView(buf);
    if (text.back() != '\n') return Unreadable(path, "the last record is incomplete");
    size_t start = text.substr(0, text.size() - 1).rfind('\n');
    if (start != std::string_view::npos || window == size) {
      start = start == std::string_view::npos ? 0 : start + 1;
      return std::string(text.substr(start, text.size() - 1 - start));
    }
    if (window > kMaxRecordSize) return Unreadable(path, "the last record is too long");
    window = std::min<uint64_t>(size, kMaxRecordSize + 1);
  }
}

// The writer trusts the last record rather than verifying the whole log on every append, which
// would cost a read of six years of records per command; Verify does that job.
Result<Tail> ReadTail(int fd, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoToStatus(errno, "stat audit log " + path);
  Tail tail;
  if (st.st_size == 0) return tail;
  PHV_ASSIGN_OR_RETURN(std::string line, ReadLastLine(fd, path, static_cast<uint64_t>(st.st_size)));
  Json last = Json::parse(line, nullptr, false);
  if (!last.is_object() || !last.contains("seq") || !last["seq"].is_number_unsigned() ||
      !last.contains("hash") || !IsLowerHex(last["hash"], kHashHexSize)) {
    return Unreadable(path, "the last record is unreadable");
  }
  tail.seq = last["seq"].get<uint64_t>();
  tail.line_digest = LineDigest(line);
  tail.record_hash = last["hash"].get<std::string>();
  return tail;
}

// Holds flock(LOCK_EX) on a descriptor for its lifetime.
class ExclusiveLock {
 public:
  explicit ExclusiveLock(int fd) : fd_(fd) {}
  ~ExclusiveLock() {
    if (locked_) flock(fd_, LOCK_UN);
  }
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

  Status Acquire(const std::string& path) {
    while (flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) return ErrnoToStatus(errno, "lock audit log " + path);
    }
    locked_ = true;
    return OkStatus();
  }

 private:
  int fd_;
  bool locked_ = false;
};

// Under the lock, so that seq and prev are those of the record really before it: reads the
// last record, has `make` build the next line, writes it in one write(2) and flushes it.
Status AppendLine(int fd, const std::string& path,
                  const std::function<Result<std::string>(const Tail&)>& make) {
  ExclusiveLock lock(fd);
  PHV_RETURN_IF_ERROR(lock.Acquire(path));
  PHV_ASSIGN_OR_RETURN(Tail tail, ReadTail(fd, path));
  PHV_ASSIGN_OR_RETURN(std::string line, make(tail));
  // A line Verify would call non-canonical must never be written: check the round trip.
  if (Dump(Json::parse(line, nullptr, false)) != line) {
    return InternalError("audit record does not survive a JSON round trip");
  }
  line.push_back('\n');
  if (line.size() > kMaxRecordSize) {
    return InvalidArgumentError("audit record of " + std::to_string(line.size()) +
                                " bytes is larger than the limit");
  }
  // WriteAll issues one write(2); it loops only if the kernel writes less (disk full, signal).
  PHV_RETURN_IF_ERROR(WriteAll(fd, AsBytes(line), "write audit log " + path));
  if (fsync(fd) != 0) return ErrnoToStatus(errno, "fsync audit log " + path);
  return OkStatus();
}

std::string ParentDirectory(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The members of a record of `kind`, in order. `failed` adds the "error" of a failed event.
std::vector<std::string_view> RecordFields(std::string_view kind, bool failed) {
  std::vector<std::string_view> fields = {"seq", "time", "kind"};
  if (kind == "event") {
    fields.insert(fields.end(), {"actor", "host", "command", "objects", "outcome"});
    if (failed) fields.push_back("error");
    fields.push_back("details");
  } else {
    fields.insert(fields.end(), {"head", "signer", "signature"});
  }
  fields.insert(fields.end(), {"prev", "hash"});
  return fields;
}

bool HasFields(const Json& j, const std::vector<std::string_view>& fields) {
  if (j.size() != fields.size()) return false;
  size_t i = 0;
  for (const auto& item : j.items()) {
    if (item.key() != fields[i++]) return false;
  }
  return true;
}

bool IsStringArray(const Json& j) {
  return j.is_array() &&
         std::all_of(j.begin(), j.end(), [](const Json& e) { return e.is_string(); });
}

// Why the fields of an event record are malformed, or "" if they are not.
std::string CheckEventFields(const Json& j) {
  if (!IsNonEmptyString(j["actor"]) || !IsNonEmptyString(j["host"]) ||
      !IsNonEmptyString(j["command"])) {
    return "actor, host and command must be non-empty strings";
  }
  if (!IsStringArray(j["objects"])) return "objects must be an array of strings";
  if (j.contains("error") && !IsNonEmptyString(j["error"])) return "error must be a code name";
  if (!j["details"].is_object()) return "details must be an object";
  return "";
}

// Why a checkpoint's own fields (in a record or in Encode()'s form) are malformed, or "".
std::string CheckCheckpointFields(const Json& j) {
  if (!IsLowerHex(j["head"], kHashHexSize)) return "head must be 64 lowercase hex digits";
  if (!IsLowerHex(j["signer"], kHashHexSize)) return "signer must be 64 lowercase hex digits";
  if (!IsLowerHex(j["signature"], kSignatureHexSize)) {
    return "signature must be 128 lowercase hex digits";
  }
  return "";
}

std::string CheckSeqAndTime(const Json& j) {
  if (!j["seq"].is_number_unsigned() || j["seq"].get<uint64_t>() == 0) {
    return "seq must be a positive integer";
  }
  if (!j["time"].is_string() || !ParseUtc(j["time"].get_ref<const std::string&>()).ok()) {
    return "time must be UTC in RFC 3339 with seconds";
  }
  return "";
}

// Why `j`, parsed from `line`, is not a well-formed record, or "" if it is one.
std::string CheckRecordShape(const Json& j, std::string_view line) {
  const Json* kind = j.contains("kind") ? &j["kind"] : nullptr;
  if (kind == nullptr || !kind->is_string() || (*kind != "event" && *kind != "checkpoint")) {
    return "kind must be \"event\" or \"checkpoint\"";
  }
  bool event = *kind == "event";
  bool failed = event && j.contains("outcome") && j["outcome"] == "failed";
  if (event &&
      !(j.contains("outcome") && (j["outcome"] == "ok" || j["outcome"] == "started" || failed))) {
    return "outcome must be \"ok\", \"started\" or \"failed\"";
  }
  if (!HasFields(j, RecordFields(kind->get<std::string>(), failed))) {
    return "the members are not those of " + std::string(event ? "an event" : "a checkpoint") +
           " record, in order";
  }
  std::string why = CheckSeqAndTime(j);
  if (why.empty()) why = event ? CheckEventFields(j) : CheckCheckpointFields(j);
  if (why.empty() &&
      (!IsLowerHex(j["prev"], kHashHexSize) || !IsLowerHex(j["hash"], kHashHexSize))) {
    why = "prev and hash must be 64 lowercase hex digits";
  }
  if (why.empty() && Dump(j) != line) why = "the line is not in canonical form (it was rewritten)";
  return why;
}

Checkpoint CheckpointFromJson(const Json& j) {
  Checkpoint cp;
  cp.seq = j["seq"].get<uint64_t>();
  cp.time = j["time"].get<std::string>();
  cp.head = Id::FromSpan(ArrayFromHex<Id::kSize>(j["head"].get<std::string>()));
  cp.signer = ArrayFromHex<32>(j["signer"].get<std::string>());
  cp.signature = ArrayFromHex<64>(j["signature"].get<std::string>());
  return cp;
}

// Walks the lines of a log once, in order, keeping what the next line is checked against.
class LogChecker {
 public:
  LogChecker(const Id& repository_id, ByteSpan trusted_signer)
      : repository_id_(repository_id), trusted_signer_(trusted_signer) {}

  void CheckLine(uint64_t n, std::string_view line) {
    ++v_.records;
    Json j = Json::parse(line, nullptr, false);
    uint64_t seq = 0;
    std::string why = "the line is not a JSON object";
    bool well_formed = false;
    if (j.is_object()) {
      if (j.contains("seq") && j["seq"].is_number_unsigned()) seq = j["seq"].get<uint64_t>();
      why = CheckRecordShape(j, line);
      well_formed = why.empty();
      if (well_formed) why = CheckChain(j, line, seq);
    }
    if (!why.empty()) v_.problems.push_back({n, seq, why});
    expected_seq_ = seq != 0 ? seq + 1 : expected_seq_ + 1;
    prev_line_digest_ = LineDigest(line);
    prev_record_hash_ = well_formed ? j["hash"].get<std::string>() : "";
    if (well_formed) Remember(n, j, seq);
  }

  void CheckIncompleteLine(uint64_t n) {
    v_.problems.push_back({n, 0,
                           "the last line is incomplete (no newline): the file was cut, or an "
                           "append was interrupted"});
  }

  // `lines` is the number of lines in the file, an incomplete last one included.
  void CheckRemote(const std::vector<Checkpoint>& remote, uint64_t lines) {
    for (const Checkpoint& r : remote) {
      std::string name = "checkpoint seq " + std::to_string(r.seq) + " known from the repository";
      auto it = by_seq_.find(r.seq);
      if (it == by_seq_.end()) {
        // Name the line where it should have been: before the next record, or after the last.
        auto next = by_seq_.upper_bound(r.seq);
        uint64_t line = next != by_seq_.end() ? next->second.line : lines + 1;
        std::string why = r.seq > v_.last_seq
                              ? name + " is missing: the log ends at seq " +
                                    std::to_string(v_.last_seq) + " (truncated or rolled back)"
                              : name + " is missing from the log";
        v_.problems.push_back({line, r.seq, why});
      } else if (!it->second.checkpoint || *it->second.checkpoint != r) {
        v_.problems.push_back(
            {it->second.line, r.seq, name + " differs from this record (the log was rewritten)"});
      }
    }
  }

  Verification Finish() && {
    std::stable_sort(v_.problems.begin(), v_.problems.end(),
                     [](const Problem& a, const Problem& b) { return a.line < b.line; });
    return std::move(v_);
  }

 private:
  struct Found {
    uint64_t line;
    std::optional<Checkpoint> checkpoint;
  };

  // Why a well-formed record does not fit where it stands, or "" if it does. The cheapest
  // explanation comes first: an altered record is reported as altered, not as a broken chain.
  std::string CheckChain(const Json& j, std::string_view line, uint64_t seq) const {
    if (RecordHash(line) != j["hash"]) {
      return "hash does not match the record (the record was altered)";
    }
    if (seq != expected_seq_) {
      return "seq " + std::to_string(seq) + " where " + std::to_string(expected_seq_) +
             " was expected (a record is missing, repeated or out of order)";
    }
    if (j["prev"] != prev_line_digest_) {
      return "prev is not the hash of the line before (a record was removed, inserted or "
             "altered)";
    }
    if (j["kind"] != "checkpoint") return "";
    if (!prev_record_hash_.empty() && j["head"] != prev_record_hash_) {
      return "head is not the hash of the record before (the records before it were altered)";
    }
    Status signature = CheckpointFromJson(j).VerifySignature(repository_id_, trusted_signer_);
    return signature.ok() ? "" : std::string(signature.message());
  }

  void Remember(uint64_t n, const Json& j, uint64_t seq) {
    v_.last_seq = seq;
    std::optional<Checkpoint> checkpoint;
    if (j["kind"] == "checkpoint") {
      ++v_.checkpoints;
      v_.last_checkpoint_seq = seq;
      checkpoint = CheckpointFromJson(j);
    }
    by_seq_.emplace(seq, Found{n, std::move(checkpoint)});  // the first record of a seq counts
  }

  Id repository_id_;
  ByteSpan trusted_signer_;
  std::string prev_line_digest_ = kZeroHash;
  std::string prev_record_hash_ = kZeroHash;  // "" when the record before is malformed
  uint64_t expected_seq_ = 1;
  std::map<uint64_t, Found> by_seq_;
  Verification v_;
};

// Calls `complete(n, line)` for every newline-terminated line and `incomplete(n, rest)` for a
// last line without one; returns the number of lines.
template <class Complete, class Incomplete>
uint64_t ForEachLine(std::string_view text, Complete complete, Incomplete incomplete) {
  uint64_t n = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) {
      incomplete(++n, text.substr(start));
      break;
    }
    complete(++n, text.substr(start, end - start));
    start = end + 1;
  }
  return n;
}

// Verifies the log's `text` (Verify); `lines` receives its number of lines, an incomplete last
// one included.
Verification VerifyText(std::string_view text, const Id& repository_id, ByteSpan trusted_signer,
                        const std::vector<Checkpoint>& remote, uint64_t* lines) {
  LogChecker checker(repository_id, trusted_signer);
  *lines = ForEachLine(
      text, [&](uint64_t n, std::string_view line) { checker.CheckLine(n, line); },
      [&](uint64_t n, std::string_view) { checker.CheckIncompleteLine(n); });
  checker.CheckRemote(remote, *lines);
  return std::move(checker).Finish();
}

Status CheckSigner(ByteSpan trusted_signer) {
  if (trusted_signer.size() != crypto::kEd25519PublicKeySize) {
    return InvalidArgumentError("the trusted audit signer must be a 32-byte ed25519 public key");
  }
  return OkStatus();
}

}  // namespace

std::string Checkpoint::Encode() const {
  Json j;
  j["seq"] = seq;
  j["time"] = time;
  j["head"] = head.Hex();
  j["signer"] = ToHex(signer);
  j["signature"] = ToHex(signature);
  return Dump(j);
}

Result<Checkpoint> Checkpoint::Decode(std::string_view line) {
  if (line.ends_with('\n')) line.remove_suffix(1);
  Json j = Json::parse(line, nullptr, false);
  std::string why = "not a JSON object";
  if (j.is_object()) {
    why = HasFields(j, {"seq", "time", "head", "signer", "signature"})
              ? CheckSeqAndTime(j)
              : "the members are not seq, time, head, signer, signature";
    if (why.empty()) why = CheckCheckpointFields(j);
    if (why.empty() && Dump(j) != line) why = "not in canonical form";
  }
  if (!why.empty()) return DataLossError("audit checkpoint: " + why);
  return CheckpointFromJson(j);
}

Bytes Checkpoint::SignedMessage(const Id& repository_id) const {
  Bytes message;
  Encoder e(&message);
  e.PutRaw(AsBytes(kCheckpointDomain));
  e.PutRaw(repository_id.bytes);
  e.PutU64(seq);
  e.PutRaw(head.bytes);
  e.PutRaw(AsBytes(time));
  return message;
}

Status Checkpoint::VerifySignature(const Id& repository_id, ByteSpan trusted_signer) const {
  std::string name = "checkpoint seq " + std::to_string(seq);
  if (!std::equal(signer.begin(), signer.end(), trusted_signer.begin(), trusted_signer.end())) {
    return DataLossError(name + " is signed by key " + ToHex(signer).substr(0, 16) +
                         "…, not the trusted key (the log was rewritten and signed again)");
  }
  Status s = crypto::Ed25519Verify(signer, SignedMessage(repository_id), signature);
  if (s.code() == StatusCode::kDataLoss) {
    return DataLossError(name +
                         ": signature does not verify (the records before it were altered, or "
                         "the log belongs to another repository)");
  }
  return s;
}

Result<AuditLog> AuditLog::Open(const std::string& path, const Id& repository_id) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return ErrnoToStatus(errno, "open audit log " + path);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoToStatus(errno, "stat audit log " + path);
  if (!S_ISREG(st.st_mode)) {
    return FailedPreconditionError("audit log " + path + " is not a regular file");
  }
  // The log names users, hosts and snapshot ids: nobody else needs to read it.
  if ((st.st_mode & 07777) != 0600 && fchmod(fd.get(), 0600) != 0) {
    return ErrnoToStatus(errno, "chmod audit log " + path);
  }
  // The file may just have been created; make its directory entry durable too.
  PHV_RETURN_IF_ERROR(FsyncDir(ParentDirectory(path)));
  return AuditLog(path, repository_id, std::move(fd));
}

Result<uint64_t> AuditLog::Append(const Event& event) {
  if (event.actor.empty() || event.host.empty() || event.command.empty()) {
    return InvalidArgumentError("an audit event needs an actor, a host and a command");
  }
  if (!event.details.is_object()) {
    return InvalidArgumentError("the details of an audit event must be a JSON object");
  }
  if (event.started && !event.outcome.ok()) {
    return InvalidArgumentError("an audit event that records a start cannot have failed");
  }
  uint64_t seq = 0;
  Status s = AppendLine(fd_.get(), path_, [&](const Tail& tail) -> Result<std::string> {
    std::string time = FormatUtc(event.time_ns != 0 ? event.time_ns : WallClockNs());
    if (!ParseUtc(time).ok()) return InvalidArgumentError("audit event time out of range");
    seq = tail.seq + 1;
    Json j;
    j["seq"] = seq;
    j["time"] = time;
    j["kind"] = "event";
    j["actor"] = event.actor;
    j["host"] = event.host;
    j["command"] = event.command;
    j["objects"] = event.objects;
    j["outcome"] = event.started ? "started" : event.outcome.ok() ? "ok" : "failed";
    if (!event.outcome.ok()) j["error"] = std::string(StatusCodeName(event.outcome.code()));
    j["details"] = event.details;
    j["prev"] = tail.line_digest;
    return SealRecord(j);
  });
  PHV_RETURN_IF_ERROR(s);
  return seq;
}

Result<Checkpoint> AuditLog::AppendCheckpoint(const SecretBytes& signing_seed) {
  PHV_ASSIGN_OR_RETURN(auto signer, crypto::Ed25519PublicKey(signing_seed));
  Checkpoint cp;
  Status s = AppendLine(fd_.get(), path_, [&](const Tail& tail) -> Result<std::string> {
    cp.seq = tail.seq + 1;
    cp.time = FormatUtc(WallClockNs());
    PHV_ASSIGN_OR_RETURN(cp.head, Id::FromHex(tail.record_hash));
    cp.signer = signer;
    PHV_ASSIGN_OR_RETURN(cp.signature,
                         crypto::Ed25519Sign(signing_seed, cp.SignedMessage(repository_id_)));
    Json j;
    j["seq"] = cp.seq;
    j["time"] = cp.time;
    j["kind"] = "checkpoint";
    j["head"] = cp.head.Hex();
    j["signer"] = ToHex(cp.signer);
    j["signature"] = ToHex(cp.signature);
    j["prev"] = tail.line_digest;
    return SealRecord(j);
  });
  PHV_RETURN_IF_ERROR(s);
  return cp;
}

Result<TornTail> AuditLog::RepairTornTail(ByteSpan trusted_signer,
                                          const std::vector<Checkpoint>& remote) {
  PHV_RETURN_IF_ERROR(CheckSigner(trusted_signer));
  ExclusiveLock lock(fd_.get());
  PHV_RETURN_IF_ERROR(lock.Acquire(path_));
  // Read through the locked descriptor: the file that is repaired is the file that was checked.
  struct stat st;
  if (fstat(fd_.get(), &st) != 0) return ErrnoToStatus(errno, "stat audit log " + path_);
  Bytes data(static_cast<size_t>(st.st_size));
  PHV_RETURN_IF_ERROR(PreadExact(fd_.get(), data, 0, "read audit log " + path_));
  const std::string_view text = AsStringView(data);
  TornTail torn;
  if (text.empty() || text.back() == '\n') return torn;
  uint64_t lines = 0;
  Verification v = VerifyText(text, repository_id_, trusted_signer, remote, &lines);
  for (const Problem& p : v.problems) {
    if (p.line == lines && p.seq == 0) continue;  // the incomplete last line itself
    return DataLossError("audit log " + path_ + ", line " + std::to_string(p.line) + ": " + p.what +
                         "; only an incomplete last line is repaired, so nothing was changed");
  }
  const size_t newline = text.rfind('\n');
  const size_t keep = newline == std::string_view::npos ? 0 : newline + 1;
  const std::string_view rest = text.substr(keep);
  torn.bytes = rest.size();
  torn.digest = crypto::Sha256(AsBytes(rest));
  torn.kept_in = path_ + ".torn-" + torn.digest.Hex().substr(0, 16);
  // Kept before anything is cut: a crash in between leaves the log as it was, still torn.
  PHV_RETURN_IF_ERROR(WriteFileAtomic(torn.kept_in, AsBytes(rest), 0600));
  if (ftruncate(fd_.get(), static_cast<off_t>(keep)) != 0) {
    return ErrnoToStatus(errno, "truncate audit log " + path_);
  }
  if (fsync(fd_.get()) != 0) return ErrnoToStatus(errno, "fsync audit log " + path_);
  return torn;
}

Result<Verification> Verify(const std::string& path, const Id& repository_id,
                            ByteSpan trusted_signer, const std::vector<Checkpoint>& remote) {
  PHV_RETURN_IF_ERROR(CheckSigner(trusted_signer));
  PHV_ASSIGN_OR_RETURN(Bytes data, ReadFile(path));
  uint64_t lines = 0;
  return VerifyText(AsStringView(data), repository_id, trusted_signer, remote, &lines);
}

Status CheckTail(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    return errno == ENOENT ? OkStatus() : ErrnoToStatus(errno, "open audit log " + path);
  }
  return ReadTail(fd.get(), path).status();
}

Result<std::vector<nlohmann::ordered_json>> ReadAll(const std::string& path) {
  PHV_ASSIGN_OR_RETURN(Bytes data, ReadFile(path));
  std::vector<Json> records;
  Status status;
  ForEachLine(
      AsStringView(data),
      [&](uint64_t n, std::string_view line) {
        Json j = Json::parse(line, nullptr, false);
        if (!j.is_object() && status.ok()) {
          status = DataLossError("audit log " + path + ", line " + std::to_string(n) +
                                 ": not a JSON object");
        }
        records.push_back(std::move(j));
      },
      [&](uint64_t n, std::string_view) {
        if (status.ok()) {
          status = DataLossError("audit log " + path + ", line " + std::to_string(n) +
                                 ": incomplete (no newline)");
        }
      });
  PHV_RETURN_IF_ERROR(status);
  return records;
}

}  // namespace phivault::audit
