#include "phivault/s3/credentials.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace phivault::s3 {
namespace {

std::string Str(const SecretBytes& s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

class CredentialsEnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v :
         {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
          "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"}) {
      if (const char* old = getenv(v)) saved_.emplace_back(v, old);
      unsetenv(v);
    }
    char tmpl[] = "/tmp/phivault-creds-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& [k, v] : saved_) setenv(k.c_str(), v.c_str(), 1);
    ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0);
  }
  std::string WriteFile(const std::string& text, mode_t mode) {
    std::string path = dir_ + "/credentials";
    std::ofstream(path) << text;
    chmod(path.c_str(), mode);
    return path;
  }
  std::vector<std::pair<std::string, std::string>> saved_;
  std::string dir_;
};

TEST_F(CredentialsEnvTest, EnvironmentComesFirst) {
  setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", WriteFile("[default]\n", 0600).c_str(), 1);
  auto c = LoadCredentials();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "AKIAENV");
  EXPECT_EQ(Str(c->secret_access_key), "envsecret");
  EXPECT_EQ(c->source, "environment");
}

TEST_F(CredentialsEnvTest, HalfAPairIsRefusedWithoutTheValue) {
  setenv("AWS_SECRET_ACCESS_KEY", "lonelysecret", 1);
  auto c = LoadCredentials();
  EXPECT_EQ(c.status().tag(), ErrorTag::kStorageAuth);
  EXPECT_EQ(c.status().message().find("lonelysecret"), std::string::npos);
}

TEST_F(CredentialsEnvTest, FileWithProfile) {
  std::string path = WriteFile(
      "# comment\n[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = defsecret\n"
      "\n[profile offsite]\naws_access_key_id=AKIAOFF\naws_secret_access_key=offsecret\r\n",
      0600);
  setenv("AWS_SHARED_CREDENTIALS_FILE", path.c_str(), 1);
  auto c = LoadCredentials();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "AKIADEF");
  setenv("AWS_PROFILE", "offsite", 1);
  c = LoadCredentials();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(Str(c->secret_access_key), "offsecret");
  EXPECT_EQ(c->source, path);
  setenv("AWS_PROFILE", "absent", 1);
  EXPECT_EQ(LoadCredentials().status().tag(), ErrorTag::kStorageAuth);
}

TEST_F(CredentialsEnvTest, FileReadableByOthersIsRefused) {
  for (mode_t mode : {0640u, 0604u, 0644u}) {
    std::string path =
        WriteFile("[default]\naws_access_key_id=A\naws_secret_access_key=s3cr3t\n", mode);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path.c_str(), 1);
    auto c = LoadCredentials();
    EXPECT_EQ(c.status().tag(), ErrorTag::kStorageAuth) << mode;
    EXPECT_NE(c.status().message().find("chmod 600"), std::string::npos);
    EXPECT_EQ(c.status().message().find("s3cr3t"), std::string::npos);
  }
}

TEST_F(CredentialsEnvTest, MalformedLineIsNamedNotQuoted) {
  auto c = ParseCredentialsFile("[default]\naws_secret_access_key hunter2\n", "default", "f");
  EXPECT_EQ(c.status().tag(), ErrorTag::kStorageAuth);
  EXPECT_NE(c.status().message().find("f:2"), std::string::npos);
  EXPECT_EQ(c.status().message().find("hunter2"), std::string::npos);
}

TEST_F(CredentialsEnvTest, NothingAnywhere) {
  setenv("AWS_SHARED_CREDENTIALS_FILE", (dir_ + "/none").c_str(), 1);
  EXPECT_EQ(LoadCredentials().status().tag(), ErrorTag::kStorageAuth);
}

TEST_F(CredentialsEnvTest, Region) {
  EXPECT_EQ(RegionFromEnvironment(), "us-east-1");
  setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
  EXPECT_EQ(RegionFromEnvironment(), "eu-west-1");
  setenv("AWS_REGION", "ca-central-1", 1);
  EXPECT_EQ(RegionFromEnvironment(), "ca-central-1");
}

}  // namespace
}  // namespace phivault::s3
