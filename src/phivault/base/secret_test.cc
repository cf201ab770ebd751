#include "phivault/base/secret.h"

#include <cstring>

#include <gtest/gtest.h>

namespace phivault {
namespace {

TEST(SecretBytesTest, CopiesAndCompares) {
  const uint8_t raw[] = {1, 2, 3, 4};
  SecretBytes s(raw);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_TRUE(s.Equals(raw));
  const uint8_t other[] = {1, 2, 3, 5};
  EXPECT_FALSE(s.Equals(other));
  SecretBytes c = s.Clone();
  EXPECT_TRUE(c.Equals(raw));
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  SecretBytes a(std::vector<uint8_t>(32, 7));
  SecretBytes b = std::move(a);
  EXPECT_EQ(b.size(), 32u);
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): the moved-from state is defined
  EXPECT_EQ(a.data(), nullptr);
}

TEST(SecretBytesTest, TruncateWipesTail) {
  SecretBytes s(std::vector<uint8_t>(8, 0xaa));
  uint8_t* p = s.data();
  s.Truncate(3);
  EXPECT_EQ(s.size(), 3u);
  for (int i = 3; i < 8; ++i) EXPECT_EQ(p[i], 0) << i;
}

TEST(SecureWipeTest, ZeroesMemory) {
  // The wipe primitive SecretBytes uses on destruction, checked on memory we still own.
  uint8_t buf[64];
  std::memset(buf, 0x5c, sizeof buf);
  SecureWipe(buf, sizeof buf);
  for (uint8_t b : buf) EXPECT_EQ(b, 0);
}

}  // namespace
}  // namespace phivault
