#include "phivault/catalog/catalog.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "phivault/base/file_util.h"
#include "phivault/catalog/policy.h"
#include "phivault/catalog/status.h"

namespace phivault::catalog {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr Seconds kHour = 3600;
constexpr Seconds kDay = 86400;
constexpr int64_t kNs = 1'000'000'000;
// 2026-12-04T03:13:55Z, the "now" of every status test.
constexpr int64_t kNow = 1796354035 * kNs;

std::string Hex64(char c) { return std::string(64, c); }

// --- policy ---------------------------------------------------------------------------------

TEST(PolicyTest, DefaultsAreTheProductFigures) {
  Policy p = Policy::Defaults();
  EXPECT_EQ(p.rpo, 48 * kHour);
  EXPECT_EQ(p.rto, 72 * kHour);
  EXPECT_EQ(p.drill_interval, 30 * kDay);
  EXPECT_EQ(p.warn_before, 6 * kHour);
}

TEST(PolicyTest, ParsesEveryField) {
  std::vector<std::string> warnings;
  auto p = Policy::Parse(
      R"({"version":1,"rpo":"24h","rto":"36h","drill_interval":"7d","warn_before":"90m"})",
      &warnings);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->rpo, 24 * kHour);
  EXPECT_EQ(p->rto, 36 * kHour);
  EXPECT_EQ(p->drill_interval, 7 * kDay);
  EXPECT_EQ(p->warn_before, 90 * 60);
  EXPECT_THAT(warnings, IsEmpty());
}

TEST(PolicyTest, AbsentFieldsKeepTheirDefaults) {
  auto p = Policy::Parse(R"({"version":1,"rpo":"12h"})", nullptr);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Policy expected;
  expected.rpo = 12 * kHour;
  EXPECT_EQ(*p, expected);
}

TEST(PolicyTest, UnknownFieldIsRefusedByName) {
  auto p = Policy::Parse(R"({"version":1,"rpo_hours":"24h"})", nullptr);
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("\"rpo_hours\""));
}

TEST(PolicyTest, DuplicateFieldIsRefused) {
  // Otherwise the second value would silently win.
  auto p = Policy::Parse(R"({"version":1,"rpo":"24h","rpo":"96h"})", nullptr);
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("\"rpo\""));
}

TEST(PolicyTest, BadDurationIsRefusedNamingTheField) {
  for (const char* json :
       {R"({"version":1,"drill_interval":"monthly"})", R"({"version":1,"drill_interval":"30"})",
        R"({"version":1,"drill_interval":30})", R"({"version":1,"drill_interval":"0d"})"}) {
    auto p = Policy::Parse(json, nullptr);
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(std::string(p.status().message()), HasSubstr("\"drill_interval\"")) << json;
  }
}

TEST(PolicyTest, VersionIsRequiredAndNewerIsRefused) {
  EXPECT_EQ(Policy::Parse(R"({"rpo":"24h"})", nullptr).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Policy::Parse(R"({"version":"1"})", nullptr).status().code(),
            StatusCode::kInvalidArgument);
  auto newer = Policy::Parse(R"({"version":2})", nullptr);
  EXPECT_EQ(newer.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(newer.status().tag(), ErrorTag::kFormatVersion);
}

TEST(PolicyTest, NonObjectIsRefused) {
  for (const char* json : {"", "[]", "{", "\"48h\"", R"({"version":1,})"}) {
    EXPECT_EQ(Policy::Parse(json, nullptr).status().code(), StatusCode::kInvalidArgument) << json;
  }
}

TEST(PolicyTest, LooserThanDefaultWarns) {
  std::vector<std::string> warnings;
  auto p = Policy::Parse(R"({"version":1,"rpo":"72h","rto":"48h"})", &warnings);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->rpo, 72 * kHour);  // allowed, only reported
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("rpo 72h is looser than the default 48h"));

  warnings.clear();
  ASSERT_TRUE(Policy::Parse(R"({"version":1,"rto":"96h","drill_interval":"90d"})", &warnings).ok());
  EXPECT_EQ(warnings.size(), 2u);
}

TEST(PolicyTest, ToJsonParsesBackUnchanged) {
  Policy p;
  p.rpo = 24 * kHour;
  p.rto = 90 * 60;
  p.drill_interval = 14 * kDay;
  p.warn_before = 45;
  auto back = Policy::Parse(p.ToJson(), nullptr);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
  EXPECT_THAT(Policy::Defaults().ToJson(), HasSubstr("\"rpo\": \"48h\""));
}

class PolicyFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/phivault-policy-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0); }
  std::string dir_;
};

TEST_F(PolicyFileTest, LoadReadsTheFileAndMissingIsNotFound) {
  EXPECT_EQ(Policy::Load(dir_ + "/missing.json", nullptr).status().code(), StatusCode::kNotFound);
  std::string path = dir_ + "/policy.json";
  ASSERT_TRUE(WriteFileAtomic(path, AsBytes(R"({"version":1,"rpo":"60h"})"), 0600).ok());
  std::vector<std::string> warnings;
  auto p = Policy::Load(path, &warnings);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->rpo, 60 * kHour);
  EXPECT_EQ(warnings.size(), 1u);

  ASSERT_TRUE(WriteFileAtomic(path, AsBytes(R"({"version":1,"rp":"60h"})"), 0600).ok());
  auto bad = Policy::Load(path, nullptr);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(path));
}

TEST(DurationTest, ParsesEachUnit) {
  EXPECT_EQ(*ParseDuration("48h"), 172800);
  EXPECT_EQ(*ParseDuration("30d"), 2592000);
  EXPECT_EQ(*ParseDuration("90m"), 5400);
  EXPECT_EQ(*ParseDuration("45s"), 45);
  EXPECT_EQ(*ParseDuration("0s"), 0);
  EXPECT_EQ(*ParseDuration("36500d"), kMaxDuration);
}

