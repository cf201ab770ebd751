#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "phivault/audit/audit_log.h"
#include "phivault/crypto/crypto.h"
#include "phivault/crypto/ed25519.h"

namespace phivault::audit {
namespace {

using Json = nlohmann::ordered_json;

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good());
}

// The lines of a newline-terminated text, without their newlines.
std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

std::string Sha256Hex(std::string_view s) { return crypto::Sha256(AsBytes(s)).Hex(); }

// The record's hash exactly as doc/format/audit-log.md defines it, computed independently of
// audit_log.cc: SHA-256 of the serialisation of the record without its "hash" member.
std::string SpecHash(Json record) {
  record.erase("hash");
  return Sha256Hex(record.dump());
}

// Signs a checkpoint record as the spec says, with `seed`, for repository `repo`.
void SpecSign(Json& record, const Id& repo, const SecretBytes& seed) {
  ByteSpan domain = AsBytes("phivault/v1/audit-checkpoint");
  Bytes message(domain.begin(), domain.end());
  message.insert(message.end(), repo.bytes.begin(), repo.bytes.end());
  uint8_t seq[8];
  StoreLE64(seq, record["seq"].get<uint64_t>());
  message.insert(message.end(), seq, seq + 8);
  Bytes head = *FromHex(record["head"].get<std::string>());
  message.insert(message.end(), head.begin(), head.end());
  ByteSpan time = AsBytes(record["time"].get_ref<const std::string&>());
  message.insert(message.end(), time.begin(), time.end());
  record["signer"] = ToHex(*crypto::Ed25519PublicKey(seed));
  record["signature"] = ToHex(*crypto::Ed25519Sign(seed, message));
}

// Rewrites lines[from..] the way an attacker with write access would: every "prev", "head" and
// "hash" recomputed so the chain is whole again; checkpoints re-signed only if given a key.
void Rechain(std::vector<std::string>& lines, size_t from, const Id& repo,
             const SecretBytes* attacker_seed) {
  for (size_t i = from; i < lines.size(); ++i) {
    Json record = Json::parse(lines[i]);
    if (i > 0) {
      record["prev"] = Sha256Hex(lines[i - 1]);
      if (record["kind"] == "checkpoint") {
        record["head"] = Json::parse(lines[i - 1])["hash"];
        if (attacker_seed != nullptr) SpecSign(record, repo, *attacker_seed);
      }
    }
    record["hash"] = SpecHash(record);
    lines[i] = record.dump();
  }
}

// Changes the first character of the string value of `field` in a record line.
std::string ChangeOneCharacter(std::string line, std::string_view field) {
  size_t at = line.find("\"" + std::string(field) + "\":\"");
  EXPECT_NE(at, std::string::npos) << field << " in " << line;
  at += field.size() + 4;
  line[at] = line[at] == 'a' ? 'b' : 'a';
  return line;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/phivault-audit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/repository.audit";
    auto repo = crypto::RandomId();
    ASSERT_TRUE(repo.ok());
    repo_ = *repo;
    auto seed = crypto::Ed25519NewSeed();
    ASSERT_TRUE(seed.ok());
    seed_ = std::move(*seed);
    auto signer = crypto::Ed25519PublicKey(seed_);
    ASSERT_TRUE(signer.ok());
    signer_ = Bytes(signer->begin(), signer->end());
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0); }

  static Event MakeEvent(int i) {
    Event e;
    e.actor = "alice";
    e.host = "ward-3";
    e.command = "backup";
    e.objects = {std::string(64, static_cast<char>('a' + i % 6))};
    e.details = {{"files", i}, {"bytes", 1000 * i}};
    if (i % 7 == 0) e.outcome = UnavailableError("storage kept failing");
    return e;
  }

  // 20 events with checkpoints after the 5th, 10th and 20th: checkpoints at seq 6, 12 and 23.
  void WriteStandardLog() {
    auto log = AuditLog::Open(path_, repo_);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    uint64_t expected = 1;
    for (int i = 1; i <= 20; ++i) {
      auto seq = log->Append(MakeEvent(i));
      ASSERT_TRUE(seq.ok()) << seq.status().ToString();
      ASSERT_EQ(*seq, expected++);
      if (i == 5 || i == 10 || i == 20) {
        auto cp = log->AppendCheckpoint(seed_);
        ASSERT_TRUE(cp.ok()) << cp.status().ToString();
        ASSERT_EQ(cp->seq, expected++);
        checkpoints_.push_back(*cp);
      }
    }
    lines_ = SplitLines(ReadText(path_));
    ASSERT_EQ(lines_.size(), 23u);
  }

  Verification VerifyText(const std::string& text, const std::vector<Checkpoint>& remote = {}) {
    WriteText(path_, text);
    auto v = Verify(path_, repo_, signer_, remote);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : Verification{};
  }

  // Whether `v` has problems and the first is on `line`.
  static ::testing::AssertionResult FirstProblemOn(const Verification& v, uint64_t line) {
    if (v.ok()) return ::testing::AssertionFailure() << "no problem found";
    if (v.problems[0].line != line) {
      return ::testing::AssertionFailure()
             << "first problem on line " << v.problems[0].line << ": " << v.problems[0].what;
    }
    return ::testing::AssertionSuccess();
  }

  std::string dir_, path_;
  Id repo_;
  SecretBytes seed_;
  Bytes signer_;
  std::vector<Checkpoint> checkpoints_;
  std::vector<std::string> lines_;
};

