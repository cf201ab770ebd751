// S3Backend against a real Ceph RGW (tests/s3/services.sh): the Backend conformance suite, and
// what is particular to S3: multipart uploads, object lock, credentials and the TLS policy.
//
// The services' endpoints come from the file named by PHIVAULT_TEST_S3_ENV (written by
// services.sh), or from the environment. Without them the tests are skipped, except under
// CI=true, where a missing service is a failure.
#include "phivault/s3/s3_backend.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "phivault/crypto/crypto.h"
#include "phivault/storage/backend_conformance.h"

namespace phivault::s3 {
namespace {

using storage::BackendConformanceTest;
using storage::ObjectKind;
using storage::ObjectName;

// Loads `export NAME=value` lines into the environment once.
bool LoadServiceEnv() {
  static const bool loaded = [] {
    if (const char* f = getenv("PHIVAULT_TEST_S3_ENV")) {
      std::ifstream in(f);
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("export ", 0) != 0) continue;
        size_t eq = line.find('=');
        std::string name = line.substr(7, eq - 7);
        std::string value = line.substr(eq + 1);
        if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
          value = value.substr(1, value.size() - 2);
        }
        setenv(name.c_str(), value.c_str(), 1);
      }
    }
    return getenv("PHIVAULT_TEST_S3_ENDPOINT") != nullptr;
  }();
  return loaded;
}

std::string Env(const char* name) {
  const char* v = getenv(name);
  return v != nullptr ? v : "";
}

#define REQUIRE_S3()                                                                          \
  do {                                                                                        \
    if (!LoadServiceEnv()) {                                                                  \
      if (Env("CI") == "true") FAIL() << "S3 test services are not running (CI=true)";        \
      GTEST_SKIP() << "no S3 test services (tests/s3/services.sh); set PHIVAULT_TEST_S3_ENV"; \
    }                                                                                         \
  } while (0)

std::string RandomName(const char* stem) {
  static std::mt19937_64 rng(std::random_device{}());
  return std::string(stem) + "-" + std::to_string(rng() % 1000000000);
}

S3Options OptionsFor(const std::string& endpoint, const std::string& bucket,
                     const std::string& prefix) {
  S3Options o;
  auto loc = ParseS3Name("s3:" + endpoint + "/" + bucket + (prefix.empty() ? "" : "/" + prefix));
  EXPECT_TRUE(loc.ok()) << loc.status().ToString();
  o.location = *loc;
  o.transport.ca_file = Env("PHIVAULT_TEST_S3_CA");
  o.transport.stall_timeout = std::chrono::seconds(20);
  return o;
}

Credentials TestCredentials() {
  auto c = LoadCredentials();
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return std::move(*c);
}

std::unique_ptr<S3Backend> NewBackend(const std::string& bucket, bool lock = false,
                                      std::string prefix = "") {
  if (prefix.empty()) prefix = RandomName("p");
  auto b = S3Backend::Create(OptionsFor(Env("PHIVAULT_TEST_S3_ENDPOINT"), bucket, prefix),
                             TestCredentials(), lock);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return b.ok() ? std::move(*b) : nullptr;
}

std::string KeyOf(const S3Backend& b, const ObjectName& name) {
  auto loc = ParseS3Name(b.Location());
  return loc.ok() ? loc->KeyOf(name.Path()) : "";
}

INSTANTIATE_TEST_SUITE_P(Rgw, BackendConformanceTest,
                         ::testing::Values(storage::BackendFactory{
                             "S3",
                             [](const std::string&) -> std::unique_ptr<storage::Backend> {
                               if (!LoadServiceEnv()) return nullptr;
                               return NewBackend("phivault-conformance");
                             }}),
                         storage::FactoryName);

Bytes RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