TEST(DurationTest, RejectsEverythingElse) {
  for (const char* text : {"48", "h", "-5h", "48hours", "", "1.5h", " 48h", "48h ", "48H", "+5h",
                           "5w", "36501d", "99999999999999999999999d"}) {
    auto d = ParseDuration(text);
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument) << text;
  }
}

TEST(DurationTest, FormatsInTheUnitPeopleUse) {
  EXPECT_EQ(FormatDuration(172800), "48h");
  EXPECT_EQ(FormatDuration(259200), "72h");
  EXPECT_EQ(FormatDuration(5400), "90m");
  EXPECT_EQ(FormatDuration(2592000), "30d");
  EXPECT_EQ(FormatDuration(7 * kDay), "7d");
  EXPECT_EQ(FormatDuration(3600), "1h");
  EXPECT_EQ(FormatDuration(61), "61s");
  EXPECT_EQ(FormatDuration(0), "0s");
}

TEST(DurationTest, FormatThenParseRoundTrips) {
  for (Seconds s :
       {Seconds{0}, Seconds{1}, Seconds{59}, Seconds{60}, Seconds{5400}, 6 * kHour, 48 * kHour,
        2 * kDay, 7 * kDay - 1, 7 * kDay, 8 * kDay + kHour, 30 * kDay, kMaxDuration}) {
    auto back = ParseDuration(FormatDuration(s));
    ASSERT_TRUE(back.ok()) << FormatDuration(s);
    EXPECT_EQ(*back, s) << FormatDuration(s);
  }
}

// --- catalog --------------------------------------------------------------------------------

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/phivault-catalog-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/repo.catalog";
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0); }

  Catalog OpenOrDie() {
    auto c = Catalog::Open(path_);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }

  // Runs `sql` on the catalog file through a connection of its own, as another tool would.
  void RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    sqlite3_close(db);
  }

  std::string dir_;
  std::string path_;
};

Source EhrSource() {
  Source s;
  s.name = "ehr";
  s.paths = {"/srv/ehr", "/var/lib/pgsql"};
  s.critical = true;
  s.rpo = 24 * kHour;
  s.created_ns = 1700000000 * kNs;
  return s;
}

BackupRow Backup(char id, const std::string& source, int64_t time_ns) {
  BackupRow b;
  b.snapshot = Hex64(id);
  b.source = source;
  b.time_ns = time_ns;
  b.bytes = 1000;
  b.files = 10;
  return b;
}

DrillRow Drill(const std::string& id, const std::string& source, int64_t started_ns) {
  DrillRow d;
  d.id = id;
  d.source = source;
  d.snapshot = Hex64('a');
  d.started_ns = started_ns;
  d.finished_ns = started_ns + 600 * kNs;
  d.passed = true;
  d.bytes = 1 << 20;
  d.files = 3;
  d.throughput = 123.5;
  d.projected_rto = 5 * kHour;
  d.record = R"({"drill":")" + id + R"("})";
  return d;
}

TEST_F(CatalogTest, NewCatalogIsEmpty) {
  Catalog c = OpenOrDie();
  EXPECT_THAT(*c.Sources(), IsEmpty());
  EXPECT_THAT(*c.Backups("ehr"), IsEmpty());
  EXPECT_THAT(*c.Drills(), IsEmpty());
  EXPECT_THAT(*c.Checkpoints(), IsEmpty());
  EXPECT_EQ(*c.Meta("repository_id"), std::nullopt);
  EXPECT_EQ(*c.FindSource("ehr"), std::nullopt);
}

TEST_F(CatalogTest, OpenInMissingDirectoryIsNotFound) {
  EXPECT_EQ(Catalog::Open(dir_ + "/no/such.catalog").status().code(), StatusCode::kNotFound);
}

TEST_F(CatalogTest, SourcesAddListFindUpdateRemove) {
  Catalog c = OpenOrDie();
  Source ehr = EhrSource();
  Source imaging;
  imaging.name = "imaging";
  imaging.paths = {"/srv/pacs"};
  ASSERT_TRUE(c.AddSource(imaging).ok());
  ASSERT_TRUE(c.AddSource(ehr).ok());

  auto all = c.Sources();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0], ehr);  // by name
  EXPECT_EQ((*all)[1].name, "imaging");
  EXPECT_GT((*all)[1].created_ns, 0);  // 0 means now
  EXPECT_EQ((*all)[1].rpo, std::nullopt);

  Source changed = ehr;
  changed.paths = {"/srv/ehr2"};
  changed.critical = false;
  changed.rpo.reset();
  changed.rto = 12 * kHour;
  changed.created_ns = 5;  // never updated
  ASSERT_TRUE(c.UpdateSource(changed).ok());
  auto found = c.FindSource("ehr");
  ASSERT_TRUE(found.ok() && found->has_value());
  changed.created_ns = ehr.created_ns;
  EXPECT_EQ(**found, changed);

  ASSERT_TRUE(c.RemoveSource("ehr").ok());
  EXPECT_EQ(*c.FindSource("ehr"), std::nullopt);
  EXPECT_EQ(c.Sources()->size(), 1u);
}

TEST_F(CatalogTest, DuplicateSourceIsAlreadyExists) {
  Catalog c = OpenOrDie();
  ASSERT_TRUE(c.AddSource(EhrSource()).ok());
  EXPECT_EQ(c.AddSource(EhrSource()).code(), StatusCode::kAlreadyExists);
}