TEST_F(AuditLogTest, AppendedLogVerifies) {
  WriteStandardLog();
  auto v = Verify(path_, repo_, signer_, checkpoints_);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_TRUE(v->ok()) << v->problems[0].what;
  EXPECT_EQ(v->records, 23u);
  EXPECT_EQ(v->checkpoints, 3u);
  EXPECT_EQ(v->last_seq, 23u);
  EXPECT_EQ(v->last_checkpoint_seq, 23u);
  ASSERT_EQ(checkpoints_.size(), 3u);
  EXPECT_EQ(checkpoints_[0].seq, 6u);
  EXPECT_EQ(checkpoints_[1].seq, 12u);
  EXPECT_EQ(checkpoints_[2].seq, 23u);

  auto records = ReadAll(path_);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 23u);
  for (uint64_t i = 0; i < records->size(); ++i) {
    EXPECT_EQ((*records)[i]["seq"], i + 1);
    bool checkpoint = i + 1 == 6 || i + 1 == 12 || i + 1 == 23;
    EXPECT_EQ((*records)[i]["kind"], checkpoint ? "checkpoint" : "event");
  }

  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

// Pins the chain to the format spec with an independent computation of every digest.
TEST_F(AuditLogTest, DigestsAndSignaturesFollowTheSpec) {
  WriteStandardLog();
  std::string prev(64, '0');
  std::string prev_hash(64, '0');
  for (size_t i = 0; i < lines_.size(); ++i) {
    SCOPED_TRACE(lines_[i]);
    Json record = Json::parse(lines_[i]);
    EXPECT_EQ(record.dump(), lines_[i]);
    EXPECT_EQ(record["prev"], prev);
    EXPECT_EQ(record["hash"], SpecHash(record));
    // The same hash, taken from the bytes of the line: everything before `,"hash":` and a `}`.
    std::string body = lines_[i].substr(0, lines_[i].rfind(",\"hash\":")) + "}";
    EXPECT_EQ(record["hash"], Sha256Hex(body));
    if (record["kind"] == "checkpoint") {
      EXPECT_EQ(record["head"], prev_hash);
      Json resigned = record;
      SpecSign(resigned, repo_, seed_);  // Ed25519 is deterministic
      EXPECT_EQ(resigned["signature"], record["signature"]);
      EXPECT_EQ(record["signer"], ToHex(signer_));
    }
    prev = Sha256Hex(lines_[i]);
    prev_hash = record["hash"];
  }
  Json first = Json::parse(lines_[0]);
  std::vector<std::string> keys;
  for (const auto& item : first.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"seq", "time", "kind", "actor", "host", "command",
                                            "objects", "outcome", "details", "prev", "hash"}));
}

TEST_F(AuditLogTest, AnEditedFieldIsCaughtAtItsLine) {
  WriteStandardLog();
  for (size_t i = 0; i < lines_.size(); ++i) {
    std::vector<std::string> lines = lines_;
    bool checkpoint = Json::parse(lines[i])["kind"] == "checkpoint";
    lines[i] = ChangeOneCharacter(lines[i], checkpoint ? "signature" : "command");
    ASSERT_TRUE(FirstProblemOn(VerifyText(JoinLines(lines)), i + 1)) << "edit of line " + lines[i];
    lines[i] = ChangeOneCharacter(lines_[i], "time");  // "2026…" becomes "a026…"
    ASSERT_TRUE(FirstProblemOn(VerifyText(JoinLines(lines)), i + 1)) << "edit of time " + lines[i];
  }
}

