#include "phivault/base/provenance.h"

#include <gtest/gtest.h>

namespace phivault {
namespace {

constexpr int64_t kNs = 1'000'000'000;
constexpr int64_t kNow = 1796354035 * kNs;  // 2026-12-04T03:13:55Z

TEST(ProvenanceTest, FormatUtc) {
  EXPECT_EQ(FormatUtc(kNow), "2026-12-04T03:13:55Z");
  EXPECT_EQ(FormatUtc(kNow + kNs - 1), "2026-12-04T03:13:55Z");
  EXPECT_EQ(FormatUtc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatUtc(-1), "1969-12-31T23:59:59Z");
}

TEST(ProvenanceTest, ParseUtcTakesExactlyWhatFormatUtcWrites) {
  EXPECT_EQ(*ParseUtc("2026-12-04T03:13:55Z"), kNow);
  EXPECT_EQ(*ParseUtc(FormatUtc(-1)), -kNs);
  EXPECT_TRUE(ParseUtc("1700-01-01T00:00:00Z").ok());
  EXPECT_TRUE(ParseUtc("2261-12-31T23:59:59Z").ok());
  for (const char* bad : {"2026-02-31T00:00:00Z", "2026-12-04T03:13:55", "2026-12-04 03:13:55Z",
                          "26-12-04T03:13:55Z", "2026-12-04T03:13:55.5Z", "",
                          // Beyond the nanosecond range (a tampered record's year, say).
                          "0026-12-04T03:13:55Z", "1677-01-01T00:00:00Z", "9999-12-31T23:59:59Z"}) {
    EXPECT_EQ(ParseUtc(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ProvenanceTest, UserAndHostAreNeverEmpty) {
  EXPECT_FALSE(CurrentUserName().empty());
  EXPECT_FALSE(CurrentHostName().empty());
}

}  // namespace
}  // namespace phivault