TEST(S3BackendTest, MultipartObjectIsExactAndCreateOnly) {
  REQUIRE_S3();
  S3Options o = OptionsFor(Env("PHIVAULT_TEST_S3_ENDPOINT"), "phivault-s3test", RandomName("mp"));
  o.part_size = 5u << 20;  // S3's minimum part size
  o.multipart_threshold = 10u << 20;
  auto b = S3Backend::Create(o, TestCredentials(), false);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ObjectName name{ObjectKind::kPack, std::string(64, 'b')};
  Bytes data = RandomBytes((23u << 20) + 12345, 1);
  auto w = (*b)->Create(name);
  ASSERT_TRUE(w.ok());
  for (size_t off = 0; off < data.size();) {  // uneven appends across part boundaries
    size_t n = std::min<size_t>(data.size() - off, 700'001);
    ASSERT_TRUE((*w)->Append(ByteSpan(data).subspan(off, n)).ok());
    off += n;
  }
  uint64_t before = (*b)->stats().requests.load();
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_GE((*b)->stats().requests.load() - before, 1u);
  auto back = (*b)->ReadAll(name);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
  // A large range is fetched in parallel pieces and must still be exact.
  Bytes mid((17u << 20) + 3);
  ASSERT_TRUE((*b)->ReadAt(name, 1234567, mid).ok());
  EXPECT_TRUE(std::equal(mid.begin(), mid.end(), data.begin() + 1234567));
  EXPECT_EQ((*b)->Stat(name)->size, data.size());
  // Create-only holds for multipart objects too.
  auto again = (*b)->Create(name);
  ASSERT_TRUE(again.ok());
  Status s = (*again)->Append(data);
  if (s.ok()) s = (*again)->Commit();
  EXPECT_EQ(s.code(), StatusCode::kAlreadyExists);
}

TEST(S3BackendTest, AbandonedMultipartUploadLeavesNothing) {
  REQUIRE_S3();
  S3Options o = OptionsFor(Env("PHIVAULT_TEST_S3_ENDPOINT"), "phivault-s3test", RandomName("ab"));
  o.part_size = 5u << 20;
  o.multipart_threshold = 5u << 20;
  auto b = S3Backend::Create(o, TestCredentials(), false);
  ASSERT_TRUE(b.ok());
  ObjectName name{ObjectKind::kPack, std::string(64, 'c')};
  {
    auto w = (*b)->Create(name);
    ASSERT_TRUE((*w)->Append(RandomBytes(11u << 20, 2)).ok());  // two parts are on their way
  }
  EXPECT_EQ((*b)->Stat(name).status().code(), StatusCode::kNotFound);
  int listed = 0;
  ASSERT_TRUE((*b)->List(ObjectKind::kPack,
                         [&](const storage::ObjectInfo&) {
                           ++listed;
                           return OkStatus();
                         })
                  .ok());
  EXPECT_EQ(listed, 0);
  // The upload was aborted, not just left behind.
  auto uploads = (*b)->Send({.method = "GET", .query = {{"uploads", ""}}});
  ASSERT_TRUE(uploads.ok());
  EXPECT_EQ(uploads->body.find(o.location.KeyOf(name.Path())), std::string::npos);
}

TEST(S3BackendTest, ObjectLockKeepsExtendsAndRefusesDeletion) {
  REQUIRE_S3();
  auto b = NewBackend(RandomName("locked"), /*lock=*/true);
  ASSERT_NE(b, nullptr);
  ASSERT_TRUE(b->EnableRetention({1, storage::RetentionMode::kCompliance}).ok());
  ObjectName name{ObjectKind::kSnapshot, std::string(64, 'd')};
  ASSERT_TRUE(b->Save(name, AsBytes("immutable")).ok());
  auto now = std::chrono::system_clock::now();
  auto until = b->RetainedUntil(name);
  ASSERT_TRUE(until.ok()) << until.status().ToString();
  EXPECT_GT(*until, now + std::chrono::hours(35));
  EXPECT_LT(*until, now + std::chrono::hours(37));

  Status refused = b->Remove(name);
  EXPECT_EQ(refused.tag(), ErrorTag::kRetention);
  EXPECT_NE(refused.message().find("locked"), std::string::npos);

  ObjectName names[] = {name};
  ASSERT_TRUE(b->ExtendRetention(names, now + std::chrono::days(3)).ok());
  EXPECT_GT(*b->RetainedUntil(name), now + std::chrono::hours(71));
  // Shortening is not an error and changes nothing.
  ASSERT_TRUE(b->ExtendRetention(names, now + std::chrono::days(2)).ok());
  EXPECT_GT(*b->RetainedUntil(name), now + std::chrono::hours(71));

  // The server itself refuses to delete the locked version.
  auto head = b->Send({.method = "HEAD", .key = KeyOf(*b, name)});
  ASSERT_TRUE(head.ok());
  std::string version = head->Header("x-amz-version-id").value_or("");
  ASSERT_FALSE(version.empty());
  auto del =
      b->Send({.method = "DELETE", .key = KeyOf(*b, name), .query = {{"versionId", version}}});
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->status, 403);
  EXPECT_EQ(b->ReadAll(name).value_or(Bytes()),
            Bytes(AsBytes("immutable").begin(), AsBytes("immutable").end()));
}