// An edit that fixes its own hash still changes the line, which the next record's prev covers.
TEST_F(AuditLogTest, AnEditWithItsHashFixedIsCaughtAtTheNextLine) {
  WriteStandardLog();
  for (size_t i = 0; i + 1 < lines_.size(); ++i) {
    std::vector<std::string> lines = lines_;
    Json record = Json::parse(lines[i]);
    record["time"] = "2027-01-01T00:00:00Z";
    record["hash"] = SpecHash(record);
    lines[i] = record.dump();
    Verification v = VerifyText(JoinLines(lines));
    if (record["kind"] == "checkpoint") {
      // A checkpoint's time is signed, so the checkpoint itself fails first.
      ASSERT_TRUE(FirstProblemOn(v, i + 1)) << "edit of line " << i + 1;
      EXPECT_NE(v.problems[0].what.find("signature does not verify"), std::string::npos);
      ASSERT_GE(v.problems.size(), 2u);
      v.problems.erase(v.problems.begin());
    }
    ASSERT_TRUE(FirstProblemOn(v, i + 2)) << "edit of line " << i + 1;
    EXPECT_EQ(v.problems[0].seq, i + 2);
    EXPECT_EQ(v.problems[0].what,
              "prev is not the hash of the line before (a record was removed, inserted or "
              "altered)");
  }
}

// Renumbered records with the chain recomputed: the hashes agree, the seqs do not.
TEST_F(AuditLogTest, ARenumberedRecordIsCaughtAtItsLine) {
  WriteStandardLog();
  std::vector<std::string> lines = lines_;
  Json record = Json::parse(lines[2]);
  record["seq"] = 4;
  lines[2] = record.dump();
  Rechain(lines, 2, repo_, nullptr);
  Verification v = VerifyText(JoinLines(lines));
  ASSERT_TRUE(FirstProblemOn(v, 3));
  EXPECT_EQ(v.problems[0].seq, 4u);
  EXPECT_EQ(v.problems[0].what,
            "seq 4 where 3 was expected (a record is missing, repeated or out of order)");
}

// Records of the wrong shape, with every digest after them recomputed, so that only the shape
// check stands between them and the next checkpoint.
TEST_F(AuditLogTest, AMalformedRecordIsCaughtAtItsLine) {
  WriteStandardLog();
  Json original = Json::parse(lines_[2]);
  std::vector<std::pair<std::string, Json>> cases;
  Json missing = original;
  missing.erase("details");
  cases.emplace_back("missing details", missing);
  Json extra = original;
  extra.erase("hash");
  extra.erase("prev");
  extra["note"] = "added later";
  extra["prev"] = original["prev"];
  extra["hash"] = original["hash"];
  cases.emplace_back("extra member", extra);
  Json reordered;
  for (const char* key : {"seq", "time", "kind", "host", "actor", "command", "objects", "outcome",
                          "details", "prev", "hash"}) {
    reordered[key] = original[key];
  }
  cases.emplace_back("reordered", reordered);
  Json outcome = original;
  outcome["outcome"] = "maybe";
  cases.emplace_back("outcome", outcome);
  Json empty_actor = original;
  empty_actor["actor"] = "";
  cases.emplace_back("empty actor", empty_actor);
  Json bad_objects = original;
  bad_objects["objects"] = Json::array({1});
  cases.emplace_back("objects", bad_objects);
  Json bad_time = original;
  bad_time["time"] = "2026-02-30T00:00:00Z";
  cases.emplace_back("time", bad_time);
  for (const auto& [name, record] : cases) {
    std::vector<std::string> lines = lines_;
    lines[2] = record.dump();
    Rechain(lines, 2, repo_, nullptr);
    ASSERT_TRUE(FirstProblemOn(VerifyText(JoinLines(lines)), 3)) << name;
  }
}

