#include "phivault/base/bytes.h"

#include <cstdint>
#include <limits>

#include <gtest/gtest.h>

namespace phivault {
namespace {

TEST(BytesTest, HexRoundTrip) {
  Bytes b = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(ToHex(b), "000fa5ff");
  auto back = FromHex("000FA5ff");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, b);
  EXPECT_EQ(FromHex("abc").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FromHex("zz").status().code(), StatusCode::kInvalidArgument);
}

TEST(BytesTest, FixedWidthAndVarintRoundTrip) {
  Bytes buf;
  Encoder enc(&buf);
  const uint64_t values[] = {0,   1,     127,   128,
                             300, 16383, 16384, std::numeric_limits<uint64_t>::max()};
  for (uint64_t v : values) enc.PutVarint(v);
  enc.PutU32(0xdeadbeef);
  enc.PutI64(-5);
  enc.PutBytes(std::string_view("name with\nnewline"));
  Decoder dec(buf, "test");
  for (uint64_t v : values) EXPECT_EQ(dec.GetVarint(), v);
  EXPECT_EQ(dec.GetU32(), 0xdeadbeefu);
  EXPECT_EQ(dec.GetI64(), -5);
  EXPECT_EQ(AsStringView(dec.GetBytes()), "name with\nnewline");
  EXPECT_TRUE(dec.Finish().ok());
}

TEST(BytesTest, VarintEncodingIsLeb128) {
  Bytes buf;
  Encoder(&buf).PutVarint(300);
  EXPECT_EQ(buf, (Bytes{0xac, 0x02}));
}

TEST(BytesTest, EveryTruncationIsDataLoss) {
  Bytes buf;
  Encoder enc(&buf);
  enc.PutVarint(1u << 20);
  enc.PutU64(42);
  enc.PutBytes(std::string_view("payload"));
  for (size_t n = 0; n < buf.size(); ++n) {
    Decoder dec(ByteSpan(buf.data(), n), "record");
    dec.GetVarint();
    dec.GetU64();
    dec.GetBytes();
    Status s = dec.Finish();
    EXPECT_EQ(s.code(), StatusCode::kDataLoss) << "length " << n;
  }
}

TEST(BytesTest, RejectsOverlongAndOverflowingVarints) {
  Bytes eleven(11, 0x80);
  Decoder d1(eleven, "v");
  d1.GetVarint();
  EXPECT_EQ(d1.status().code(), StatusCode::kDataLoss);
  Bytes overflow = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
  Decoder d2(overflow, "v");
  d2.GetVarint();
  EXPECT_EQ(d2.status().code(), StatusCode::kDataLoss);
}

TEST(BytesTest, ByteStringLongerThanInputIsDataLoss) {
  Bytes buf = {0x10, 'a', 'b'};
  Decoder dec(buf, "v");
  dec.GetBytes();
  EXPECT_EQ(dec.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(dec.status().message().find("v:"), std::string_view::npos);
}

TEST(BytesTest, TrailingBytesAreDataLoss) {
  Bytes buf = {0x01, 0x02};
  Decoder dec(buf, "v");
  dec.GetU8();
  EXPECT_EQ(dec.Finish().code(), StatusCode::kDataLoss);
}

TEST(BytesTest, TlvRoundTripSkipsUnknownTags) {
  Bytes buf;
  Encoder enc(&buf);
  enc.PutTagVarint(1, 99);
  enc.PutTagBytes(77, std::string_view("future field"));
  enc.PutTagBytes(2, std::string_view("value"));
  TlvReader r(buf, "tlv");
  uint64_t one = 0;
  std::string two;
  while (r.Next()) {
    if (r.tag() == 1) one = r.VarintValue();
    if (r.tag() == 2) two = std::string(AsStringView(r.value()));
  }
  ASSERT_TRUE(r.status().ok());
  EXPECT_EQ(one, 99u);
  EXPECT_EQ(two, "value");
}

TEST(BytesTest, TlvTruncatedValueIsDataLoss) {
  Bytes buf;
  Encoder(&buf).PutTagBytes(3, std::string_view("abcdef"));
  buf.pop_back();
  TlvReader r(buf, "tlv");
  while (r.Next()) {
  }
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace phivault