TEST(S3BackendTest, LockOnABucketWithoutObjectLockIsRefused) {
  REQUIRE_S3();
  auto b = NewBackend("phivault-s3test");
  ASSERT_NE(b, nullptr);
  Status s = b->EnableRetention({7, storage::RetentionMode::kCompliance});
  EXPECT_EQ(s.tag(), ErrorTag::kRetention);
  EXPECT_NE(s.message().find("Object Lock"), std::string::npos);
}

TEST(S3BackendTest, WrongSecretIsRefusedNamingTheEndpointNotTheSecret) {
  REQUIRE_S3();
  Credentials c = TestCredentials();
  const std::string wrong = "wrong-secret-0123456789";
  c.secret_access_key = SecretBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(wrong.data()), wrong.size()));
  auto b = S3Backend::Open(OptionsFor(Env("PHIVAULT_TEST_S3_ENDPOINT"), "phivault-s3test", ""),
                           std::move(c));
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(b.status().tag(), ErrorTag::kStorageAuth);
  EXPECT_NE(b.status().message().find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(b.status().message().find(wrong), std::string::npos);
  EXPECT_EQ(b.status().message().find(Env("AWS_SECRET_ACCESS_KEY")), std::string::npos);
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

TEST(S3BackendTest, TlsBelow12AndBadCertificatesAreRefusedBeforeAnyRequest) {
  REQUIRE_S3();
  struct Case {
    std::string endpoint;
    std::string ca;
    std::string access_log;  // "" when the server keeps none
  };
  std::vector<Case> cases = {
      {Env("PHIVAULT_TEST_S3_TLS11"), Env("PHIVAULT_TEST_S3_CA"),
       Env("PHIVAULT_TEST_S3_TLS11_LOG")},
      {Env("PHIVAULT_TEST_S3_MISMATCH"), Env("PHIVAULT_TEST_S3_CA"),
       Env("PHIVAULT_TEST_S3_MISMATCH_LOG")},
      {Env("PHIVAULT_TEST_S3_ENDPOINT"), Env("PHIVAULT_TEST_S3_OTHER_CA"), ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.endpoint + " with " + c.ca);
    int64_t log_before = c.access_log.empty() ? 0 : FileSize(c.access_log);
    S3Options o = OptionsFor(c.endpoint, "phivault-s3test", "");
    o.transport.ca_file = c.ca;
    auto b = S3Backend::Open(o, TestCredentials());
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.status().tag(), ErrorTag::kTls) << b.status().ToString();
    EXPECT_FALSE(IsRetryable(b.status()));
    if (!c.access_log.empty()) {
      EXPECT_EQ(FileSize(c.access_log), log_before);
    }
  }
}

}  // namespace
}  // namespace phivault::s3