TEST_F(AuditLogTest, ADeletedLineIsCaughtAtItsPlace) {
  WriteStandardLog();
  for (size_t i = 0; i + 1 < lines_.size(); ++i) {
    std::vector<std::string> lines = lines_;
    lines.erase(lines.begin() + static_cast<ptrdiff_t>(i));
    ASSERT_TRUE(FirstProblemOn(VerifyText(JoinLines(lines)), i + 1))
        << "delete line " + std::to_string(i);
  }
  // Deleting the last line is a cut after line 22: only the repository's checkpoints show it.
  std::vector<std::string> lines(lines_.begin(), lines_.end() - 1);
  EXPECT_TRUE(VerifyText(JoinLines(lines)).ok());
  Verification v = VerifyText(JoinLines(lines), checkpoints_);
  ASSERT_TRUE(FirstProblemOn(v, 23)) << "delete the last line";
  EXPECT_EQ(v.problems[0].seq, 23u);
}

TEST_F(AuditLogTest, SwappedLinesAreCaughtAtTheFirst) {
  WriteStandardLog();
  for (size_t i = 0; i + 1 < lines_.size(); ++i) {
    std::vector<std::string> lines = lines_;
    std::swap(lines[i], lines[i + 1]);
    ASSERT_TRUE(FirstProblemOn(VerifyText(JoinLines(lines)), i + 1))
        << "swap line " + std::to_string(i);
  }
}

// The first of two identical lines is the one that fits the chain, so the problem is the
// second: the copy.
TEST_F(AuditLogTest, ADuplicatedLineIsCaughtAtTheCopy) {
  WriteStandardLog();
  for (size_t i = 0; i < lines_.size(); ++i) {
    std::vector<std::string> lines = lines_;
    lines.insert(lines.begin() + static_cast<ptrdiff_t>(i) + 1, lines_[i]);
    Verification v = VerifyText(JoinLines(lines));
    ASSERT_TRUE(FirstProblemOn(v, i + 2)) << "duplicate line " + std::to_string(i);
    EXPECT_EQ(v.problems[0].seq, i + 1);
  }
}

TEST_F(AuditLogTest, ACutInsideALineIsCaughtAtThatLine) {
  WriteStandardLog();
  std::string text = JoinLines(lines_);
  size_t start = 0;
  for (size_t i = 0; i < lines_.size(); ++i) {
    Verification v = VerifyText(text.substr(0, start + lines_[i].size() / 2));
    ASSERT_TRUE(FirstProblemOn(v, i + 1)) << "cut inside line " + std::to_string(i);
    EXPECT_NE(v.problems[0].what.find("incomplete"), std::string::npos) << v.problems[0].what;
    start += lines_[i].size() + 1;
  }
  // The writer refuses to build on a torn record, and the reader names it.
  WriteText(path_, text.substr(0, text.size() - 10));
  auto log = AuditLog::Open(path_, repo_);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->Append(MakeEvent(1)).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(log->AppendCheckpoint(seed_).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ReadAll(path_).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ReadText(path_), text.substr(0, text.size() - 10));
}

TEST_F(AuditLogTest, RepairCutsOffATornLastRecordAndKeepsItsBytes) {
  WriteStandardLog();
  const std::string text = JoinLines(lines_);
  // An append interrupted 30 bytes into the 24th record.
  const std::string torn = R"({"seq":24,"time":"2026-12-04T)";
  WriteText(path_, text + torn);
  EXPECT_EQ(CheckTail(path_).code(), StatusCode::kDataLoss);
  auto log = AuditLog::Open(path_, repo_);
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->Append(MakeEvent(1)).status().code(), StatusCode::kDataLoss);
  auto repaired = log->RepairTornTail(signer_, checkpoints_);
  ASSERT_TRUE(repaired.ok()) << repaired.status().ToString();
  EXPECT_EQ(repaired->bytes, torn.size());
  EXPECT_EQ(repaired->digest, crypto::Sha256(AsBytes(torn)));
  EXPECT_EQ(ReadText(repaired->kept_in), torn);
  struct stat st;
  ASSERT_EQ(stat(repaired->kept_in.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadText(path_), text);
  EXPECT_TRUE(CheckTail(path_).ok());
  EXPECT_TRUE(CheckTail(dir_ + "/no-such.audit").ok()) << "a missing log takes its first record";
  // The chain goes on from the last complete record.
  auto seq = log->Append(MakeEvent(2));
  ASSERT_TRUE(seq.ok()) << seq.status().ToString();
  EXPECT_EQ(*seq, 24u);
  auto v = Verify(path_, repo_, signer_, checkpoints_);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << v->problems[0].what;
  // Nothing torn: nothing done.
  auto again = log->RepairTornTail(signer_, checkpoints_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->bytes, 0u);
}

