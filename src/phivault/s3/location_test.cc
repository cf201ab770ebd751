#include "phivault/s3/location.h"

#include <gtest/gtest.h>

namespace phivault::s3 {
namespace {

TEST(S3LocationTest, ParsesHostPortBucketAndPrefix) {
  auto loc = ParseS3Name("s3:https://127.0.0.1:17443/clinic-backups/site-a/main/");
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  EXPECT_EQ(loc->host, "127.0.0.1");
  EXPECT_EQ(loc->port, 17443);
  EXPECT_EQ(loc->bucket, "clinic-backups");
  EXPECT_EQ(loc->prefix, "site-a/main");
  EXPECT_EQ(loc->addressing, Addressing::kPath);
  EXPECT_EQ(loc->ToString(), "s3:https://127.0.0.1:17443/clinic-backups/site-a/main");
  EXPECT_EQ(loc->Authority(), "127.0.0.1:17443");
  EXPECT_EQ(loc->PathOf(loc->KeyOf("data/ab/abc")), "/clinic-backups/site-a/main/data/ab/abc");
  EXPECT_EQ(loc->PathOf(""), "/clinic-backups");
}

TEST(S3LocationTest, AwsHostsUseVirtualHostedAddressing) {
  auto loc = ParseS3Name("s3:https://s3.eu-central-1.amazonaws.com/bucket1");
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->addressing, Addressing::kVirtualHost);
  EXPECT_EQ(loc->port, 443);
  EXPECT_EQ(loc->Authority(), "bucket1.s3.eu-central-1.amazonaws.com");
  EXPECT_EQ(loc->PathOf("config"), "/config");
  EXPECT_EQ(loc->PathOf(""), "/");
  auto forced = ParseS3Name("s3:https://s3.eu-central-1.amazonaws.com/bucket1", "path");
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(forced->Authority(), "s3.eu-central-1.amazonaws.com");
  // A dotted bucket name cannot be a host label under the wildcard certificate.
  EXPECT_EQ(ParseS3Name("s3:https://s3.amazonaws.com/a.b.c")->addressing, Addressing::kPath);
}

TEST(S3LocationTest, RefusesPlainHttpAndMalformedNames) {
  auto http = ParseS3Name("s3:http://127.0.0.1:17480/bucket");
  EXPECT_EQ(http.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(http.status().message().find("HTTPS only"), std::string::npos);
  for (const char* bad :
       {"s3:127.0.0.1/bucket", "s3:https://host", "s3:https://host/", "s3:https://host/B",
        "s3:https://host:0/bucket", "s3:https://host:99999/bucket", "s3:https://u:p@host/bucket",
        "s3:https://host/bucket/a//b", "s3:https://host/bucket/a b", "s3:https://ho st/bucket",
        "/srv/repo"}) {
    EXPECT_EQ(ParseS3Name(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ParseS3Name("s3:https://h/bucket", "sideways").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(S3LocationTest, UriEncodeKeepsUnreservedOnly) {
  EXPECT_EQ(UriEncode("a-b_c.d~e/f g$", true), "a-b_c.d~e/f%20g%24");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriEncode("\xe1\x88\xb4", false), "%E1%88%B4");
}

}  // namespace
}  // namespace phivault::s3
