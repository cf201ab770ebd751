// phivault drill: a restore test with written, signed results (doc/format/drill-record.md).
//
// `drill` restores a snapshot (or a sample) into a sandbox, verifies every restored byte,
// measures each phase, projects the full-restore time of every critical source from the measured
// throughput, and writes a drill record signed with the repository's Ed25519 key: as a file in
// the state directory, in the catalog, and sealed in the repository. `drill list` and `drill show`
// read the catalog; `drill verify FILE --public-key PEM` checks a record offline, with nothing but
// the public key (`drill public-key` prints it).
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "phivault/backup/drill.h"
#include "phivault/base/file_util.h"
#include "phivault/base/provenance.h"
#include "phivault/catalog/policy.h"
#include "phivault/catalog/status.h"
#include "phivault/cli/app.h"
#include "phivault/cli/evidence.h"
#include "phivault/crypto/ed25519.h"
#include "phivault/repo/sealed.h"

namespace phivault::cli {

namespace {

constexpr std::string_view kRecordKind = "phivault-drill-record";

struct DrillFlags {
  std::string source;
  std::string snapshot;
  double sample = 100;
  std::string sandbox;
  std::string policy;
  std::string id;
  std::string file;
  std::string public_key;
  std::string out;
};

std::string DrillsDir(const Globals& g) { return JoinPath(StateDir(g), "drills"); }

// The snapshot to drill: --snapshot, else the newest backup of --source, else the latest.
Result<repo::Snapshot> PickSnapshot(repo::Repository* repo, catalog::Catalog* cat,
                                    const DrillFlags& flags) {
  if (!flags.snapshot.empty()) return repo->LoadNamedSnapshot(flags.snapshot);
  if (!flags.source.empty()) {
    PHV_ASSIGN_OR_RETURN(auto source, cat->FindSource(flags.source));
    if (!source) return NotFoundError("no source named " + flags.source + " (see source list)");
    PHV_ASSIGN_OR_RETURN(auto backups, cat->Backups(flags.source));
    if (backups.empty()) {
      return NotFoundError("source " + flags.source + " has no backup yet (backup --source " +
                           flags.source + ")");
    }
    PHV_ASSIGN_OR_RETURN(Id id, Id::FromHex(backups.front().snapshot));
    return repo->LoadSnapshot(id);
  }
  return repo->LoadNamedSnapshot("latest");
}

// Signs `record` (compact JSON, one line) and returns the two-line file: the record, then
// {"algorithm","public_key","signature"} over exactly the first line's bytes.
Result<std::string> SignRecord(const std::string& record, const SecretBytes& seed) {
  PHV_ASSIGN_OR_RETURN(auto pub, crypto::Ed25519PublicKey(seed));
  PHV_ASSIGN_OR_RETURN(auto sig, crypto::Ed25519Sign(seed, AsBytes(record)));
  nlohmann::ordered_json s = {
      {"algorithm", "Ed25519"}, {"public_key", ToHex(pub)}, {"signature", ToHex(sig)}};
  return record + "\n" + s.dump() + "\n";
}

int RunDrill(const Globals& g, const DrillFlags& flags) {
  if (!(flags.sample > 0 && flags.sample <= 100)) {
    return ReportError(g, InvalidArgumentError("--sample is a percentage above 0, at most 100"));
  }
  auto policy = LoadPolicy(g, flags.policy);
  if (!policy.ok()) return ReportError(g, policy.status());
  const int64_t started_ns = WallClockNs();
  const auto wall_start = std::chrono::steady_clock::now();
  auto repo = OpenRepository(g, /*load_index=*/true, /*adopt=*/false);
  if (!repo.ok()) return ReportError(g, repo.status());
  const double open_seconds = SecondsSince(wall_start);
  auto cat = OpenCatalog(g, (*repo)->config().id);
  if (!cat.ok()) return ReportError(g, cat.status());
  auto snapshot = PickSnapshot(repo->get(), &*cat, flags);
  if (!snapshot.ok()) return ReportError(g, snapshot.status());
  std::string source = flags.source;
  if (source.empty()) {
    for (const std::string& t : snapshot->tags) {
      if (t.starts_with("source:")) source = t.substr(7);
    }
  }

  backup::DrillOptions options;
  options.sandbox_root = !flags.sandbox.empty() ? flags.sandbox : JoinPath(StateDir(g), "sandbox");
  options.sample_percent = flags.sample;
  options.cancel = &g_interrupted;
  auto stale = backup::RemoveStaleSandboxes(options.sandbox_root);
  if (!stale.ok()) return ReportError(g, stale.status());
  if (*stale > 0) {
    std::cerr << "phivault: removed " << *stale << " sandbox(es) an interrupted drill left\n";
  }
  auto outcome = backup::RunDrill(repo->get(), *snapshot, options);
  if (!outcome.ok()) return ReportError(g, outcome.status());
  const int64_t finished_ns = WallClockNs();

  // Projections: every critical source, from the measured rate and the size of its newest
  // backup (or, for sources never backed up, nothing to project).
  auto sources = cat->Sources();
  if (!sources.ok()) return ReportError(g, sources.status());
  const double rate = outcome->throughput;
  nlohmann::ordered_json projections = nlohmann::ordered_json::array();
  bool rto_ok = true;
  std::optional<int64_t> own_projection;
  for (const catalog::Source& s : *sources) {
    if (!s.critical && s.name != source) continue;
    auto backups = cat->Backups(s.name);
    if (!backups.ok() || backups->empty()) continue;
    const uint64_t bytes = backups->front().bytes;
    const int64_t rto = s.rto.value_or(policy->rto);
    const int64_t projected =
        rate > 0 ? static_cast<int64_t>(std::ceil(static_cast<double>(bytes) / rate)) : -1;
    const bool within = projected >= 0 && projected <= rto;
    if (s.critical && !within) rto_ok = false;
    if (s.name == source) own_projection = projected;
    projections.push_back({{"source", s.name},
                           {"critical", s.critical},
                           {"bytes", bytes},
                           {"projected_seconds", projected},
                           {"rto_seconds", rto},
                           {"within_target", within}});
  }
  const bool integrity = outcome->passed();
  const bool passed = integrity && rto_ok;

  auto id = crypto::RandomId();
  if (!id.ok()) return ReportError(g, id.status());
  const std::string drill_id = id->Hex().substr(0, 16);
  nlohmann::ordered_json phases = nlohmann::ordered_json::array();
  phases.push_back({{"name", "open"}, {"milliseconds", std::llround(open_seconds * 1000)}});
  for (const backup::DrillPhase& p : outcome->phases) {
    phases.push_back({{"name", p.name}, {"milliseconds", std::llround(p.seconds * 1000)}});
  }
  nlohmann::ordered_json mismatches = nlohmann::ordered_json::array();
  for (const backup::DrillMismatch& m : outcome->mismatches) mismatches.push_back(m.where);
  nlohmann::ordered_json record = {
      {"kind", kRecordKind},
      {"version", 1},
      {"id", drill_id},
      {"operator", CurrentUserName()},
      {"host", CurrentHostName()},
      {"started", FormatUtc(started_ns)},
      {"finished", FormatUtc(finished_ns)},
      {"repository",
       {{"id", (*repo)->config().id.Hex()}, {"location", (*repo)->backend()->Location()}}},
      {"snapshot", snapshot->id.Hex()},
      {"snapshot_time", FormatUtc(snapshot->time_ns)},
      {"source", source},
      {"sample_percent", flags.sample},
      {"phases", phases},
      {"files", outcome->files},
      {"files_verified", outcome->files_verified},
      {"bytes_restored", outcome->bytes_restored},
      {"bytes_verified", outcome->bytes_verified},
      {"data_bytes_restored", outcome->data_bytes},
      {"mismatches", mismatches},
      {"throughput_bytes_per_second", std::llround(rate)},
      {"projections", projections},
      {"assumptions",
       "a full restore runs at the throughput measured here (restore plus read-back "
       "verification), from the same storage to a disk like this sandbox's, on this machine, and "
       "restores the source's newest backup in full; each file was removed once verified, "
       "before the disk had to store it, so a restore to a disk slower than that rate takes "
       "longer"},
      {"integrity", integrity ? "pass" : "fail"},
      {"result", passed ? "pass" : "fail"}};
  const std::string line = record.dump();
  auto signed_file = SignRecord(line, Audit().signing_seed);
  if (!signed_file.ok()) return ReportError(g, signed_file.status());

  // Evidence: the file, the catalog and a sealed copy in the repository.
  Status stored = [&]() -> Status {
    PHV_RETURN_IF_ERROR(MakeDirs(DrillsDir(g), 0700));
    PHV_RETURN_IF_ERROR(
        WriteFileAtomic(JoinPath(DrillsDir(g), drill_id + ".drill"), AsBytes(*signed_file), 0600));
    catalog::DrillRow row;
    row.id = drill_id;
    row.source = source;
    row.snapshot = snapshot->id.Hex();
    row.started_ns = started_ns;
    row.finished_ns = finished_ns;
    row.passed = passed;
    row.bytes = outcome->bytes_verified;
    row.files = outcome->files_verified;
    row.throughput = rate;
    if (own_projection && *own_projection >= 0) row.projected_rto = *own_projection;
    row.record = *signed_file;
    PHV_RETURN_IF_ERROR(cat->RecordDrill(row));
    if (integrity && flags.sample >= 100) {
      Status v = cat->MarkVerified(snapshot->id.Hex(), finished_ns, "drill:" + drill_id);
      if (!v.ok() && v.code() != StatusCode::kNotFound) return v;
    }
    Status w = (*repo)->CheckWritable();
    if (w.ok()) {
      PHV_RETURN_IF_ERROR((*repo)
                              ->SaveRecord(repo::ObjectType::kDrillRecord,
                                           storage::ObjectKind::kDrill, AsBytes(*signed_file))
                              .status());
    }
    return OkStatus();
  }();
  if (!stored.ok()) return ReportError(g, stored);
  Audit().objects = {"drill:" + drill_id, "snapshot:" + snapshot->id.Hex()};
  Audit().details["result"] = passed ? "pass" : "fail";
  Audit().details["bytes_verified"] = outcome->bytes_verified;
  Audit().details["mismatches"] = outcome->mismatches.size();

  if (g.json) {
    nlohmann::ordered_json out = record;
    out["signature"] = nlohmann::ordered_json::parse(signed_file->substr(line.size() + 1));
    out["record_file"] = JoinPath(DrillsDir(g), drill_id + ".drill");
    PrintJson(out);
  } else {
    std::printf("drill %s of snapshot %s: %s\n", drill_id.c_str(), snapshot->id.ShortHex().c_str(),
                passed ? "PASS" : "FAIL");
    std::printf("  restored %s in %llu files, verified %s in %llu files (sample %.0f%%)\n",
                HumanBytes(outcome->bytes_restored).c_str(),
                static_cast<unsigned long long>(outcome->files),
                HumanBytes(outcome->bytes_verified).c_str(),
                static_cast<unsigned long long>(outcome->files_verified), flags.sample);
    for (const backup::DrillPhase& p : outcome->phases) {
      std::printf("  %-8s %8.2f s\n", p.name.c_str(), p.seconds);
    }
    std::printf("  throughput %s/s\n", HumanBytes(static_cast<uint64_t>(rate)).c_str());
    for (const auto& p : projections) {
      std::printf("  projected full restore of %s: %s against %s target: %s\n",
                  p["source"].get<std::string>().c_str(),
                  p["projected_seconds"].get<int64_t>() < 0
                      ? "unknown"
                      : catalog::FormatDuration(p["projected_seconds"].get<int64_t>()).c_str(),
                  catalog::FormatDuration(p["rto_seconds"].get<int64_t>()).c_str(),
                  p["within_target"].get<bool>() ? "within" : "EXCEEDS");
    }
    std::cout << "  assumes: " << record["assumptions"].get<std::string>() << "\n";
    for (const backup::DrillMismatch& m : outcome->mismatches) {
      std::cout << "  MISMATCH " << m.path << ": " << m.where << "\n";
    }
    std::cout << "  record: " << JoinPath(DrillsDir(g), drill_id + ".drill") << " (signed)\n";
  }
  if (!integrity) {
    Audit().last_error = DataLossError("drill found mismatches");
    return kExitDataLoss;
  }
  return passed ? kExitOk : catalog::kExitStatusBreached;
}

int RunList(const Globals& g) {
  auto cat = OpenRepositoryCatalog(g);
  if (!cat.ok()) return ReportError(g, cat.status());
  auto drills = cat->Drills();
  if (!drills.ok()) return ReportError(g, drills.status());
  if (g.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const catalog::DrillRow& d : *drills) {
      out.push_back({{"id", d.id},
                     {"source", d.source},
                     {"snapshot", d.snapshot},
                     {"started", FormatUtc(d.started_ns)},
                     {"finished", FormatUtc(d.finished_ns)},
                     {"passed", d.passed},
                     {"bytes", d.bytes},
                     {"throughput", d.throughput}});
    }
    PrintJson(out);
    return kExitOk;
  }
  std::printf("%-16s  %-20s  %-10s  %-8s  %-5s  %s\n", "ID", "FINISHED (UTC)", "SOURCE", "SNAPSHOT",
              "RESULT", "VERIFIED");
  for (const catalog::DrillRow& d : *drills) {
    std::printf("%-16s  %-20s  %-10s  %-8s  %-5s  %s\n", d.id.c_str(),
                FormatUtc(d.finished_ns).c_str(), d.source.c_str(), d.snapshot.substr(0, 8).c_str(),
                d.passed ? "pass" : "FAIL", HumanBytes(d.bytes).c_str());
  }
  return kExitOk;
}

int RunShow(const Globals& g, const DrillFlags& flags) {
  auto cat = OpenRepositoryCatalog(g);
  if (!cat.ok()) return ReportError(g, cat.status());
  auto drill = cat->FindDrill(flags.id);
  if (!drill.ok()) return ReportError(g, drill.status());
  if (!*drill) return ReportError(g, NotFoundError("no drill " + flags.id + " (see drill list)"));
  const std::string& file = (*drill)->record;
  std::string first = file.substr(0, file.find('\n'));
  auto record = nlohmann::ordered_json::parse(first, nullptr, false);
  if (record.is_discarded()) return ReportError(g, DataLossError("drill record is not JSON"));
  if (g.json) {
    PrintJson(record);
  } else {
    std::cout << record.dump(2) << "\n";
  }
  return kExitOk;
}

// Offline: the record file and the public key, nothing else.
int RunVerify(const Globals& g, const DrillFlags& flags) {
  auto check = [&]() -> Result<nlohmann::ordered_json> {
    PHV_ASSIGN_OR_RETURN(Bytes pem, ReadFile(flags.public_key));
    PHV_ASSIGN_OR_RETURN(auto key, crypto::Ed25519PublicKeyFromPem(AsStringView(pem)));
    PHV_ASSIGN_OR_RETURN(Bytes raw, ReadFile(flags.file));
    std::string text(raw.begin(), raw.end());
    size_t nl = text.find('\n');
    if (nl == std::string::npos || !text.ends_with("\n") ||
        text.find('\n', nl + 1) != text.size() - 1) {
      return DataLossError(flags.file + " is not a drill record file (two lines expected)");
    }
    std::string line = text.substr(0, nl);
    auto sig = nlohmann::ordered_json::parse(text.substr(nl + 1), nullptr, false);
    if (sig.is_discarded() || !sig.contains("signature") || !sig["signature"].is_string()) {
      return DataLossError(flags.file + ": the signature line is malformed");
    }
    PHV_ASSIGN_OR_RETURN(Bytes signature, FromHex(sig["signature"].get<std::string>()));
    Status v = crypto::Ed25519Verify(key, AsBytes(line), signature);
    if (!v.ok()) {
      return DataLossError(flags.file +
                           ": the signature does not verify with this public key: the record "
                           "was changed, or signed by another repository's key");
    }
    auto record = nlohmann::ordered_json::parse(line, nullptr, false);
    if (record.is_discarded() || record.value("kind", "") != kRecordKind) {
      return DataLossError(flags.file + ": signed, but not a drill record");
    }
    return record;
  }();
  if (!check.ok()) return ReportError(g, check.status());
  const nlohmann::ordered_json& r = *check;
  if (g.json) {
    PrintJson({{"intact", true}, {"id", r["id"]}, {"result", r["result"]}, {"record", r}});
  } else {
    std::cout << "drill record " << r["id"].get<std::string>()
              << " is intact and signed by this key; the drill's result: "
              << r["result"].get<std::string>() << " (finished " << r["finished"].get<std::string>()
              << ", snapshot " << r["snapshot"].get<std::string>().substr(0, 8) << ")\n";
  }
  return kExitOk;
}

int RunPublicKey(const Globals& g, const DrillFlags& flags) {
  auto repo = OpenRepository(g, /*load_index=*/false, /*adopt=*/false);
  if (!repo.ok()) return ReportError(g, repo.status());
  auto pub = crypto::Ed25519PublicKey(Audit().signing_seed);
  if (!pub.ok()) return ReportError(g, pub.status());
  std::string pem = crypto::Ed25519PublicKeyPem(*pub);
  if (!flags.out.empty()) {
    Status s = WriteFileAtomic(flags.out, AsBytes(pem), 0644);
    if (!s.ok()) return ReportError(g, s);
  }
  if (g.json) {
    PrintJson({{"public_key", ToHex(*pub)}, {"pem", pem}});
  } else if (flags.out.empty()) {
    std::cout << pem;
  } else {
    std::cout << "wrote the signing public key to " << flags.out << "\n";
  }
  return kExitOk;
}

}  // namespace