TEST_F(AuditLogTest, RepairRefusesALogWithAnyOtherDamage) {
  WriteStandardLog();
  const std::string torn = R"({"seq":24,"ti)";
  // An altered record before the torn one.
  std::vector<std::string> altered = lines_;
  altered[3] = ChangeOneCharacter(altered[3], "actor");
  // A torn copy of the last checkpoint, which the repository holds whole.
  std::vector<std::string> cut(lines_.begin(), lines_.end() - 1);
  const std::vector<std::string> damaged = {JoinLines(altered) + torn,
                                            JoinLines(cut) + lines_.back().substr(0, 40)};
  for (const std::string& text : damaged) {
    WriteText(path_, text);
    auto log = AuditLog::Open(path_, repo_);
    ASSERT_TRUE(log.ok());
    auto repaired = log->RepairTornTail(signer_, checkpoints_);
    EXPECT_EQ(repaired.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(repaired.status().message().find("nothing was changed"), std::string::npos)
        << repaired.status().ToString();
    EXPECT_EQ(ReadText(path_), text);
  }
  EXPECT_NE(system(("ls '" + dir_ + "' | grep -q torn").c_str()), 0)
      << "a refused repair kept a side file";
}

// A log cut after a complete record looks like a shorter log: by itself it verifies, and this
// is documented behaviour. The checkpoints the repository keeps expose it.
TEST_F(AuditLogTest, ACutAfterALineIsCaughtOnlyWithTheRepositorysCheckpoints) {
  WriteStandardLog();
  for (size_t i = 0; i + 1 < lines_.size(); ++i) {
    std::vector<std::string> lines(lines_.begin(), lines_.begin() + static_cast<ptrdiff_t>(i) + 1);
    EXPECT_TRUE(VerifyText(JoinLines(lines)).ok()) << "cut after line " << i + 1;
    Verification v = VerifyText(JoinLines(lines), checkpoints_);
    ASSERT_TRUE(FirstProblemOn(v, i + 2)) << "cut after line " + std::to_string(i + 1);
    uint64_t first_missing = i + 1 < 6 ? 6 : i + 1 < 12 ? 12 : 23;
    EXPECT_EQ(v.problems[0].seq, first_missing);
  }
  // Cut right after the checkpoint at seq 12; the repository knows the one at seq 23.
  std::vector<std::string> lines(lines_.begin(), lines_.begin() + 12);
  EXPECT_TRUE(VerifyText(JoinLines(lines)).ok());
  Verification v = VerifyText(JoinLines(lines), {checkpoints_[2]});
  ASSERT_EQ(v.problems.size(), 1u);
  EXPECT_EQ(v.problems[0].line, 13u);
  EXPECT_EQ(v.problems[0].seq, 23u);
  EXPECT_EQ(v.problems[0].what,
            "checkpoint seq 23 known from the repository is missing: the log ends at seq 12 "
            "(truncated or rolled back)");
}

TEST_F(AuditLogTest, ARewrittenChainFailsTheNextCheckpoint) {
  WriteStandardLog();
  std::vector<std::string> lines = lines_;
  lines[2] = ChangeOneCharacter(lines[2], "command");  // seq 3; the next checkpoint is seq 6

  // Hashes and prevs fixed, heads and signatures left alone.
  std::vector<std::string> partial = lines;
  for (size_t i = 2; i < 5; ++i) {
    Json record = Json::parse(partial[i]);
    if (i > 2) record["prev"] = Sha256Hex(partial[i - 1]);
    record["hash"] = SpecHash(record);
    partial[i] = record.dump();
  }
  Json cp = Json::parse(partial[5]);
  cp["prev"] = Sha256Hex(partial[4]);
  cp["hash"] = SpecHash(cp);
  partial[5] = cp.dump();
  Verification v = VerifyText(JoinLines(partial));
  ASSERT_TRUE(FirstProblemOn(v, 6)) << "stale head";
  EXPECT_EQ(v.problems[0].seq, 6u);
  EXPECT_NE(v.problems[0].what.find("head"), std::string::npos) << v.problems[0].what;

  // Heads fixed too; the attacker cannot sign.
  Rechain(lines, 2, repo_, nullptr);
  v = VerifyText(JoinLines(lines));
  ASSERT_TRUE(FirstProblemOn(v, 6)) << "unsigned rewrite";
  EXPECT_EQ(v.problems[0].seq, 6u);
  EXPECT_EQ(v.problems[0].what,
            "checkpoint seq 6: signature does not verify (the records before it were altered, or "
            "the log belongs to another repository)");
  EXPECT_EQ(v.problems.size(), 3u);  // every later checkpoint fails too, nothing else does
}

