#include "phivault/base/file_util.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

namespace phivault {
namespace {

class FileUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/phivault-fileutil-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0); }
  std::string dir_;
};

TEST_F(FileUtilTest, AtomicWriteThenRead) {
  std::string path = dir_ + "/f";
  Bytes data = {1, 2, 3};
  ASSERT_TRUE(WriteFileAtomic(path, data, 0600).ok());
  auto back = ReadFile(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  Bytes replaced = {9};
  ASSERT_TRUE(WriteFileAtomic(path, replaced, 0600).ok());
  EXPECT_EQ(*ReadFile(path), replaced);
}

TEST_F(FileUtilTest, ReadMissingFileIsNotFound) {
  EXPECT_EQ(ReadFile(dir_ + "/missing").status().code(), StatusCode::kNotFound);
}

TEST_F(FileUtilTest, MakeDirsCreatesParents) {
  std::string deep = dir_ + "/a/b/c";
  ASSERT_TRUE(MakeDirs(deep, 0700).ok());
  struct stat st;
  ASSERT_EQ(stat(deep.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_TRUE(MakeDirs(deep, 0700).ok());
}

TEST(PathTest, AbsolutePathNormalises) {
  EXPECT_EQ(*AbsolutePath("/a//b/./c/../d/"), "/a/b/d");
  EXPECT_EQ(*AbsolutePath("/.."), "/");
  EXPECT_EQ(AbsolutePath("").status().code(), StatusCode::kInvalidArgument);
}

TEST(PathTest, WithinIsComponentWise) {
  EXPECT_TRUE(IsPathWithin("/repo", "/repo"));
  EXPECT_TRUE(IsPathWithin("/repo/keys", "/repo"));
  EXPECT_FALSE(IsPathWithin("/repository", "/repo"));
  EXPECT_FALSE(IsPathWithin("/re", "/repo"));
  EXPECT_TRUE(IsPathWithin("/anything", "/"));
}

TEST(PathTest, JoinPath) {
  EXPECT_EQ(JoinPath("/a/", "/b"), "/a/b");
  EXPECT_EQ(JoinPath("/", "b"), "/b");
  EXPECT_EQ(JoinPath("a", ""), "a");
}

}  // namespace
}  // namespace phivault