TEST_F(CatalogTest, UnknownSourceIsNotFound) {
  Catalog c = OpenOrDie();
  EXPECT_EQ(c.UpdateSource(EhrSource()).code(), StatusCode::kNotFound);
  EXPECT_EQ(c.RemoveSource("ehr").code(), StatusCode::kNotFound);
}

TEST_F(CatalogTest, BadSourcesAreRefused) {
  Catalog c = OpenOrDie();
  for (const std::string& name :
       {std::string(), std::string(65, 'a'), std::string("a b"), std::string("a/b"),
        std::string("ehr'"), std::string("caf\xc3\xa9")}) {
    Source s = EhrSource();
    s.name = name;
    EXPECT_EQ(c.AddSource(s).code(), StatusCode::kInvalidArgument) << name;
  }
  Source longest = EhrSource();
  longest.name = std::string(64, 'x');
  EXPECT_TRUE(longest.name.size() == 64 && c.AddSource(longest).ok());
  Source dotted = EhrSource();
  dotted.name = "Front.desk_2-pc";
  EXPECT_TRUE(c.AddSource(dotted).ok());

  auto with = [](auto change) {
    Source s = EhrSource();
    s.name = "other";
    change(s);
    return s;
  };
  EXPECT_EQ(c.AddSource(with([](Source& s) { s.paths.clear(); })).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(c.AddSource(with([](Source& s) { s.paths = {"srv/ehr"}; })).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(c.AddSource(with([](Source& s) { s.paths = {""}; })).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(c.AddSource(with([](Source& s) { s.paths = {"/srv/\xff"}; })).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(c.AddSource(with([](Source& s) { s.rpo = 0; })).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.AddSource(with([](Source& s) { s.rto = -1; })).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Sources()->size(), 2u);
}

TEST_F(CatalogTest, BackupsAreNewestFirstPerSource) {
  Catalog c = OpenOrDie();
  ASSERT_TRUE(c.RecordBackup(Backup('2', "ehr", 200)).ok());
  ASSERT_TRUE(c.RecordBackup(Backup('3', "ehr", 300)).ok());
  ASSERT_TRUE(c.RecordBackup(Backup('1', "ehr", 100)).ok());
  ASSERT_TRUE(c.RecordBackup(Backup('9', "imaging", 900)).ok());
  auto rows = c.Backups("ehr");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0], Backup('3', "ehr", 300));
  EXPECT_EQ((*rows)[1].snapshot, Hex64('2'));
  EXPECT_EQ((*rows)[2].snapshot, Hex64('1'));
  EXPECT_EQ(c.Backups("imaging")->size(), 1u);
  EXPECT_THAT(*c.Backups("nothing"), IsEmpty());
}

TEST_F(CatalogTest, RecordBackupUpsertsAndKeepsVerification) {
  Catalog c = OpenOrDie();
  ASSERT_TRUE(c.RecordBackup(Backup('1', "ehr", 100)).ok());
  ASSERT_TRUE(c.MarkVerified(Hex64('1'), 150, "check").ok());
  BackupRow again = Backup('1', "ehr", 100);
  again.bytes = 2000;
  ASSERT_TRUE(c.RecordBackup(again).ok());
  auto rows = c.Backups("ehr");
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].bytes, 2000u);
  EXPECT_EQ((*rows)[0].verified_at_ns, 150);
  EXPECT_EQ((*rows)[0].verified_by, "check");

  BackupRow drilled = again;
  drilled.verified_at_ns = 170;
  drilled.verified_by = "drill:d1";
  ASSERT_TRUE(c.RecordBackup(drilled).ok());
  EXPECT_EQ((*c.Backups("ehr"))[0], drilled);
}

TEST_F(CatalogTest, MalformedBackupsAreRefused) {
  Catalog c = OpenOrDie();
  BackupRow b = Backup('1', "ehr", 100);
  b.snapshot = std::string(64, 'A');  // upper case
  EXPECT_EQ(c.RecordBackup(b).code(), StatusCode::kInvalidArgument);
  b.snapshot = std::string(63, 'a');
  EXPECT_EQ(c.RecordBackup(b).code(), StatusCode::kInvalidArgument);
  b = Backup('1', "", 100);
  EXPECT_EQ(c.RecordBackup(b).code(), StatusCode::kInvalidArgument);
  b = Backup('1', "ehr", 100);
  b.bytes = uint64_t{1} << 63;
  EXPECT_EQ(c.RecordBackup(b).code(), StatusCode::kInvalidArgument);
  b = Backup('1', "ehr", 100);
  b.verified_at_ns = 5;
  b.verified_by = "someone";
  EXPECT_EQ(c.RecordBackup(b).code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(*c.Backups("ehr"), IsEmpty());
}

TEST_F(CatalogTest, MarkVerified) {
  Catalog c = OpenOrDie();
  ASSERT_TRUE(c.RecordBackup(Backup('1', "ehr", 100)).ok());
  EXPECT_EQ((*c.Backups("ehr"))[0].verified_at_ns, std::nullopt);
  ASSERT_TRUE(c.MarkVerified(Hex64('1'), 500, "drill:abc").ok());
  auto row = (*c.Backups("ehr"))[0];
  EXPECT_EQ(row.verified_at_ns, 500);
  EXPECT_EQ(row.verified_by, "drill:abc");
  EXPECT_EQ(c.MarkVerified(Hex64('2'), 500, "check").code(), StatusCode::kNotFound);
  EXPECT_EQ(c.MarkVerified(Hex64('1'), 600, "drill:").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(c.MarkVerified(Hex64('1'), 600, "").code(), StatusCode::kInvalidArgument);
}

TEST_F(CatalogTest, DrillsNewestFirstBySourceAndById) {
  Catalog c = OpenOrDie();
  DrillRow first = Drill("d1aaaa", "ehr", 100 * kNs);
  DrillRow second = Drill("d1abbb", "ehr", 200 * kNs);
  second.passed = false;
  second.projected_rto.reset();
  DrillRow orphan = Drill("e7", "", 300 * kNs);
  ASSERT_TRUE(c.RecordDrill(first).ok());
  ASSERT_TRUE(c.RecordDrill(second).ok());
  ASSERT_TRUE(c.RecordDrill(orphan).ok());

  auto all = c.Drills();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0], orphan);
  EXPECT_EQ((*all)[1], second);
  EXPECT_EQ((*all)[2], first);
  auto ehr = c.Drills("ehr");
  ASSERT_EQ(ehr->size(), 2u);
  EXPECT_EQ((*ehr)[0].id, "d1abbb");

  EXPECT_EQ(c.RecordDrill(first).code(), StatusCode::kAlreadyExists);
}