TEST_F(AuditLogTest, AChainReSignedWithAnotherKeyIsCaught) {
  WriteStandardLog();
  auto attacker = crypto::Ed25519NewSeed();
  ASSERT_TRUE(attacker.ok());
  std::vector<std::string> lines = lines_;
  lines[2] = ChangeOneCharacter(lines[2], "command");
  Rechain(lines, 2, repo_, &*attacker);
  Verification v = VerifyText(JoinLines(lines));
  ASSERT_TRUE(FirstProblemOn(v, 6)) << "re-signed rewrite";
  EXPECT_NE(v.problems[0].what.find("not the trusted key"), std::string::npos)
      << v.problems[0].what;

  // The forgery is internally consistent: only the key gives it away.
  auto attacker_public = crypto::Ed25519PublicKey(*attacker);
  ASSERT_TRUE(attacker_public.ok());
  auto forged = Verify(path_, repo_, *attacker_public);
  ASSERT_TRUE(forged.ok());
  EXPECT_TRUE(forged->ok()) << forged->problems[0].what;
  // The repository's copies of the checkpoints give it away as well.
  v = VerifyText(JoinLines(lines), checkpoints_);
  ASSERT_TRUE(FirstProblemOn(v, 6));
}

TEST_F(AuditLogTest, ALogOfAnotherRepositoryFailsItsCheckpoints) {
  WriteStandardLog();
  Id other = repo_;
  other.bytes[0] ^= 1;
  auto v = Verify(path_, other, signer_);
  ASSERT_TRUE(v.ok());
  ASSERT_TRUE(FirstProblemOn(*v, 6)) << "other repository";
  EXPECT_EQ(v->problems.size(), 3u);
}

