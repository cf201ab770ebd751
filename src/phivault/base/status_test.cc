#include "phivault/base/status.h"

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

namespace phivault {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, CarriesCodeMessageAndTag) {
  Status s = NotFoundError("snapshot 1234").WithTag(ErrorTag::kRepositoryMissing);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.tag(), ErrorTag::kRepositoryMissing);
  EXPECT_EQ(s.ToString(), "NOT_FOUND: snapshot 1234");
}

TEST(StatusTest, WithContextPrependsAndKeepsCode) {
  Status s = DataLossError("mac mismatch").WithContext("pack ab12");
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_EQ(s.message(), "pack ab12: mac mismatch");
  EXPECT_TRUE(OkStatus().WithContext("ignored").ok());
}

TEST(StatusTest, CopiesAreIndependent) {
  Status a = InternalError("a");
  Status b = a;
  b = std::move(b).WithContext("b");
  EXPECT_EQ(a.message(), "a");
  EXPECT_EQ(b.message(), "b: a");
}

TEST(StatusTest, ErrnoMapping) {
  EXPECT_EQ(ErrnoToStatus(ENOENT, "open x").code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoToStatus(EACCES, "open x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus(ENOSPC, "write x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus(EEXIST, "link x").code(), StatusCode::kAlreadyExists);
}

TEST(StatusTest, OnlyTransientCodesAreRetryable) {
  EXPECT_TRUE(IsRetryable(UnavailableError("503")));
  EXPECT_TRUE(IsRetryable(DeadlineExceededError("timeout")));
  EXPECT_FALSE(IsRetryable(DataLossError("bad tag")));
  EXPECT_FALSE(IsRetryable(UnauthenticatedError("wrong key")));
  EXPECT_FALSE(IsRetryable(PermissionDeniedError("403")));
  EXPECT_FALSE(IsRetryable(OkStatus()));
}

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd");
  return x / 2;
}

Status Quarter(int x, int* out) {
  PHV_ASSIGN_OR_RETURN(int h, Half(x));
  PHV_ASSIGN_OR_RETURN(*out, Half(h));
  return OkStatus();
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> r = Half(8);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 4);
  Result<int> e = Half(3);
  ASSERT_FALSE(e.has_value());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(e.value_or(-1), -1);
}

TEST(ResultTest, MacrosPropagate) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(Quarter(6, &out).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace phivault
