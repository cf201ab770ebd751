// The audit trail: one append-only, tamper-evident log per repository of who did what to it,
// when, from where and with what result (HIPAA audit controls, 45 CFR 164.312(b)). The format is
// specified in doc/format/audit-log.md.
//
// The log is a text file of JSON lines. Every record carries the SHA-256 of the line before it
// ("prev") and of itself ("hash"), and a checkpoint record now and then signs the current head
// with an Ed25519 key that is kept in the encrypted keystore, never beside the log. So:
//   - an edited record whose "hash" was not recomputed is caught at that record;
//   - one whose "hash" was recomputed breaks the next record's "prev";
//   - a whole rewritten tail breaks the next checkpoint's signature;
//   - a dropped tail after the last checkpoint cannot be seen in the file alone, only against
//     the copies of later checkpoints the repository keeps (Verify's `remote`).
//
// Records hold ids (snapshots, objects, key slots), user and host names, code names and figures;
// never a file name, a file's content, a passphrase or a key. Nothing in this component deletes
// or rewrites a record and there is no API for it (RepairTornTail cuts off only an incomplete
// last line, which no reader can take for a record, and keeps its bytes): records are kept at least
// six years (HIPAA, 45 CFR 164.316(b)(2)), and a pruning command, if one is ever added, must refuse
// to drop any record younger than that.
//
// Thread safety: an AuditLog is used by one thread at a time. Any number of AuditLog objects, in
// one or many processes, may append to the same file: each append takes flock(LOCK_EX) on its
// own open file, so a child process must open its own AuditLog rather than use one inherited
// across fork(2) (an inherited descriptor shares its parent's lock). Verify and ReadAll take no
// lock; a record being appended meanwhile shows up as an incomplete last line.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "phivault/base/bytes.h"
#include "phivault/base/file_util.h"
#include "phivault/base/id.h"
#include "phivault/base/provenance.h"
#include "phivault/base/secret.h"
#include "phivault/base/status.h"

namespace phivault::audit {

// The largest record Append writes, newline included. A bound keeps each append a single small
// write and lets the writer find the last record by reading only the end of the file.
inline constexpr size_t kMaxRecordSize = 64 * 1024;

// One operation on the repository.
struct Event {
  std::string actor;    // the OS user name (CurrentUserName()); the phivault user later
  std::string host;     // CurrentHostName()
  std::string command;  // "backup", "restore", "key add", … (doc/format/audit-log.md)
  // Ids of the snapshots, objects or key slots concerned; never file names.
  std::vector<std::string> objects;
  // OK, or the error the command ended with: only its code name is recorded.
  Status outcome;
  // The command is starting (outcome "started"): recorded before it reads or writes any data,
  // so that a command killed before its end still leaves a trace. Its outcome follows in a
  // later event. `outcome` must then be OK.
  bool started = false;
  // Figures of the operation (files, bytes, durations); no secrets, names or contents.
  nlohmann::ordered_json details = nlohmann::ordered_json::object();
  // When it happened, in nanoseconds since the Unix epoch; 0 means now. Recorded in seconds.
  int64_t time_ns = 0;
};

// A signed statement "the log of this repository had head `head` at seq `seq`". It is a record
// of the log and, as Encode()'s bytes, a copy kept in the repository, against which a truncated
// or rolled-back log is detected.
struct Checkpoint {
  uint64_t seq = 0;
  std::string time;  // UTC, RFC 3339 with seconds
  Id head;           // the "hash" of the record before the checkpoint; zeros at seq 1
  std::array<uint8_t, 32> signer{};
  std::array<uint8_t, 64> signature{};

  // The canonical JSON line (without a newline) a checkpoint object in the repository stores.
  std::string Encode() const;
  // Parses Encode()'s output (a trailing newline is allowed). kDataLoss if malformed or not
  // canonical.
  static Result<Checkpoint> Decode(std::string_view line);

  // The bytes the signature covers (doc/format/audit-log.md, "Checkpoints").
  Bytes SignedMessage(const Id& repository_id) const;
  // OK if `signer` is `trusted_signer` and the signature verifies; kDataLoss otherwise.
  Status VerifySignature(const Id& repository_id, ByteSpan trusted_signer) const;

  friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

// What AuditLog::RepairTornTail found and did.
struct TornTail {
  uint64_t bytes = 0;   // bytes after the last complete line; 0: nothing was torn, nothing done
  Id digest;            // their SHA-256
  std::string kept_in;  // the file (mode 0600, beside the log) they were moved to
};

class AuditLog {
 public:
  // Opens the log at `path` for repository `repository_id`, creating it with mode 0600 if
  // missing (and narrowing an existing file to 0600). Nothing is read yet.
  static Result<AuditLog> Open(const std::string& path, const Id& repository_id);

