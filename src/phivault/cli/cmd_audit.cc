// phivault audit: the repository's tamper-evident audit trail (doc/format/audit-log.md).
// `audit show` lists the records, `audit export` writes them as JSON lines for a SIEM, and
// `audit verify` checks the hash chain, every checkpoint's signature, and the log against the
// sealed checkpoint copies in the repository (so a deleted or rolled-back log is caught). With
// --public-key it checks the local file alone, offline. `audit repair` cuts off an incomplete
// last record (an append a crash interrupted), keeping its bytes in a side file, when that is the
// only problem, so that commands can record their events again.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "phivault/audit/audit_log.h"
#include "phivault/base/file_util.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"
#include "phivault/crypto/ed25519.h"
#include "phivault/repo/sealed.h"

namespace phivault::cli {
namespace {

struct AuditFlags {
  std::string public_key;
  std::string output;
};

int RunShow(const Globals& g) {
  auto id = RepositoryIdOf(g);
  if (!id.ok()) return ReportError(g, id.status());
  auto records = audit::ReadAll(AuditLogPath(g, *id));
  if (!records.ok()) return ReportError(g, records.status());
  if (g.json) {
    PrintJson(*records);
    return kExitOk;
  }
  std::printf("%-6s %-20s %-10s %-12s %-22s %-7s %s\n", "SEQ", "TIME (UTC)", "KIND", "ACTOR",
              "COMMAND", "OUTCOME", "OBJECTS");
  for (const auto& r : *records) {
    std::string objects;
    for (const auto& o : r.value("objects", nlohmann::ordered_json::array())) {
      objects += (objects.empty() ? "" : " ") + o.get<std::string>();
    }
    std::printf("%-6llu %-20s %-10s %-12s %-22s %-7s %s\n",
                static_cast<unsigned long long>(r.value("seq", uint64_t{0})),
                r.value("time", "").c_str(), r.value("kind", "").c_str(),
                r.value("actor", "").c_str(), r.value("command", "").c_str(),
                r.value("outcome", "").c_str(), objects.c_str());
  }
  return kExitOk;
}

int RunExport(const Globals& g, const AuditFlags& flags) {
  auto id = RepositoryIdOf(g);
  if (!id.ok()) return ReportError(g, id.status());
  auto records = audit::ReadAll(AuditLogPath(g, *id));
  if (!records.ok()) return ReportError(g, records.status());
  std::string out;
  for (const auto& r : *records) out += r.dump() + "\n";
  if (flags.output.empty()) {
    std::cout << out;
  } else {
    Status s = WriteFileAtomic(flags.output, AsBytes(out), 0600);
    if (!s.ok()) return ReportError(g, s);
    std::cerr << "exported " << records->size() << " records to " << flags.output << "\n";
  }
  return kExitOk;
}

// What the local log is checked against: the repository's signing key and the sealed copies of
// its checkpoints.
struct Trust {
  Id repository;
  std::array<uint8_t, 32> signer{};
  std::vector<audit::Checkpoint> remote;
  size_t unreadable = 0;  // checkpoints sealed under key epochs this keystore does not hold
};

// Unlocks the repository for its signing key and reads its checkpoint copies.
Result<Trust> LoadTrust(const Globals& g) {
  Trust t;
  PHV_ASSIGN_OR_RETURN(auto repo, OpenRepository(g, /*load_index=*/false, /*adopt=*/false));
  t.repository = repo->config().id;
  PHV_ASSIGN_OR_RETURN(t.signer, crypto::Ed25519PublicKey(Audit().signing_seed));
  PHV_ASSIGN_OR_RETURN(std::vector<Id> ids,
                       repo->ListRecords(storage::ObjectKind::kAuditCheckpoint));
  for (const Id& cid : ids) {
    auto payload = repo->LoadRecord(repo::ObjectType::kAuditCheckpoint,
                                    storage::ObjectKind::kAuditCheckpoint, cid);
    if (payload.status().code() == StatusCode::kFailedPrecondition) {
      // Sealed under an epoch this keystore does not hold: written with an old copy of the
      // keystore. It cannot be checked here; say so rather than fail.
      t.unreadable++;
      continue;
    }
    PHV_RETURN_IF_ERROR(payload.status());
    PHV_ASSIGN_OR_RETURN(audit::Checkpoint cp, audit::Checkpoint::Decode(AsStringView(*payload)));
    t.remote.push_back(cp);
  }
  return t;
}

int RunVerify(const Globals& g, const AuditFlags& flags) {
  std::array<uint8_t, 32> signer{};
  std::vector<audit::Checkpoint> remote;
  size_t unreadable = 0;
  Id repository;
  if (!flags.public_key.empty()) {
    // Offline: the local log and the public key; truncation after the last checkpoint cannot be
    // seen this way (doc/format/audit-log.md).
    auto id = RepositoryIdOf(g);
    if (!id.ok()) return ReportError(g, id.status());
    repository = *id;
    auto pem = ReadFile(flags.public_key);
    if (!pem.ok()) return ReportError(g, pem.status());
    auto key = crypto::Ed25519PublicKeyFromPem(AsStringView(*pem));
    if (!key.ok()) return ReportError(g, key.status());
    signer = *key;
  } else {
    auto trust = LoadTrust(g);
    if (!trust.ok()) return ReportError(g, trust.status());
    repository = trust->repository;
    signer = trust->signer;
    remote = std::move(trust->remote);
    unreadable = trust->unreadable;
  }
  const std::string path = AuditLogPath(g, repository);
  if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    if (remote.empty()) {
      return ReportError(g, NotFoundError("no audit trail at " + path + " yet"));
    }
    // The repository remembers checkpoints of a log that is gone: it was deleted.
    Audit().last_error = DataLossError("audit trail missing");
    if (g.json) {
      PrintJson({{"intact", false},
                 {"records", 0},
                 {"repository_checkpoints", remote.size()},
                 {"problems", {{{"line", 1}, {"seq", 1}, {"what", "the audit log is missing"}}}}});
    } else {
      std::cout << "audit trail NOT intact: " << path << " is missing, but the repository holds "
                << remote.size() << " of its signed checkpoints\n";
    }
    return kExitDataLoss;
  }
  auto result = audit::Verify(path, repository, signer, remote);
  if (!result.ok()) return ReportError(g, result.status());
  Audit().details["records"] = result->records;
  Audit().details["problems"] = result->problems.size();
  if (g.json) {
    nlohmann::ordered_json problems = nlohmann::ordered_json::array();
    for (const audit::Problem& p : result->problems) {
      problems.push_back({{"line", p.line}, {"seq", p.seq}, {"what", p.what}});
    }
    PrintJson({{"intact", result->ok()},
               {"records", result->records},
               {"checkpoints", result->checkpoints},
               {"last_seq", result->last_seq},
               {"repository_checkpoints", remote.size()},
               {"unreadable_repository_checkpoints", unreadable},
               {"problems", problems}});
  } else if (result->ok()) {
    std::cout << "audit trail intact: " << result->records << " records, " << result->checkpoints
              << " signed checkpoints (the last at seq " << result->last_checkpoint_seq << ")";
    if (flags.public_key.empty()) {
      std::cout << ", matching the " << remote.size() << " checkpoints in the repository";
    }
    std::cout << "\n";
  } else {
    const audit::Problem& first = result->problems.front();
    std::cout << "audit trail NOT intact: the first bad record is line " << first.line << " (seq "
              << first.seq << "): " << first.what << "\n";
    for (size_t i = 1; i < result->problems.size() && i < 20; ++i) {
      const audit::Problem& p = result->problems[i];
      std::cout << "  also line " << p.line << " (seq " << p.seq << "): " << p.what << "\n";
    }
  }
  if (unreadable > 0 && !g.json) {
    std::cout << "note: " << unreadable
              << " checkpoint(s) in the repository are sealed under key epochs this keystore "
                 "does not hold (written with an old copy of the keystore?) and were not checked\n";
  }
  if (result->ok()) return kExitOk;
  Audit().last_error = DataLossError("audit trail not intact");
  return kExitDataLoss;
}

int RunRepair(const Globals& g) {
  auto trust = LoadTrust(g);
  if (!trust.ok()) return ReportError(g, trust.status());
  const std::string path = AuditLogPath(g, trust->repository);
  if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    return ReportError(g, NotFoundError("no audit trail at " + path + " to repair"));
  }
  auto log = audit::AuditLog::Open(path, trust->repository);
  if (!log.ok()) return ReportError(g, log.status());
  auto torn = log->RepairTornTail(trust->signer, trust->remote);
  if (!torn.ok()) {
    Audit().last_error = torn.status();
    return ReportError(g, torn.status());
  }
  Audit().details["torn_bytes"] = torn->bytes;
  if (torn->bytes != 0) Audit().details["torn_sha256"] = torn->digest.Hex();
  if (g.json) {
    nlohmann::ordered_json out = {{"repaired", torn->bytes != 0}, {"torn_bytes", torn->bytes}};
    if (torn->bytes != 0) {
      out["torn_sha256"] = torn->digest.Hex();
      out["kept_in"] = torn->kept_in;
    }
    PrintJson(out);
  } else if (torn->bytes == 0) {
    std::cout << "audit trail has no incomplete last record: nothing to repair\n";
  } else {
    std::cout << "cut off the incomplete last record (" << torn->bytes << " bytes, SHA-256 "
              << torn->digest.Hex() << ") and kept it in " << torn->kept_in
              << "; this repair is recorded in the trail\n";
  }
  return kExitOk;
}

}  // namespace

Command AddAuditCommand(CLI::App& app, Globals& g) {
  auto f = std::make_shared<AuditFlags>();
  CLI::App* a = app.add_subcommand("audit", "The tamper-evident audit trail");
  a->require_subcommand(1);
  CLI::App* show = a->add_subcommand("show", "List the audit records");
  CLI::App* verify = a->add_subcommand("verify", "Check the hash chain and signed checkpoints");
  verify->add_option("--public-key", f->public_key,
                     "Check the local log offline with this PEM key (drill public-key)");
  CLI::App* exp = a->add_subcommand("export", "Write every record as JSON lines (for a SIEM)");
  exp->add_option("--output", f->output, "Write to this file (0600) instead of stdout");
  CLI::App* repair = a->add_subcommand(
      "repair", "Cut off an incomplete last record left by an interrupted append (kept aside)");
  return Command{a, [&g, f, show, verify, exp, repair] {
                   if (show->parsed()) return RunShow(g);
                   if (verify->parsed()) return RunVerify(g, *f);
                   if (exp->parsed()) return RunExport(g, *f);
                   if (repair->parsed()) return RunRepair(g);
                   return static_cast<int>(kExitUsage);
                 }};
}

}  // namespace phivault::cli