Command AddDrillCommand(CLI::App& app, Globals& g) {
  auto f = std::make_shared<DrillFlags>();
  CLI::App* drill = app.add_subcommand(
      "drill", "Restore into a sandbox, verify every byte, measure, and sign the result");
  drill->add_option("--source", f->source, "Drill the newest backup of this source");
  drill->add_option("--snapshot", f->snapshot, "Drill this snapshot (id, prefix or latest)");
  drill->add_option("--sample", f->sample, "Percent of files to restore and verify (default 100)");
  drill->add_option("--sandbox", f->sandbox,
                    "Directory for the sandbox (default <state dir>/sandbox); use the disk a "
                    "real restore would go to");
  drill->add_option("--policy", f->policy, "Policy file (default as for status)");
  CLI::App* list = drill->add_subcommand("list", "List the drills");
  CLI::App* show = drill->add_subcommand("show", "Show a drill record");
  show->add_option("id", f->id, "Drill id or prefix")->required();
  CLI::App* verify = drill->add_subcommand(
      "verify", "Check a drill record file offline with the repository's public key");
  verify->add_option("file", f->file, "The .drill file")->required();
  verify->add_option("--public-key", f->public_key, "PEM file (drill public-key)")->required();
  CLI::App* pubkey = drill->add_subcommand(
      "public-key", "Print the public key that verifies drill records and audit checkpoints");
  pubkey->add_option("--out", f->out, "Write the PEM to this file");
  return Command{drill, [&g, f, list, show, verify, pubkey] {
                   if (list->parsed()) return RunList(g);
                   if (show->parsed()) return RunShow(g, *f);
                   if (verify->parsed()) return RunVerify(g, *f);
                   if (pubkey->parsed()) return RunPublicKey(g, *f);
                   return RunDrill(g, *f);
                 }};
}

}  // namespace phivault::cli