TEST_F(CatalogTest, FindDrillByUniquePrefix) {
  Catalog c = OpenOrDie();
  ASSERT_TRUE(c.RecordDrill(Drill("d1aaaa", "ehr", 100)).ok());
  ASSERT_TRUE(c.RecordDrill(Drill("d1abbb", "ehr", 200)).ok());
  ASSERT_TRUE(c.RecordDrill(Drill("d1ab", "ehr", 300)).ok());

  auto unique = c.FindDrill("d1aa");
  ASSERT_TRUE(unique.ok() && unique->has_value());
  EXPECT_EQ((*unique)->id, "d1aaaa");
  auto exact = c.FindDrill("d1ab");  // also the prefix of d1abbb
  ASSERT_TRUE(exact.ok() && exact->has_value());
  EXPECT_EQ((*exact)->id, "d1ab");
  EXPECT_EQ(c.FindDrill("d1").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*c.FindDrill("d2"), std::nullopt);
  EXPECT_EQ(*c.FindDrill("d1aaaaa"), std::nullopt);
  EXPECT_EQ(c.FindDrill("").status().code(), StatusCode::kInvalidArgument);
  // No LIKE: wildcards are plain characters.
  EXPECT_EQ(*c.FindDrill("%"), std::nullopt);
  EXPECT_EQ(*c.FindDrill("d_aaaa"), std::nullopt);
}