  AuditLog(AuditLog&&) noexcept = default;
  AuditLog& operator=(AuditLog&&) noexcept = default;

  // Appends `event` and returns its seq once it is on disk (written and fsynced).
  // kInvalidArgument for an event without actor, host or command, with details that are not a
  // JSON object, or too large a record; kDataLoss if the last record of the file is incomplete
  // or unreadable (someone must Verify the log and investigate; appending never repairs it).
  Result<uint64_t> Append(const Event& event);

  // Appends a checkpoint over the current head, signed with `signing_seed` (an Ed25519 seed),
  // and returns it once it is on disk. Errors as for Append.
  Result<Checkpoint> AppendCheckpoint(const SecretBytes& signing_seed);

  // Repairs the one damage an interrupted append leaves: an incomplete last line (a power cut or
  // a full disk in the middle of a write). Under the writers' lock the whole log is verified as
  // Verify does, with `remote`; if the incomplete last line is its only problem, its bytes are
  // moved to `<log>.torn-<first 16 hex digits of their SHA-256>` (0600) and the log is cut back
  // to its last complete record, so that appends work again. The caller records the repair (the
  // byte count and digest) as an event. Any other problem, or a checkpoint the repository holds
  // beyond the end, leaves the log untouched: kDataLoss naming the first one. A log whose last
  // line is complete: nothing is done, TornTail::bytes is 0.
  Result<TornTail> RepairTornTail(ByteSpan trusted_signer, const std::vector<Checkpoint>& remote);

 private:
  AuditLog(std::string path, const Id& repository_id, UniqueFd fd)
      : path_(std::move(path)), repository_id_(repository_id), fd_(std::move(fd)) {}

  std::string path_;
  Id repository_id_;
  UniqueFd fd_;
};

// One thing wrong with the log. `line` is 1-based; `seq` is the seq of the record concerned
// (that of the line, if readable, or of a missing checkpoint), 0 if unknown.
struct Problem {
  uint64_t line = 0;
  uint64_t seq = 0;
  std::string what;
};

struct Verification {
  bool ok() const { return problems.empty(); }
  // Complete lines, and the well-formed checkpoints among them.
  uint64_t records = 0, checkpoints = 0;
  // The seq of the last well-formed record and of the last well-formed checkpoint.
  uint64_t last_seq = 0, last_checkpoint_seq = 0;
  // Sorted by line: the first is the first bad record. At most one problem per line (the most
  // basic one), plus one for every `remote` checkpoint that does not match.
  std::vector<Problem> problems;
};

// Verifies the log at `path` of repository `repository_id`: every line is a well-formed record
// in canonical form, seqs run 1, 2, 3, … without gaps or repeats, every "hash" and "prev"
// matches, every checkpoint's head is the hash of the record before it and its signature
// verifies under `trusted_signer` (a checkpoint signed by another key is a problem: someone
// rewrote the log and signed it again). Each of `remote`, the checkpoints the repository keeps,
// must appear in the log with the same seq, time, head, signer and signature; one beyond the end
// of the log means the log was truncated or rolled back (a problem naming the missing seq, on
// the line after the last). An incomplete last line is a problem naming that line.
//
// Without `remote`, a log cut after a complete record is indistinguishable from one that simply
// ended there: Verify reports no problem for it.
//
// Errors (rather than problems): the file cannot be read; `trusted_signer` is not 32 bytes
// (kInvalidArgument).
Result<Verification> Verify(const std::string& path, const Id& repository_id,
                            ByteSpan trusted_signer, const std::vector<Checkpoint>& remote = {});

// Whether the next append to the log at `path` can succeed as far as the file goes: OK when it is
// missing, empty, or ends with a complete record whose seq and hash are readable; otherwise the
// kDataLoss error Append would return (an incomplete last line wants RepairTornTail). Reads only
// the end of the file, takes no lock and verifies nothing else (that is Verify's job).
Status CheckTail(const std::string& path);

// Every record of the log at `path`, in file order, verified or not (for `audit show` and
// `audit export`; run Verify to know whether to believe them). kDataLoss naming the line if a
// line, including an incomplete last one, is not a JSON object.
Result<std::vector<nlohmann::ordered_json>> ReadAll(const std::string& path);

}  // namespace phivault::audit