TEST_F(AuditLogTest, ConcurrentProcessesAppendEveryRecord) {
  constexpr int kPerProcess = 200;
  pid_t children[2];
  for (int c = 0; c < 2; ++c) {
    children[c] = fork();
    ASSERT_GE(children[c], 0);
    if (children[c] == 0) {
      // Each process opens its own log: a descriptor inherited across fork would share the lock.
      auto log = AuditLog::Open(path_, repo_);
      if (!log.ok()) _exit(2);
      for (int i = 0; i < kPerProcess; ++i) {
        Event e = MakeEvent(i);
        e.actor = "child" + std::to_string(c);
        if (!log->Append(e).ok()) _exit(1);
      }
      _exit(0);
    }
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  auto v = Verify(path_, repo_, signer_);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << v->problems[0].what;
  EXPECT_EQ(v->records, 2u * kPerProcess);
  EXPECT_EQ(v->last_seq, 2u * kPerProcess);
  auto records = ReadAll(path_);
  ASSERT_TRUE(records.ok());
  int from_child0 = 0;
  for (const Json& r : *records) from_child0 += r["actor"] == "child0" ? 1 : 0;
  EXPECT_EQ(from_child0, kPerProcess);
}

TEST_F(AuditLogTest, CheckpointEncodeDecodeRoundTrip) {
  WriteStandardLog();
  const Checkpoint& cp = checkpoints_[1];
  std::string encoded = cp.Encode();
  EXPECT_EQ(encoded, "{\"seq\":12,\"time\":\"" + cp.time + "\",\"head\":\"" + cp.head.Hex() +
                         "\",\"signer\":\"" + ToHex(cp.signer) + "\",\"signature\":\"" +
                         ToHex(cp.signature) + "\"}");
  auto back = Checkpoint::Decode(encoded);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, cp);
  EXPECT_TRUE(Checkpoint::Decode(encoded + "\n").ok());
  EXPECT_TRUE(back->VerifySignature(repo_, signer_).ok());
  EXPECT_EQ(Json::parse(lines_[11])["head"], cp.head.Hex());

  EXPECT_EQ(Checkpoint::Decode("").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(Checkpoint::Decode("{\"seq\": 12" + encoded.substr(9)).status().code(),
            StatusCode::kDataLoss);  // not canonical
  EXPECT_EQ(Checkpoint::Decode(ChangeOneCharacter(encoded, "time")).status().code(),
            StatusCode::kDataLoss);

  // One changed hex digit still decodes, but no longer matches the log.
  for (std::string_view field : {"head", "signer", "signature"}) {
    auto changed = Checkpoint::Decode(ChangeOneCharacter(encoded, field));
    ASSERT_TRUE(changed.ok()) << field;
    EXPECT_FALSE(*changed == cp);
    EXPECT_EQ(changed->VerifySignature(repo_, signer_).code(), StatusCode::kDataLoss);
    auto v = Verify(path_, repo_, signer_, {*changed});
    ASSERT_TRUE(v.ok());
    ASSERT_EQ(v->problems.size(), 1u) << field;
    EXPECT_EQ(v->problems[0].line, 12u);
    EXPECT_EQ(v->problems[0].seq, 12u);
  }
}

TEST_F(AuditLogTest, EventsAreStoredAsGiven) {
  auto log = AuditLog::Open(path_, repo_);
  ASSERT_TRUE(log.ok());
  Event ok = MakeEvent(1);
  ok.objects = {"3fa4" + std::string(60, '0'), "slot:2"};
  ok.details = {{"files", 12}, {"bytes", 34567}, {"seconds", 1.5}};
  ok.time_ns = 1796354035LL * 1'000'000'000 + 999'999'999;
  ASSERT_TRUE(log->Append(ok).ok());
  Event failed = MakeEvent(2);
  // The message may name a file; only the code name is recorded.
  failed.outcome = DataLossError("reading /home/alice/patients.csv: checksum mismatch");
  ASSERT_TRUE(log->Append(failed).ok());

  auto records = ReadAll(path_);
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 2u);
  const Json& a = (*records)[0];
  EXPECT_EQ(a["time"], "2026-12-04T03:13:55Z");
  EXPECT_EQ(a["actor"], "alice");
  EXPECT_EQ(a["host"], "ward-3");
  EXPECT_EQ(a["command"], "backup");
  EXPECT_EQ(a["objects"], Json(ok.objects));
  EXPECT_EQ(a["details"], ok.details);
  EXPECT_EQ(a["outcome"], "ok");
  EXPECT_FALSE(a.contains("error"));
  const Json& b = (*records)[1];
  EXPECT_EQ(b["outcome"], "failed");
  EXPECT_EQ(b["error"], "DATA_LOSS");
  EXPECT_EQ(ReadText(path_).find("patients"), std::string::npos);
  auto v = Verify(path_, repo_, signer_);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << v->problems[0].what;
}

// Names come from the operating system and may hold anything; the record must still verify.
TEST_F(AuditLogTest, OddCharactersSurviveTheCanonicalForm) {
  auto log = AuditLog::Open(path_, repo_);
  ASSERT_TRUE(log.ok());
  Event e = MakeEvent(1);
  e.actor = "jos\xc3\xa9";
  e.host = "bad\xff-host";
  e.details = {{"note", "tab\there \x01 \"quoted\" \\ /"}, {"ratio", 0.1}, {"big", UINT64_MAX}};
  ASSERT_TRUE(log->Append(e).ok());
  auto v = Verify(path_, repo_, signer_);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << v->problems[0].what;
  auto records = ReadAll(path_);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ((*records)[0]["actor"], "jos\xc3\xa9");
  EXPECT_EQ((*records)[0]["host"], "bad\xef\xbf\xbd-host");  // U+FFFD
  EXPECT_EQ((*records)[0]["details"]["note"], "tab\there \x01 \"quoted\" \\ /");
  EXPECT_NE(ReadText(path_).find("tab\\there \\u0001"), std::string::npos);
}