TEST_F(CatalogTest, MalformedDrillsAreRefused) {
  Catalog c = OpenOrDie();
  DrillRow d = Drill("", "ehr", 100);
  EXPECT_EQ(c.RecordDrill(d).code(), StatusCode::kInvalidArgument);
  d = Drill("x", "ehr", 100);
  d.snapshot = "abc";
  EXPECT_EQ(c.RecordDrill(d).code(), StatusCode::kInvalidArgument);
  d = Drill("x", "ehr", 100);
  d.finished_ns = 50;
  EXPECT_EQ(c.RecordDrill(d).code(), StatusCode::kInvalidArgument);
  d = Drill("x", "ehr", 100);
  d.throughput = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(c.RecordDrill(d).code(), StatusCode::kInvalidArgument);
  d = Drill("x", "ehr", 100);
  d.projected_rto = -1;
  EXPECT_EQ(c.RecordDrill(d).code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(*c.Drills(), IsEmpty());
}

TEST_F(CatalogTest, CheckpointsBySeqAndNeverForked) {
  Catalog c = OpenOrDie();
  ASSERT_TRUE(c.RecordCheckpoint(7, "2026-12-04T03:13:55Z", R"({"seq":7})").ok());
  ASSERT_TRUE(c.RecordCheckpoint(3, "2026-12-03T03:13:55Z", R"({"seq":3})").ok());
  EXPECT_TRUE(c.RecordCheckpoint(3, "2026-12-03T03:13:55Z", R"({"seq":3})").ok());  // again
  EXPECT_EQ(c.RecordCheckpoint(3, "2026-12-03T03:13:55Z", R"({"seq":3,"x":1})").code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(c.RecordCheckpoint(3, "2026-12-03T03:13:56Z", R"({"seq":3})").code(),
            StatusCode::kAlreadyExists);
  auto all = c.Checkpoints();
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(*all, ElementsAre(std::pair<uint64_t, std::string>(3, R"({"seq":3})"),
                                std::pair<uint64_t, std::string>(7, R"({"seq":7})")));
}

TEST_F(CatalogTest, MetaSetOverwriteGet) {
  Catalog c = OpenOrDie();
  ASSERT_TRUE(c.SetMeta("repository_id", Hex64('1')).ok());
  ASSERT_TRUE(c.SetMeta("repository_id", Hex64('2')).ok());
  EXPECT_EQ(*c.Meta("repository_id"), Hex64('2'));
  EXPECT_EQ(*c.Meta("other"), std::nullopt);
}

TEST_F(CatalogTest, ReopeningKeepsEverything) {
  {
    Catalog c = OpenOrDie();
    ASSERT_TRUE(c.AddSource(EhrSource()).ok());
    BackupRow b = Backup('1', "ehr", 100);
    b.verified_at_ns = 200;
    b.verified_by = "check";
    ASSERT_TRUE(c.RecordBackup(b).ok());
    ASSERT_TRUE(c.RecordDrill(Drill("d1", "ehr", 100)).ok());
    ASSERT_TRUE(c.RecordCheckpoint(1, "t", "line").ok());
    ASSERT_TRUE(c.SetMeta("repository_id", Hex64('f')).ok());
  }
  Catalog c = OpenOrDie();
  EXPECT_THAT(*c.Sources(), ElementsAre(EhrSource()));
  ASSERT_EQ(c.Backups("ehr")->size(), 1u);
  EXPECT_EQ((*c.Backups("ehr"))[0].verified_by, "check");
  EXPECT_THAT(*c.Drills(), ElementsAre(Drill("d1", "ehr", 100)));
  EXPECT_EQ(c.Checkpoints()->size(), 1u);
  EXPECT_EQ(*c.Meta("repository_id"), Hex64('f'));
}

TEST_F(CatalogTest, MovedCatalogKeepsItsConnection) {
  Catalog a = OpenOrDie();
  Catalog b = std::move(a);
  ASSERT_TRUE(b.SetMeta("k", "v").ok());
  Catalog c = OpenOrDie();
  c = std::move(b);
  EXPECT_EQ(*c.Meta("k"), "v");
}

TEST_F(CatalogTest, FileIsOwnerOnlyWhateverTheUmask) {
  mode_t old = umask(0);
  {
    Catalog c = OpenOrDie();
    ASSERT_TRUE(c.SetMeta("k", "v").ok());
    struct stat st;
    for (const std::string& p : {path_, path_ + "-wal", path_ + "-shm"}) {
      ASSERT_EQ(stat(p.c_str(), &st), 0) << p;
      EXPECT_EQ(st.st_mode & 07777, 0600u) << p;
    }
  }
  umask(old);

  // A catalog someone made readable by others is narrowed again.
  ASSERT_EQ(chmod(path_.c_str(), 0644), 0);
  { Catalog c = OpenOrDie(); }
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(CatalogTest, NewerSchemaIsRefused) {
  { Catalog c = OpenOrDie(); }
  RawExec("PRAGMA user_version = 2");
  auto c = Catalog::Open(path_);
  EXPECT_EQ(c.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.status().tag(), ErrorTag::kFormatVersion);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("version 2"));
}

TEST_F(CatalogTest, NotADatabaseIsDataLoss) {
  ASSERT_TRUE(WriteFileAtomic(path_, Bytes(4096, 'x'), 0600).ok());
  EXPECT_EQ(Catalog::Open(path_).status().code(), StatusCode::kDataLoss);
}

TEST_F(CatalogTest, SymlinkIsRefused) {
  { Catalog c = OpenOrDie(); }
  std::string link = dir_ + "/link.catalog";
  ASSERT_EQ(symlink(path_.c_str(), link.c_str()), 0);
  EXPECT_FALSE(Catalog::Open(link).ok());
}

TEST_F(CatalogTest, QuotesAndSqlAreStoredVerbatim) {
  const std::string evil = "'; DROP TABLE sources; --";
  Catalog c = OpenOrDie();
  Source s = EhrSource();
  s.paths = {"/srv/o'brien \"clinic\"", "/srv/" + evil};
  ASSERT_TRUE(c.AddSource(s).ok());
  EXPECT_EQ(*c.FindSource(evil), std::nullopt);
  EXPECT_EQ(c.RemoveSource(evil).code(), StatusCode::kNotFound);

  ASSERT_TRUE(c.SetMeta(evil, evil + "\"").ok());
  EXPECT_EQ(*c.Meta(evil), evil + "\"");

  DrillRow d = Drill("it's" + evil, "x'y", 100);
  d.record = "{\"note\":\"" + evil + "\"}";
  ASSERT_TRUE(c.RecordDrill(d).ok());
  auto found = c.FindDrill("it'");
  ASSERT_TRUE(found.ok() && found->has_value()) << found.status().ToString();
  EXPECT_EQ(**found, d);
  EXPECT_EQ(c.Drills("x'y")->size(), 1u);
  ASSERT_TRUE(c.RecordCheckpoint(1, evil, evil).ok());
  EXPECT_EQ((*c.Checkpoints())[0].second, evil);

  // The tables are all still there and hold exactly what was written.
  Catalog again = OpenOrDie();
  EXPECT_THAT(*again.Sources(), ElementsAre(s));
}

// Runs `work(0)` and `work(1)` on two threads at once and returns what each reported.
template <class Fn>
std::vector<std::string> OnTwoThreads(Fn work) {
  std::vector<std::string> failures(2);
  std::thread t0([&] { failures[0] = work(0); });
  std::thread t1([&] { failures[1] = work(1); });
  t0.join();
  t1.join();
  return failures;
}

TEST_F(CatalogTest, TwoConnectionsCreateTheSchemaTogether) {
  // Without the busy timeout, one of them meets SQLITE_BUSY while the other creates the schema.
  auto failures = OnTwoThreads([&](int) -> std::string {
    auto c = Catalog::Open(path_);
    if (!c.ok()) return c.status().ToString();
    return c->SetMeta("k", "v").ToString();
  });
  EXPECT_THAT(failures, ElementsAre("OK", "OK"));
}

TEST_F(CatalogTest, TwoConnectionsWriteAtOnceWithoutBusyErrors) {
  // Each commit holds the write lock through an fsync; without the busy timeout the other writer
  // meets SQLITE_BUSY almost at once.
  constexpr int kRows = 60;
  Catalog catalogs[2] = {OpenOrDie(), OpenOrDie()};
  auto failures = OnTwoThreads([&](int who) -> std::string {
    Catalog& c = catalogs[who];
    for (int i = 0; i < kRows; i++) {
      BackupRow b = Backup('0', who == 0 ? "a" : "b", i);
      char hex[65];
      snprintf(hex, sizeof hex, "%064x", who * 1000 + i);
      b.snapshot = hex;
      Status st = c.RecordBackup(b);
      if (st.ok()) st = c.SetMeta("writer", std::to_string(who));
      if (!st.ok()) return st.ToString();
    }
    return "OK";
  });
  EXPECT_THAT(failures, ElementsAre("OK", "OK"));
  Catalog c = OpenOrDie();
  EXPECT_EQ(c.Backups("a")->size(), static_cast<size_t>(kRows));
  EXPECT_EQ(c.Backups("b")->size(), static_cast<size_t>(kRows));
  EXPECT_EQ(c.Meta("writer")->value_or("").size(), 1u);
}

// --- status ---------------------------------------------------------------------------------

// Backups and drills of each source by name, handed to Evaluate like the catalog would.
struct History {
  std::map<std::string, std::vector<BackupRow>> backups;
  std::map<std::string, std::vector<DrillRow>> drills;

  StatusReport Evaluate(const std::vector<Source>& sources, const Policy& policy = Policy()) {
    return catalog::Evaluate(
        policy, sources, [&](const std::string& n) { return backups[n]; },
        [&](const std::string& n) { return drills[n]; }, kNow);
  }
};

Source Plain(const std::string& name) {
  Source s;
  s.name = name;
  s.paths = {"/srv/" + name};
  return s;
}

Source Critical(const std::string& name) {
  Source s = Plain(name);
  s.critical = true;
  return s;
}

BackupRow VerifiedBackup(char id, const std::string& source, Seconds age) {
  BackupRow b = Backup(id, source, kNow - age * kNs);
  b.verified_at_ns = b.time_ns + kHour * kNs;
  b.verified_by = "check";
  return b;
}

DrillRow FinishedDrill(const std::string& id, const std::string& source, Seconds ago, bool passed,
                       std::optional<Seconds> projected_rto) {
  DrillRow d = Drill(id, source, kNow - ago * kNs - 600 * kNs);
  d.passed = passed;
  d.projected_rto = projected_rto;
  return d;
}

TEST(StatusTest, FreshVerifiedBackupIsOk) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", 3 * kHour)};
  StatusReport r = h.Evaluate({Plain("ehr")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.overall, Health::kOk);
  ASSERT_EQ(r.sources.size(), 1u);
  const SourceStatus& s = r.sources[0];
  EXPECT_EQ(s.backup_health, Health::kOk);
  EXPECT_EQ(s.age, 3 * kHour);
  EXPECT_EQ(s.rpo, 48 * kHour);
  EXPECT_EQ(s.rto, 72 * kHour);
  EXPECT_EQ(s.newest_verified_snapshot, Hex64('1'));
  EXPECT_THAT(s.reasons, IsEmpty());
}

TEST(StatusTest, CloseToTheLimitIsAWarning) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", 45 * kHour)};
  StatusReport r = h.Evaluate({Plain("ehr")});
  EXPECT_EQ(r.exit_code, kExitStatusWarning);
  EXPECT_EQ(r.exit_code, 30);
  EXPECT_EQ(r.sources[0].backup_health, Health::kWarning);
  EXPECT_THAT(r.sources[0].reasons,
              ElementsAre("newest verified backup is 45h old; the 48h limit is 3h away"));
}

TEST(StatusTest, LimitsAreInclusive) {
  History h;
  h.backups["a"] = {VerifiedBackup('1', "a", 42 * kHour)};
  h.backups["b"] = {VerifiedBackup('2', "b", 48 * kHour)};
  StatusReport r = h.Evaluate({Plain("a"), Plain("b")});
  EXPECT_EQ(r.sources[0].backup_health, Health::kOk);
  EXPECT_EQ(r.sources[1].backup_health, Health::kWarning);

  h.backups["b"] = {VerifiedBackup('2', "b", 48 * kHour + 1)};
  EXPECT_EQ(h.Evaluate({Plain("b")}).sources[0].backup_health, Health::kBreached);
}

TEST(StatusTest, StaleBackupIsBreached) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", 50 * kHour)};
  StatusReport r = h.Evaluate({Plain("ehr")});
  EXPECT_EQ(r.exit_code, kExitStatusBreached);
  EXPECT_EQ(r.exit_code, 31);
  EXPECT_EQ(r.sources[0].backup_health, Health::kBreached);
  EXPECT_THAT(r.sources[0].reasons, ElementsAre("newest verified backup is 50h old (limit 48h)"));
}

TEST(StatusTest, MissingBackupIsBreached) {
  History h;
  StatusReport r = h.Evaluate({Plain("ehr")});
  EXPECT_EQ(r.exit_code, 31);
  EXPECT_EQ(r.sources[0].age, std::nullopt);
  EXPECT_EQ(r.sources[0].newest_backup_ns, std::nullopt);
  EXPECT_THAT(r.sources[0].reasons, ElementsAre("no verified backup"));
}

TEST(StatusTest, UnverifiedBackupCountsAsMissing) {
  History h;
  h.backups["ehr"] = {Backup('1', "ehr", kNow - kHour * kNs)};
  StatusReport r = h.Evaluate({Plain("ehr")});
  EXPECT_EQ(r.exit_code, 31);
  const SourceStatus& s = r.sources[0];
  EXPECT_EQ(s.backup_health, Health::kBreached);
  EXPECT_EQ(s.newest_backup_ns, kNow - kHour * kNs);
  EXPECT_EQ(s.newest_verified_ns, std::nullopt);
  ASSERT_EQ(s.reasons.size(), 1u);
  EXPECT_THAT(s.reasons[0], HasSubstr("no verified backup; the newest backup, from "
                                      "2026-12-04T02:13:55Z, has not been verified"));
}

TEST(StatusTest, NewestVerifiedBackupCountsNotTheNewest) {
  History h;
  h.backups["ehr"] = {Backup('9', "ehr", kNow - kHour * kNs),
                      VerifiedBackup('1', "ehr", 30 * kHour),
                      VerifiedBackup('2', "ehr", 10 * kHour)};
  const SourceStatus s = h.Evaluate({Plain("ehr")}).sources[0];
  EXPECT_EQ(s.age, 10 * kHour);
  EXPECT_EQ(s.newest_verified_snapshot, Hex64('2'));
  EXPECT_EQ(s.newest_backup_ns, kNow - kHour * kNs);
}