TEST_F(AuditLogTest, AStartIsAnEventWithOutcomeStarted) {
  auto log = AuditLog::Open(path_, repo_);
  ASSERT_TRUE(log.ok());
  Event start = MakeEvent(1);
  start.started = true;
  ASSERT_EQ(*log->Append(start), 1u);
  Event end = MakeEvent(1);
  end.details["started_seq"] = 1;
  ASSERT_EQ(*log->Append(end), 2u);
  auto records = ReadAll(path_);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ((*records)[0]["outcome"], "started");
  EXPECT_FALSE((*records)[0].contains("error"));
  EXPECT_EQ((*records)[1]["outcome"], "ok");
  auto v = Verify(path_, repo_, signer_);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << v->problems[0].what;
  // Any other outcome is malformed.
  std::vector<std::string> lines = SplitLines(ReadText(path_));
  Json j = Json::parse(lines[0]);
  j["outcome"] = "begun";
  j["hash"] = SpecHash(j);
  lines[0] = j.dump();
  EXPECT_TRUE(FirstProblemOn(VerifyText(JoinLines(lines)), 1));
}

TEST_F(AuditLogTest, RejectsEventsItCannotRecordFaithfully) {
  auto log = AuditLog::Open(path_, repo_);
  ASSERT_TRUE(log.ok());
  Event e = MakeEvent(1);
  e.actor = "";
  EXPECT_EQ(log->Append(e).status().code(), StatusCode::kInvalidArgument);
  e = MakeEvent(1);
  e.details = Json::array({1, 2});
  EXPECT_EQ(log->Append(e).status().code(), StatusCode::kInvalidArgument);
  e = MakeEvent(1);
  e.details = {{"blob", std::string(kMaxRecordSize, 'x')}};
  EXPECT_EQ(log->Append(e).status().code(), StatusCode::kInvalidArgument);
  e = MakeEvent(7);  // failed
  e.started = true;
  EXPECT_EQ(log->Append(e).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadText(path_), "");
  EXPECT_EQ(*log->Append(MakeEvent(1)), 1u);
}

TEST_F(AuditLogTest, EdgeCases) {
  // A log that does not exist is an error, not an empty log.
  EXPECT_EQ(Verify(path_, repo_, signer_).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Verify(path_, repo_, ByteSpan(signer_).first(31)).status().code(),
            StatusCode::kInvalidArgument);

  // An existing file is narrowed to 0600.
  WriteText(path_, "");
  ASSERT_EQ(chmod(path_.c_str(), 0644), 0);
  auto log = AuditLog::Open(path_, repo_);
  ASSERT_TRUE(log.ok());
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  auto v = Verify(path_, repo_, signer_);
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok());
  EXPECT_EQ(v->records, 0u);

  // A checkpoint as the first record signs the all-zero head.
  auto cp = log->AppendCheckpoint(seed_);
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(cp->seq, 1u);
  EXPECT_TRUE(cp->head.IsZero());
  EXPECT_EQ(log->AppendCheckpoint(SecretBytes(31)).status().code(), StatusCode::kInvalidArgument);
  v = Verify(path_, repo_, signer_, {*cp});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok()) << v->problems[0].what;
  EXPECT_EQ(v->checkpoints, 1u);

  // Garbage lines are problems of their own, and the lines after them are still checked.
  std::string text = ReadText(path_);
  Verification garbage = VerifyText(text + "not json\n\n" + text);
  ASSERT_EQ(garbage.problems.size(), 3u);
  EXPECT_EQ(garbage.problems[0].line, 2u);
  EXPECT_EQ(garbage.problems[1].line, 3u);
  EXPECT_EQ(garbage.problems[2].line, 4u);
  EXPECT_EQ(ReadAll(path_).status().code(), StatusCode::kDataLoss);

  // A record with its hash fixed over bytes that are not the canonical serialisation.
  std::string spaced = text.substr(0, text.size() - 1);
  spaced.insert(spaced.find(':') + 1, " ");
  std::string body = spaced.substr(0, spaced.rfind(",\"hash\":")) + "}";
  spaced = body.substr(0, body.size() - 1) + ",\"hash\":\"" + Sha256Hex(body) + "\"}";
  Verification rewritten = VerifyText(spaced + "\n");
  ASSERT_TRUE(FirstProblemOn(rewritten, 1));
  EXPECT_EQ(rewritten.problems[0].what, "the line is not in canonical form (it was rewritten)");

  EXPECT_FALSE(CurrentUserName().empty());
  EXPECT_FALSE(CurrentHostName().empty());
}

}  // namespace
}  // namespace phivault::audit