TEST(StatusTest, SourceRpoOverrideIsUsed) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", 30 * kHour)};
  Source s = Plain("ehr");
  s.rpo = 24 * kHour;
  StatusReport r = h.Evaluate({s});
  EXPECT_EQ(r.exit_code, 31);
  EXPECT_EQ(r.sources[0].rpo, 24 * kHour);
  EXPECT_THAT(r.sources[0].reasons, ElementsAre("newest verified backup is 30h old (limit 24h)"));
  EXPECT_EQ(h.Evaluate({Plain("ehr")}).exit_code, 0);  // 30h is fine under the policy's 48h
}

TEST(StatusTest, WarningLeadIsAtMostAQuarterOfTheLimit) {
  History h;
  Source s = Plain("db");
  s.rpo = 4 * kHour;  // shorter than warn_before: without the cap it would always warn
  h.backups["db"] = {VerifiedBackup('1', "db", 2 * kHour)};
  EXPECT_EQ(h.Evaluate({s}).exit_code, 0);
  h.backups["db"] = {VerifiedBackup('1', "db", 3 * kHour + 60)};
  EXPECT_EQ(h.Evaluate({s}).exit_code, 30);
}

TEST(StatusTest, BackupFromTheFutureWarns) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", -2 * kHour)};
  StatusReport r = h.Evaluate({Plain("ehr")});
  EXPECT_EQ(r.exit_code, 30);
  EXPECT_EQ(r.sources[0].age, -2 * kHour);
  EXPECT_THAT(r.sources[0].reasons,
              ElementsAre("newest verified backup is dated 2h in the future; check the clocks"));
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", -60)};  // within clock tolerance
  EXPECT_EQ(h.Evaluate({Plain("ehr")}).exit_code, 0);
}

TEST(StatusTest, CriticalSourceNeverDrilledIsBreached) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", kHour)};
  StatusReport r = h.Evaluate({Critical("ehr")});
  EXPECT_EQ(r.exit_code, 31);
  EXPECT_EQ(r.sources[0].backup_health, Health::kOk);
  EXPECT_EQ(r.sources[0].drill_health, Health::kBreached);
  EXPECT_THAT(r.sources[0].reasons,
              ElementsAre("no restore drill recorded (a critical source needs one every 30d)"));
}

TEST(StatusTest, PassingRecentDrillWithinTargetIsOk) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", kHour)};
  h.drills["ehr"] = {FinishedDrill("d1", "ehr", 5 * kDay, true, 20 * kHour)};
  StatusReport r = h.Evaluate({Critical("ehr")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.sources[0].projected_rto, 20 * kHour);
  ASSERT_TRUE(r.sources[0].last_drill.has_value());
  EXPECT_EQ(r.sources[0].last_drill->id, "d1");
  EXPECT_THAT(r.sources[0].reasons, IsEmpty());
}

TEST(StatusTest, OverdueDrillIsBreached) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", kHour)};
  h.drills["ehr"] = {FinishedDrill("d1", "ehr", 31 * kDay, true, 20 * kHour)};
  StatusReport r = h.Evaluate({Critical("ehr")});
  EXPECT_EQ(r.exit_code, 31);
  EXPECT_EQ(r.sources[0].drill_health, Health::kBreached);
  EXPECT_THAT(r.sources[0].reasons, ElementsAre("last drill 31d ago (every 30d)"));
}

TEST(StatusTest, DrillCloseToItsIntervalWarns) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", kHour)};
  h.drills["ehr"] = {FinishedDrill("d1", "ehr", 29 * kDay + 20 * kHour, true, 20 * kHour)};
  StatusReport r = h.Evaluate({Critical("ehr")});
  EXPECT_EQ(r.exit_code, 30);
  EXPECT_EQ(r.sources[0].drill_health, Health::kWarning);
  EXPECT_THAT(r.sources[0].reasons,
              ElementsAre("last drill 29d20h ago; the next is due within 4h (every 30d)"));
}

TEST(StatusTest, FailedLastDrillIsBreached) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", kHour)};
  // Given newest first, as the catalog does; the evaluation must not depend on the order.
  h.drills["ehr"] = {FinishedDrill("d2", "ehr", kDay, false, std::nullopt),
                     FinishedDrill("d1", "ehr", 3 * kDay, true, 20 * kHour)};
  StatusReport r = h.Evaluate({Critical("ehr")});
  EXPECT_EQ(r.exit_code, 31);
  const SourceStatus& s = r.sources[0];
  EXPECT_EQ(s.drill_health, Health::kBreached);
  EXPECT_EQ(s.last_drill->id, "d2");
  EXPECT_EQ(s.projected_rto, 20 * kHour);  // from the last passing drill
  EXPECT_THAT(s.reasons, ElementsAre("last drill failed"));

  std::swap(h.drills["ehr"][0], h.drills["ehr"][1]);
  EXPECT_EQ(h.Evaluate({Critical("ehr")}).sources[0].last_drill->id, "d2");
}

TEST(StatusTest, ProjectedRestoreOverTargetIsBreached) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", kHour)};
  h.drills["ehr"] = {FinishedDrill("d1", "ehr", kDay, true, 80 * kHour)};
  StatusReport r = h.Evaluate({Critical("ehr")});
  EXPECT_EQ(r.exit_code, 31);
  EXPECT_EQ(r.sources[0].drill_health, Health::kOk);
  EXPECT_EQ(r.sources[0].rto_health, Health::kBreached);
  EXPECT_THAT(r.sources[0].reasons, ElementsAre("projected restore 80h exceeds the 72h target"));

  Source own = Critical("ehr");
  own.rto = 96 * kHour;
  EXPECT_EQ(h.Evaluate({own}).exit_code, 0);
}

TEST(StatusTest, ProjectedRestoreCloseToTargetWarns) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", kHour)};
  h.drills["ehr"] = {FinishedDrill("d1", "ehr", kDay, true, 70 * kHour)};
  StatusReport r = h.Evaluate({Critical("ehr")});
  EXPECT_EQ(r.exit_code, 30);
  EXPECT_THAT(r.sources[0].reasons,
              ElementsAre("projected restore 70h is within 2h of the 72h target"));

  h.drills["ehr"] = {FinishedDrill("d1", "ehr", kDay, true, std::nullopt)};
  r = h.Evaluate({Critical("ehr")});
  EXPECT_EQ(r.exit_code, 30);
  EXPECT_THAT(r.sources[0].reasons,
              ElementsAre("the last passing drill projected no restore time"));
}

TEST(StatusTest, NonCriticalSourceNeedsNoDrill) {
  History h;
  h.backups["billing"] = {VerifiedBackup('1', "billing", kHour)};
  StatusReport r = h.Evaluate({Plain("billing")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.sources[0].drill_health, Health::kOk);
  EXPECT_THAT(r.sources[0].reasons, IsEmpty());

  h.drills["billing"] = {FinishedDrill("d1", "billing", 40 * kDay, false, 100 * kHour)};
  r = h.Evaluate({Plain("billing")});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.sources[0].rto_health, Health::kOk);
  EXPECT_THAT(r.sources[0].reasons, ElementsAre(HasSubstr("last drill failed")));
}

TEST(StatusTest, OverallIsTheWorstSource) {
  History h;
  h.backups["ok"] = {VerifiedBackup('1', "ok", kHour)};
  h.backups["warn"] = {VerifiedBackup('2', "warn", 45 * kHour)};
  h.backups["bad"] = {VerifiedBackup('3', "bad", 50 * kHour)};
  StatusReport r = h.Evaluate({Plain("ok"), Plain("warn"), Plain("bad")});
  EXPECT_EQ(r.overall, Health::kBreached);
  EXPECT_EQ(r.exit_code, 31);
  ASSERT_EQ(r.sources.size(), 3u);
  EXPECT_EQ(r.sources[0].overall, Health::kOk);
  EXPECT_EQ(r.sources[1].overall, Health::kWarning);
  EXPECT_EQ(r.sources[2].overall, Health::kBreached);

  r = h.Evaluate({Plain("warn"), Plain("ok")});
  EXPECT_EQ(r.overall, Health::kWarning);
  EXPECT_EQ(r.exit_code, 30);
  EXPECT_EQ(h.Evaluate({}).exit_code, 0);
}

TEST(StatusTest, ToJsonHasTheFields) {
  History h;
  h.backups["ehr"] = {VerifiedBackup('1', "ehr", 2 * kHour)};
  h.drills["ehr"] = {FinishedDrill("d1", "ehr", 2 * kDay, true, 80 * kHour)};
  h.backups["pcs"] = {};
  auto j = ToJson(h.Evaluate({Critical("ehr"), Plain("pcs")}));
  EXPECT_EQ(j["overall"], "breached");
  EXPECT_EQ(j["exit_code"], 31);
  ASSERT_EQ(j["sources"].size(), 2u);
  const auto& ehr = j["sources"][0];
  EXPECT_EQ(ehr["name"], "ehr");
  EXPECT_EQ(ehr["critical"], true);
  EXPECT_EQ(ehr["rpo"]["seconds"], 48 * kHour);
  EXPECT_EQ(ehr["rpo"]["text"], "48h");
  EXPECT_EQ(ehr["rto"]["text"], "72h");
  EXPECT_EQ(ehr["newest_verified"]["time"], "2026-12-04T01:13:55Z");
  EXPECT_EQ(ehr["newest_verified"]["snapshot"], Hex64('1'));
  EXPECT_EQ(ehr["newest_backup"], "2026-12-04T01:13:55Z");
  EXPECT_EQ(ehr["age_seconds"], 2 * kHour);
  EXPECT_EQ(ehr["last_drill"]["id"], "d1");
  EXPECT_EQ(ehr["last_drill"]["time"], "2026-12-02T03:13:55Z");
  EXPECT_EQ(ehr["last_drill"]["passed"], true);
  EXPECT_EQ(ehr["last_drill"]["projected_rto"]["text"], "80h");
  EXPECT_EQ(ehr["projected_rto"]["seconds"], 80 * kHour);
  EXPECT_EQ(ehr["health"]["overall"], "breached");
  EXPECT_EQ(ehr["health"]["backup"], "ok");
  EXPECT_EQ(ehr["health"]["drill"], "ok");
  EXPECT_EQ(ehr["health"]["rto"], "breached");
  EXPECT_EQ(ehr["reasons"][0], "projected restore 80h exceeds the 72h target");
  const auto& pcs = j["sources"][1];
  EXPECT_TRUE(pcs["newest_verified"].is_null());
  EXPECT_TRUE(pcs["newest_backup"].is_null());
  EXPECT_TRUE(pcs["age_seconds"].is_null());
  EXPECT_TRUE(pcs["last_drill"].is_null());
  EXPECT_TRUE(pcs["projected_rto"].is_null());
  EXPECT_EQ(pcs["reasons"][0], "no verified backup");
}

}  // namespace
}  // namespace phivault::catalog
