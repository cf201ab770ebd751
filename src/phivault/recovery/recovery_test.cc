#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "phivault/crypto/crypto.h"
#include "phivault/recovery/qr.h"
#include "phivault/recovery/shamir.h"
#include "phivault/recovery/share_code.h"

namespace phivault::recovery {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// ---------------------------------------------------------------------------------------------
// GF(256)

// Schoolbook multiplication: a carry-less product, then long division by 0x11B. Slow and
// branchy, but obviously right.
uint8_t SlowMul(uint8_t a, uint8_t b) {
  unsigned product = 0;
  for (unsigned i = 0; i < 8; ++i) {
    if ((static_cast<unsigned>(b) >> i) & 1u) product ^= static_cast<unsigned>(a) << i;
  }
  for (unsigned degree = 14; degree >= 8; --degree) {
    if ((product >> degree) & 1u) product ^= 0x11Bu << (degree - 8);
  }
  return static_cast<uint8_t>(product);
}

TEST(Gf256Test, MulMatchesSlowReferenceForAllPairs) {
  int mismatches = 0;
  for (unsigned a = 0; a < 256; ++a) {
    for (unsigned b = 0; b < 256; ++b) {
      auto a8 = static_cast<uint8_t>(a);
      auto b8 = static_cast<uint8_t>(b);
      if (gf256::Mul(a8, b8) != SlowMul(a8, b8)) ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(Gf256Test, EveryNonZeroElementTimesItsInverseIsOne) {
  for (unsigned a = 1; a < 256; ++a) {
    auto a8 = static_cast<uint8_t>(a);
    EXPECT_EQ(gf256::Mul(a8, gf256::Inv(a8)), 1) << a;
  }
  EXPECT_EQ(gf256::Inv(0), 0);
  EXPECT_EQ(gf256::Inv(1), 1);
}

TEST(Gf256Test, KnownProducts) {
  // From FIPS-197: {53}{CA} = {01} (section 4.2.1's inverse pair), {57}{83} = {C1} and
  // {57}{13} = {FE} (section 4.2), and xtime: {57}{02} = {AE}, {AE}{02} = {47} (reduced).
  EXPECT_EQ(gf256::Mul(0x53, 0xCA), 0x01);
  EXPECT_EQ(gf256::Mul(0x57, 0x83), 0xC1);
  EXPECT_EQ(gf256::Mul(0x57, 0x13), 0xFE);
  EXPECT_EQ(gf256::Mul(0x57, 0x02), 0xAE);
  EXPECT_EQ(gf256::Mul(0xAE, 0x02), 0x47);
  EXPECT_EQ(gf256::Inv(0x53), 0xCA);
  EXPECT_EQ(gf256::Mul(0x00, 0xFF), 0x00);
}

TEST(Gf256Test, InterpolationReproducesThePolynomial) {
  const std::vector<uint8_t> coeffs = {0x9C, 0x13, 0xE7, 0x01};
  const std::vector<uint8_t> xs = {3, 250, 17, 64};
  std::vector<uint8_t> ys;
  for (uint8_t x : xs) ys.push_back(gf256::Eval(coeffs, x));
  for (unsigned t = 0; t < 256; ++t) {
    auto t8 = static_cast<uint8_t>(t);
    EXPECT_EQ(gf256::InterpolateAt(xs, ys, t8), gf256::Eval(coeffs, t8)) << t;
  }
}

// ---------------------------------------------------------------------------------------------
// Split and Combine

KitId MakeKit(uint8_t first) {
  KitId kit{};
  for (size_t i = 0; i < kit.size(); ++i) kit[i] = static_cast<uint8_t>(first + i);
  return kit;
}

Bytes RandomSecret(size_t n) {
  Bytes secret(n);
  EXPECT_TRUE(crypto::RandomBytes(secret).ok());
  return secret;
}

Share Copy(const Share& share) {
  return Share{share.kit_id, share.threshold, share.count, share.x, share.y.Clone()};
}

// The shares at `indices` (0-based) of `all`, in that order.
std::vector<Share> Pick(const std::vector<Share>& all, const std::vector<size_t>& indices) {
  std::vector<Share> out;
  for (size_t i : indices) out.push_back(Copy(all[i]));
  return out;
}

std::vector<Share> SplitOrDie(ByteSpan secret, int threshold, int count, uint8_t kit = 1) {
  auto shares = Split(secret, MakeKit(kit), threshold, count);
  EXPECT_TRUE(shares.ok()) << shares.status().ToString();
  return shares.ok() ? std::move(*shares) : std::vector<Share>();
}

TEST(ShamirTest, SplitFillsInTheShareFields) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> shares = SplitOrDie(secret, 3, 5, 7);
  ASSERT_EQ(shares.size(), 5u);
  for (size_t i = 0; i < shares.size(); ++i) {
    EXPECT_EQ(shares[i].kit_id, MakeKit(7));
    EXPECT_EQ(shares[i].threshold, 3);
    EXPECT_EQ(shares[i].count, 5);
    EXPECT_EQ(shares[i].x, i + 1);
    EXPECT_EQ(shares[i].y.size(), 32u);
    EXPECT_FALSE(shares[i].y.Equals(secret));  // would mean the coefficients were all zero
  }
}

struct KN {
  int threshold;
  int count;
};

TEST(ShamirTest, EveryThresholdSizedSubsetRecoversTheSecret) {
  for (KN kn : {KN{2, 2}, KN{2, 3}, KN{3, 5}, KN{5, 5}, KN{2, 5}, KN{4, 5}}) {
    for (size_t length : {size_t{1}, size_t{32}, size_t{64}}) {
      SCOPED_TRACE(testing::Message()
                   << kn.threshold << " of " << kn.count << ", " << length << " bytes");
      Bytes secret = RandomSecret(length);
      std::vector<Share> shares = SplitOrDie(secret, kn.threshold, kn.count);
      int subsets = 0;
      for (unsigned mask = 0; mask < (1u << kn.count); ++mask) {
        if (std::popcount(mask) != kn.threshold) continue;
        std::vector<size_t> indices;
        for (size_t i = 0; i < static_cast<size_t>(kn.count); ++i) {
          if ((mask >> i) & 1u) indices.push_back(i);
        }
        // Both orders: the result must not depend on the order the shares are typed in.
        for (bool reverse : {false, true}) {
          if (reverse) std::reverse(indices.begin(), indices.end());
          auto combined = Combine(Pick(shares, indices));
          ASSERT_TRUE(combined.ok()) << combined.status().ToString();
          EXPECT_TRUE(combined->Equals(secret));
        }
        ++subsets;
      }
      EXPECT_GT(subsets, 0);
    }
  }
}

TEST(ShamirTest, LargeKitsRecoverTheSecret) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> shares = SplitOrDie(secret, 10, 20);
  auto combined = Combine(Pick(shares, {19, 0, 7, 12, 3, 15, 9, 1, 18, 5}));
  ASSERT_TRUE(combined.ok()) << combined.status().ToString();
  EXPECT_TRUE(combined->Equals(secret));

  shares = SplitOrDie(secret, 255, 255);
  ASSERT_EQ(shares.size(), 255u);
  EXPECT_EQ(shares.back().x, 255);
  combined = Combine(shares);
  ASSERT_TRUE(combined.ok()) << combined.status().ToString();
  EXPECT_TRUE(combined->Equals(secret));
}

TEST(ShamirTest, FewerSharesThanTheThresholdFail) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> shares = SplitOrDie(secret, 3, 5);
  auto combined = Combine(Pick(shares, {0, 4}));
  ASSERT_FALSE(combined.ok());
  EXPECT_EQ(combined.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(combined.status().message(),
            "this kit needs 3 shares; got 2 (each share names the threshold)");

  // A share given twice counts once.
  combined = Combine(Pick(shares, {0, 4, 0}));
  ASSERT_FALSE(combined.ok());
  EXPECT_EQ(combined.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(combined.status().message(), HasSubstr("needs 3 shares; got 2"));

  combined = Combine({});
  ASSERT_FALSE(combined.ok());
  EXPECT_EQ(combined.status().code(), StatusCode::kFailedPrecondition);
}

TEST(ShamirTest, ConsistentExtraSharesAreAccepted) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> shares = SplitOrDie(secret, 3, 5);
  auto combined = Combine(Pick(shares, {2, 0, 4, 1, 3}));
  ASSERT_TRUE(combined.ok()) << combined.status().ToString();
  EXPECT_TRUE(combined->Equals(secret));

  // An identical duplicate is simply ignored.
  combined = Combine(Pick(shares, {2, 0, 2, 4}));
  ASSERT_TRUE(combined.ok()) << combined.status().ToString();
  EXPECT_TRUE(combined->Equals(secret));
}

TEST(ShamirTest, AlteredExtraShareIsDetected) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> shares = SplitOrDie(secret, 3, 5);
  std::vector<Share> given = Pick(shares, {0, 1, 2, 3});
  given[3].y.data()[17] ^= 0x04;  // share 4, given as the extra one
  auto combined = Combine(given);
  ASSERT_FALSE(combined.ok());
  EXPECT_EQ(combined.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(combined.status().message(),
            "share 4 does not agree with shares 1, 2 and 3: at least one of them is damaged");
}

TEST(ShamirTest, AlteredShareAmongTheFirstIsDetectedByAnExtraOne) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> shares = SplitOrDie(secret, 3, 5);
  std::vector<Share> given = Pick(shares, {0, 1, 2, 3, 4});
  given[1].y.data()[0] ^= 0x80;
  auto combined = Combine(given);
  ASSERT_FALSE(combined.ok());
  EXPECT_EQ(combined.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(combined.status().message(), StartsWith("share 4 does not agree"));
}

// The documented limit of the check: with exactly K shares every set of values lies on some
// polynomial, so a damaged share yields a wrong secret (which the keystore slot then refuses).
TEST(ShamirTest, WithExactlyThresholdSharesDamageCannotBeSeen) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> given = Pick(SplitOrDie(secret, 3, 5), {0, 1, 2});
  given[2].y.data()[5] ^= 0x01;
  auto combined = Combine(given);
  ASSERT_TRUE(combined.ok()) << combined.status().ToString();
  EXPECT_FALSE(combined->Equals(secret));
}

TEST(ShamirTest, SameNumberWithDifferentValuesIsRefused) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> given = Pick(SplitOrDie(secret, 2, 3), {0, 1, 1});
  given[2].y.data()[31] ^= 0x10;
  auto combined = Combine(given);
  ASSERT_FALSE(combined.ok());
  EXPECT_EQ(combined.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(combined.status().message(),
            "two different shares both carry number 2: one of them is damaged");
}

TEST(ShamirTest, SharesOfTwoKitsAreRefused) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> a = SplitOrDie(secret, 2, 3, /*kit=*/1);
  std::vector<Share> b = SplitOrDie(secret, 2, 3, /*kit=*/2);
  std::vector<Share> given;
  given.push_back(Copy(a[0]));
  given.push_back(Copy(b[1]));
  auto combined = Combine(given);
  ASSERT_FALSE(combined.ok());
  EXPECT_EQ(combined.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(combined.status().message(), HasSubstr("different recovery kits"));
}

TEST(ShamirTest, InconsistentShareHeadersAreRefused) {
  Bytes secret = RandomSecret(16);
  std::vector<Share> shares = SplitOrDie(secret, 2, 3);
  auto expect_refused = [&](std::vector<Share> given, std::string_view words) {
    auto combined = Combine(given);
    ASSERT_FALSE(combined.ok());
    EXPECT_EQ(combined.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(combined.status().message(), HasSubstr(words));
  };
  std::vector<Share> given = Pick(shares, {0, 1});
  given[1].threshold = 3;
  expect_refused(std::move(given), "do not belong together");

  given = Pick(shares, {0, 1});
  given[1].count = 4;
  expect_refused(std::move(given), "do not belong together");

  given = Pick(shares, {0, 1});
  given[1].y.Truncate(15);
  expect_refused(std::move(given), "different length");

  given = Pick(shares, {0, 1});
  given[1].x = 0;  // the point of the secret itself
  expect_refused(std::move(given), "outside 1..3");

  given = Pick(shares, {0, 1});
  given[1].x = 4;
  expect_refused(std::move(given), "outside 1..3");
}

TEST(ShamirTest, SplitRefusesBadParameters) {
  Bytes secret = RandomSecret(32);
  auto expect_refused = [&](ByteSpan s, int threshold, int count) {
    auto shares = Split(s, MakeKit(1), threshold, count);
    ASSERT_FALSE(shares.ok()) << threshold << " of " << count;
    EXPECT_EQ(shares.status().code(), StatusCode::kInvalidArgument);
  };
  expect_refused(secret, 1, 3);
  expect_refused(secret, 0, 3);
  expect_refused(secret, -2, 3);
  expect_refused(secret, 3, 2);
  expect_refused(secret, 2, 256);
  expect_refused(secret, 256, 256);
  expect_refused(ByteSpan(), 2, 3);
  expect_refused(RandomSecret(65), 2, 3);
  EXPECT_TRUE(Split(RandomSecret(64), MakeKit(1), 2, 2).ok());
}

TEST(ShamirTest, SplittingTwiceGivesDifferentShares) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> a = SplitOrDie(secret, 2, 2);
  std::vector<Share> b = SplitOrDie(secret, 2, 2);
  EXPECT_FALSE(a[0].y.Equals(b[0].y.span()));
}

// K - 1 shares reveal nothing. Take two shares of a 3-of-5 split. For every candidate c for the
// first secret byte, count the degree-2 polynomials c + a1 x + a2 x^2 (all 65536 choices of a1,
// a2) that pass through both shares' points: it is exactly one for every c, so the two shares
// are consistent with each of the 256 values equally often and an attacker holding them learns
// nothing about the byte. The one polynomial is the interpolation through (0, c) and the shares.
TEST(ShamirTest, ThresholdMinusOneSharesFitEverySecretEqually) {
  Bytes secret = RandomSecret(32);
  std::vector<Share> shares = SplitOrDie(secret, 3, 5);
  const uint8_t x1 = shares[1].x, y1 = shares[1].y.data()[0];
  const uint8_t x2 = shares[3].x, y2 = shares[3].y.data()[0];
  // a · x and a · x^2 for every a, at both points, so the search below is table lookups.
  std::array<uint8_t, 256> ax1{}, ax1sq{}, ax2{}, ax2sq{};
  for (unsigned a = 0; a < 256; ++a) {
    auto a8 = static_cast<uint8_t>(a);
    ax1[a] = gf256::Mul(a8, x1);
    ax1sq[a] = gf256::Mul(a8, gf256::Mul(x1, x1));
    ax2[a] = gf256::Mul(a8, x2);
    ax2sq[a] = gf256::Mul(a8, gf256::Mul(x2, x2));
  }

  for (unsigned c = 0; c < 256; ++c) {
    int through_both = 0;
    std::vector<uint8_t> found;
    for (unsigned a1 = 0; a1 < 256; ++a1) {
      for (unsigned a2 = 0; a2 < 256; ++a2) {
        if ((c ^ ax1[a1] ^ ax1sq[a2]) == y1 && (c ^ ax2[a1] ^ ax2sq[a2]) == y2) {
          ++through_both;
          found = {static_cast<uint8_t>(c), static_cast<uint8_t>(a1), static_cast<uint8_t>(a2)};
        }
      }
    }
    ASSERT_EQ(through_both, 1) << "secret byte candidate " << c;
    EXPECT_EQ(gf256::Eval(found, x1), y1);
    EXPECT_EQ(gf256::Eval(found, x2), y2);
    const std::vector<uint8_t> xs = {0, x1, x2};
    const std::vector<uint8_t> ys = {static_cast<uint8_t>(c), y1, y2};
    for (unsigned t = 0; t < 256; t += 15) {
      auto t8 = static_cast<uint8_t>(t);
      EXPECT_EQ(gf256::InterpolateAt(xs, ys, t8), gf256::Eval(found, t8));
    }
    // The candidate that is the real byte gives the dealer's polynomial, which predicts the
    // shares not used here; any other candidate predicts none of them.
    int predicted = 0;
    for (size_t other : {size_t{0}, size_t{2}, size_t{4}}) {
      predicted += gf256::Eval(found, shares[other].x) == shares[other].y.data()[0] ? 1 : 0;
    }
    EXPECT_EQ(predicted, c == secret[0] ? 3 : 0) << "secret byte candidate " << c;
  }
}

// Shares computed by hand. Secret {2A, 07}, 3 of 4, so each byte has a degree-2 polynomial:
//   byte 0: f(x) = 2A + 01·x + 02·x^2
//   byte 1: g(x) = 07 + 03·x + 80·x^2
// Squares: 1^2 = 01, 2^2 = 04, 3^2 = (x+1)^2 = x^2+1 = 05, 4^2 = 10. Addition is XOR.
//   f(1) = 2A^01^02 = 29     f(2) = 2A^02^08 = 20     f(3) = 2A^03^0A = 23     f(4) = 2A^04^20 = 0E
// For g, 80·02 = 100 reduced by 11B = 1B, so 80·04 = 36, 80·05 = 36^80 = B6, 80·10 = D8;
// 03·02 = 06, 03·03 = 05, 03·04 = 0C:
//   g(1) = 07^03^80 = 84     g(2) = 07^06^36 = 37     g(3) = 07^05^B6 = B4     g(4) = 07^0C^D8 = D3
// Combining shares 1, 2, 3: each Lagrange weight at 0 is 1 (e.g. L1(0) = 2·3 / (3·2)), so the
// secret is y1^y2^y3: 29^20^23 = 2A and 84^37^B4 = 07.
TEST(ShamirTest, KnownAnswer) {
  const Bytes secret = {0x2A, 0x07};
  const Bytes coefficients = {0x01, 0x02, 0x03, 0x80};
  auto shares = internal::SplitWithCoefficients(secret, MakeKit(0), 3, 4, coefficients);
  ASSERT_TRUE(shares.ok()) << shares.status().ToString();
  ASSERT_EQ(shares->size(), 4u);
  EXPECT_EQ(ToHex((*shares)[0].y.span()), "2984");
  EXPECT_EQ(ToHex((*shares)[1].y.span()), "2037");
  EXPECT_EQ(ToHex((*shares)[2].y.span()), "23b4");
  EXPECT_EQ(ToHex((*shares)[3].y.span()), "0ed3");

  auto combined = Combine(Pick(*shares, {0, 1, 2}));
  ASSERT_TRUE(combined.ok()) << combined.status().ToString();
  EXPECT_EQ(ToHex(combined->span()), "2a07");
  combined = Combine(Pick(*shares, {3, 1, 0}));
  ASSERT_TRUE(combined.ok()) << combined.status().ToString();
  EXPECT_EQ(ToHex(combined->span()), "2a07");

  auto wrong_count = internal::SplitWithCoefficients(secret, MakeKit(0), 3, 4, Bytes(3));
  EXPECT_EQ(wrong_count.status().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------------
// Text form

// Share 1 of the known-answer kit above, with kit id 00 01 … 0F.
Share KnownShare(size_t index = 0) {
  auto shares = internal::SplitWithCoefficients(Bytes{0x2A, 0x07}, MakeKit(0), 3, 4,
                                                Bytes{0x01, 0x02, 0x03, 0x80});
  EXPECT_TRUE(shares.ok());
  return std::move((*shares)[index]);
}

// Computed independently with Python's base64.b32encode and hashlib.sha256.
constexpr std::string_view kKnownShare1Text =
    "PHVR1-AEAAC-AQDAQ-CQMBY-IBEFA-WDANB-YHQGB-ABAIU-YJTZM-2COA";
constexpr std::string_view kKnownShare4Text =
    "PHVR1-AEAAC-AQDAQ-CQMBY-IBEFA-WDANB-YHQGB-AEAIH-NHRZE-IUJQ";

void ExpectSameShare(const Share& a, const Share& b) {
  EXPECT_EQ(a.kit_id, b.kit_id);
  EXPECT_EQ(a.threshold, b.threshold);
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.x, b.x);
  EXPECT_TRUE(a.y.Equals(b.y.span()));
}

TEST(ShareCodeTest, Base32MatchesRfc4648Vectors) {
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},
      {"f", "MY"},
      {"fo", "MZXQ"},
      {"foo", "MZXW6"},
      {"foob", "MZXW6YQ"},
      {"fooba", "MZXW6YTB"},
      {"foobar", "MZXW6YTBOI"},
  };
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(internal::Base32Encode(AsBytes(plain)), encoded);
    auto decoded = internal::Base32Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(AsStringView(decoded->span()), plain);
  }
  EXPECT_FALSE(internal::Base32Decode("MZXW6YTBOJ").ok());  // unused bits set
  EXPECT_FALSE(internal::Base32Decode("MZX").ok());         // no such length
  EXPECT_FALSE(internal::Base32Decode("MZXW6YT0").ok());    // not in the alphabet
}

TEST(ShareCodeTest, KnownShareHasKnownText) {
  EXPECT_EQ(EncodeShare(KnownShare(0)), kKnownShare1Text);
  EXPECT_EQ(EncodeShare(KnownShare(3)), kKnownShare4Text);
}

TEST(ShareCodeTest, RoundTrip) {
  std::vector<Share> shares = SplitOrDie(RandomSecret(32), 3, 5, 9);
  for (const Share& share : shares) {
    auto decoded = DecodeShare(EncodeShare(share));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    ExpectSameShare(*decoded, share);
  }
  for (size_t length : {size_t{1}, size_t{64}}) {
    std::vector<Share> other = SplitOrDie(RandomSecret(length), 2, 255);
    auto decoded = DecodeShare(EncodeShare(other.back()));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    ExpectSameShare(*decoded, other.back());
  }
}

TEST(ShareCodeTest, TextIsPrefixAndGroupsOfQrAlphanumericCharacters) {
  std::vector<Share> shares = SplitOrDie(RandomSecret(32), 3, 5);
  std::string text = EncodeShare(shares[2]);
  ASSERT_THAT(text, StartsWith("PHVR1-"));
  std::string body = text.substr(6);
  for (char c : body) {
    EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= '2' && c <= '7') || c == '-') << c;
  }
  std::vector<std::string> groups;
  std::stringstream stream(body);
  for (std::string group; std::getline(stream, group, '-');) groups.push_back(group);
  ASSERT_GE(groups.size(), 2u);
  for (size_t i = 0; i + 1 < groups.size(); ++i) EXPECT_EQ(groups[i].size(), 5u);
  EXPECT_GE(groups.back().size(), 1u);
  EXPECT_LE(groups.back().size(), 5u);
  // 1 + 16 + 4 + 32 + 4 = 57 bytes are 92 base32 characters.
  EXPECT_EQ(std::count_if(body.begin(), body.end(), [](char c) { return c != '-'; }), 92);
}

TEST(ShareCodeTest, AcceptsWhatPeopleRetype) {
  const Share expected = KnownShare(0);
  for (std::string_view typed : {
           "phvr1-aeaac-aqdaq-cqmby-ibefa-wdanb-yhqgb-abaiu-yjtzm-2coa",
           "PHVR1 AEAAC AQDAQ CQMBY IBEFA\nWDANB YHQGB ABAIU YJTZM 2COA\n",
           "PHVR1AEAACAQDAQCQMBYIBEFAWDANBYHQGBABAIUYJTZM2COA",
           "  PHVR1--AEAAC-AQdaq-CQMBY-\r\nIBEFA-WDANB-\tYHQGB--ABAIU-YJTZM-2CO-A-",
       }) {
    auto decoded = DecodeShare(typed);
    ASSERT_TRUE(decoded.ok()) << typed << ": " << decoded.status().ToString();
    ExpectSameShare(*decoded, expected);
  }
}

TEST(ShareCodeTest, EveryOneCharacterChangeIsATypo) {
  const std::string text(kKnownShare1Text);
  const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  int tried = 0;
  for (size_t i = kShareTextPrefix.size(); i < text.size(); ++i) {
    if (text[i] == '-') continue;
    for (char replacement : alphabet) {
      if (replacement == text[i]) continue;
      std::string typo = text;
      typo[i] = replacement;
      auto decoded = DecodeShare(typo);
      ASSERT_FALSE(decoded.ok()) << typo;
      EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
      EXPECT_THAT(decoded.status().message(), StartsWith("share has a typo")) << typo;
      ++tried;
    }
  }
  EXPECT_EQ(tried, 44 * 31);  // 27 bytes are 44 characters

  std::string typo = text;
  typo[20] = typo[20] == 'A' ? 'B' : 'A';
  EXPECT_EQ(DecodeShare(typo).status().message(), "share has a typo: checksum mismatch");
}

TEST(ShareCodeTest, MissingExtraOrForeignCharactersAreTypos) {
  const std::string text(kKnownShare1Text);
  for (size_t i = kShareTextPrefix.size(); i < text.size(); ++i) {
    if (text[i] == '-') continue;
    std::string missing = text;
    missing.erase(i, 1);
    std::string extra = text;
    extra.insert(i, 1, 'Q');
    for (const std::string& typo : {missing, extra}) {
      auto decoded = DecodeShare(typo);
      ASSERT_FALSE(decoded.ok()) << typo;
      EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
      EXPECT_THAT(decoded.status().message(), StartsWith("share has a typo")) << typo;
    }
  }
  // '0' is not in the alphabet (it would be 'O'); the position counts from 1 in the input.
  std::string zero = text;
  zero[8] = '0';
  auto decoded = DecodeShare(zero);
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), StartsWith("share has a typo at character 9"));

  decoded = DecodeShare("PHVR1-AEAAC-AQDAQ");
  EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(decoded.status().message(), StartsWith("share has a typo"));
}

TEST(ShareCodeTest, OtherTextIsNotAShare) {
  const std::string body(kKnownShare1Text.substr(5));
  for (std::string text :
       {std::string(""), std::string("hello"), std::string("PHVR"), std::string("PHVR-") + body,
        std::string("PHVX1") + body, std::string("XPHVR1") + body, std::string("PHVRA") + body}) {
    auto decoded = DecodeShare(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(decoded.status().message(), StartsWith("not a phivault recovery share")) << text;
  }
}

// Builds a share text around `fields` (everything before the checksum) with a valid checksum.
std::string TextWithChecksum(Bytes fields) {
  Id digest = crypto::Sha256(fields);
  fields.insert(fields.end(), digest.bytes.begin(), digest.bytes.begin() + 4);
  return "PHVR1-" + internal::Base32Encode(fields);
}

Bytes KnownShareFields() {
  Bytes fields = {1};
  KitId kit = MakeKit(0);
  fields.insert(fields.end(), kit.begin(), kit.end());
  fields.insert(fields.end(), {3, 4, 1, 2, 0x29, 0x84});  // 3 of 4, share 1, 2 bytes, y
  return fields;
}

TEST(ShareCodeTest, NewerVersionsAreRefused) {
  // The helper agrees with EncodeShare, so the variations below differ only where intended.
  ASSERT_TRUE(DecodeShare(TextWithChecksum(KnownShareFields())).ok());

  std::string text(kKnownShare1Text);
  text[4] = '2';
  auto decoded = DecodeShare(text);
  EXPECT_EQ(decoded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(decoded.status().message(), HasSubstr("text version 2"));

  Bytes fields = KnownShareFields();
  fields[0] = 2;
  decoded = DecodeShare(TextWithChecksum(fields));
  EXPECT_EQ(decoded.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(decoded.status().message(), HasSubstr("format version 2"));
}

TEST(ShareCodeTest, ImpossibleFieldsBehindAValidChecksumAreRefused) {
  struct Change {
    size_t offset;
    uint8_t value;
  };
  // Offsets: 17 threshold, 18 count, 19 x, 20 len.
  for (Change change :
       {Change{17, 1}, Change{18, 2}, Change{19, 0}, Change{19, 5}, Change{20, 3}, Change{20, 1}}) {
    Bytes fields = KnownShareFields();
    fields[change.offset] = change.value;
    auto decoded = DecodeShare(TextWithChecksum(fields));
    ASSERT_FALSE(decoded.ok()) << change.offset;
    EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(decoded.status().message(), StartsWith("recovery share is malformed"));
  }
}

// ---------------------------------------------------------------------------------------------
// QR codes

class QrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/phivault-recovery-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(std::string_view name) const { return dir_ + "/" + std::string(name); }

  std::string dir_;
};

Bytes ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string AsString(const Bytes& b) { return std::string(b.begin(), b.end()); }

// Runs zbarimg on `path` and returns what it printed on stdout. Its stderr (where it may also
// complain about a missing D-Bus) goes to a side file that failures quote. A missing zbarimg
// fails the test: without it nothing here shows that the codes scan.
std::string Scan(const std::string& path) {
  const std::string errors = path + ".stderr";
  std::string command = "zbarimg --raw -q '" + path + "' 2>'" + errors + "'";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "cannot run zbarimg";
    return "";
  }
  std::string output;
  char buffer[512];
  for (size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  int status = pclose(pipe);
  std::string stderr_text = AsString(ReadAll(errors));
  if (!WIFEXITED(status) || WEXITSTATUS(status) == 127) {
    ADD_FAILURE() << "zbarimg is not installed (Debian package zbar-tools): " << stderr_text;
  } else if (WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << "zbarimg found no code in " << path << " (exit " << WEXITSTATUS(status)
                  << "): " << stderr_text;
  }
  return output;
}

std::string ShareText() {
  std::vector<Share> shares = SplitOrDie(RandomSecret(kRecoverySecretSize), 3, 5);
  return EncodeShare(shares[1]);
}

uint32_t LoadBE32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

TEST_F(QrTest, PngScansBackToTheShareText) {
  std::string text = ShareText();
  std::string path = Path("share.png");
  ASSERT_TRUE(WriteQrPng(text, path).ok());
  EXPECT_EQ(Scan(path), text + "\n");  // zbarimg ends each symbol with a newline
}

TEST_F(QrTest, PngIsPrivateOneBitGrayscaleAtEightPixelsPerModule) {
  std::string text = ShareText();
  std::string path = Path("share.png");
  ASSERT_TRUE(WriteQrPng(text, path).ok());

  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  auto symbol = internal::EncodeQr(text);
  ASSERT_TRUE(symbol.ok());
  Bytes png = ReadAll(path);
  ASSERT_GE(png.size(), 33u);
  // Signature, then the IHDR chunk: length, "IHDR", width, height, bit depth, colour type.
  EXPECT_EQ(AsStringView(ByteSpan(png).subspan(12, 4)), "IHDR");
  const uint32_t pixels = static_cast<uint32_t>(symbol->width + 8) * 8;
  EXPECT_EQ(LoadBE32(&png[16]), pixels);
  EXPECT_EQ(LoadBE32(&png[20]), pixels);
  EXPECT_EQ(png[24], 1);  // bit depth
  EXPECT_EQ(png[25], 0);  // grayscale
}

// Every 8 x 8 block of pixels is one module, black where the symbol is dark, upright (zbarimg
// also reads mirrored codes, so the scan test cannot show this), with a white quiet zone.
TEST_F(QrTest, PngPixelsAreTheUprightSymbol) {
  std::string text = ShareText();
  std::string path = Path("share.png");
  ASSERT_TRUE(WriteQrPng(text, path).ok());
  auto symbol = internal::EncodeQr(text);
  ASSERT_TRUE(symbol.ok());

  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  ASSERT_NE(png_image_begin_read_from_file(&image, path.c_str()), 0) << image.message;
  image.format = PNG_FORMAT_GRAY;
  std::vector<uint8_t> pixels(size_t{image.width} * image.height);
  ASSERT_NE(png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr), 0) << image.message;
  const int modules = symbol->width + 8;
  ASSERT_EQ(image.width, static_cast<uint32_t>(modules * 8));
  ASSERT_EQ(image.height, image.width);
  int wrong = 0;
  for (int y = 0; y < modules * 8; ++y) {
    for (int x = 0; x < modules * 8; ++x) {
      int r = y / 8 - 4, c = x / 8 - 4;
      bool dark = r >= 0 && r < symbol->width && c >= 0 && c < symbol->width && symbol->Dark(r, c);
      uint8_t pixel = pixels[static_cast<size_t>(y) * image.width + static_cast<size_t>(x)];
      if (pixel != (dark ? 0 : 255)) ++wrong;
    }
  }
  EXPECT_EQ(wrong, 0);
  // The always-dark module beside the bottom-left finder, independent of libqrencode's layout.
  const int w = symbol->width;
  EXPECT_EQ(pixels[static_cast<size_t>((w - 8 + 4) * 8 + 3) * image.width + (8 + 4) * 8 + 3], 0);
}

TEST_F(QrTest, PngRefusesAnExistingPath) {
  std::string path = Path("taken.png");
  { std::ofstream(path) << "keep me"; }
  Status status = WriteQrPng(ShareText(), path);
  EXPECT_EQ(status.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(AsStringView(ReadAll(path)), "keep me");

  status = WriteQrPng(ShareText(), Path("missing/share.png"));
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
}

TEST_F(QrTest, RefusesTextNoCodeCanHold) {
  EXPECT_EQ(WriteQrPng("", Path("empty.png")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QrForTerminal("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QrForTerminal(std::string(8000, 'A')).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(QrForTerminal(std::string_view("A\0B", 3)).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(Path("empty.png")));
}

constexpr char32_t kFull = U'\u2588', kUpper = U'\u2580', kLower = U'\u2584';

// The terminal drawing as lines of code points. Fails the test on anything but the four
// characters and '\n', or on a drawing that does not end in '\n'.
std::vector<std::u32string> Lines(const std::string& drawing) {
  std::vector<std::u32string> lines(1);
  for (size_t i = 0; i < drawing.size();) {
    auto byte = static_cast<unsigned char>(drawing[i]);
    if (byte == '\n') {
      lines.emplace_back();
      ++i;
    } else if (byte == ' ') {
      lines.back().push_back(U' ');
      ++i;
    } else if (byte == 0xE2 && i + 2 < drawing.size()) {  // U+2580..U+25BF: E2 96 80..BF
      char32_t cp = (char32_t{byte} & 0x0F) << 12 |
                    (static_cast<char32_t>(static_cast<unsigned char>(drawing[i + 1])) & 0x3F)
                        << 6 |
                    (static_cast<char32_t>(static_cast<unsigned char>(drawing[i + 2])) & 0x3F);
      EXPECT_TRUE(cp == kFull || cp == kUpper || cp == kLower)
          << std::hex << static_cast<uint32_t>(cp);
      lines.back().push_back(cp);
      i += 3;
    } else {
      ADD_FAILURE() << "unexpected byte " << static_cast<int>(byte) << " at " << i;
      ++i;
    }
  }
  EXPECT_TRUE(lines.back().empty()) << "the drawing must end with a newline";
  lines.pop_back();
  return lines;
}

// Module rows recovered from a drawing: true where the drawing has ink.
std::vector<std::vector<bool>> InkedModules(const std::vector<std::u32string>& lines) {
  std::vector<std::vector<bool>> rows;
  for (const std::u32string& line : lines) {
    std::vector<bool> upper, lower;
    for (char32_t cp : line) {
      upper.push_back(cp == kFull || cp == kUpper);
      lower.push_back(cp == kFull || cp == kLower);
    }
    rows.push_back(upper);
    rows.push_back(lower);
  }
  return rows;
}

// Writes modules as a plain PBM image (1 is black), `scale` pixels per module.
void WritePbm(const std::vector<std::vector<bool>>& dark, int scale, const std::string& path) {
  std::ofstream out(path);
  const size_t width = dark[0].size() * static_cast<size_t>(scale);
  out << "P1\n" << width << " " << dark.size() * static_cast<size_t>(scale) << "\n";
  for (const std::vector<bool>& row : dark) {
    for (int repeat = 0; repeat < scale; ++repeat) {
      for (bool module : row) {
        for (int i = 0; i < scale; ++i) out << (module ? "1 " : "0 ");
      }
      out << "\n";
    }
  }
}

TEST_F(QrTest, TerminalDrawingHasOnlyBlocksAndEvenLines) {
  for (TerminalColors colors : {TerminalColors::kDarkOnLight, TerminalColors::kLightOnDark}) {
    auto drawing = QrForTerminal(ShareText(), colors);
    ASSERT_TRUE(drawing.ok()) << drawing.status().ToString();
    ASSERT_FALSE(drawing->empty());
    std::vector<std::u32string> lines = Lines(*drawing);
    ASSERT_GE(lines.size(), 10u);
    for (const std::u32string& line : lines) EXPECT_EQ(line.size(), lines[0].size());
  }
}

// The dark-on-light drawing is the symbol itself, upright: ink exactly where libqrencode put
// dark modules, a blank 4-module quiet zone, the three finder patterns in the top-left,
// top-right and bottom-left corners, and the always-dark module beside the bottom-left finder
// (row width - 8, column 8), which a transposed or mirrored drawing would move.
TEST_F(QrTest, TerminalDrawingIsTheUprightSymbol) {
  std::string text = ShareText();
  auto symbol = internal::EncodeQr(text);
  ASSERT_TRUE(symbol.ok());
  auto drawing = QrForTerminal(text);
  ASSERT_TRUE(drawing.ok());
  std::vector<std::vector<bool>> ink = InkedModules(Lines(*drawing));
  const int w = symbol->width;
  const int size = w + 8;
  ASSERT_EQ(ink.size(), static_cast<size_t>(size + 1));  // odd: one extra blank half row
  ASSERT_EQ(ink[0].size(), static_cast<size_t>(size));
  for (int r = 0; r < size + 1; ++r) {
    for (int c = 0; c < size; ++c) {
      bool inside = r >= 4 && r < w + 4 && c >= 4 && c < w + 4;
      bool expected = inside && symbol->Dark(r - 4, c - 4);
      ASSERT_EQ(ink[static_cast<size_t>(r)][static_cast<size_t>(c)], expected) << r << "," << c;
    }
  }
  auto dark = [&](int r, int c) {
    return ink[static_cast<size_t>(r + 4)][static_cast<size_t>(c + 4)];
  };
  // A finder pattern: dark ring of 7, light ring of 5, dark 3x3 centre.
  auto expect_finder = [&](int top, int left) {
    for (int r = 0; r < 7; ++r) {
      for (int c = 0; c < 7; ++c) {
        bool ring = r == 0 || r == 6 || c == 0 || c == 6;
        bool centre = r >= 2 && r <= 4 && c >= 2 && c <= 4;
        EXPECT_EQ(dark(top + r, left + c), ring || centre) << top << "," << left;
      }
    }
  };
  expect_finder(0, 0);
  expect_finder(0, w - 7);
  expect_finder(w - 7, 0);
  EXPECT_TRUE(dark(w - 8, 8));
}

TEST_F(QrTest, TerminalDrawingsScan) {
  std::string text = ShareText();
  for (TerminalColors colors : {TerminalColors::kDarkOnLight, TerminalColors::kLightOnDark}) {
    auto drawing = QrForTerminal(text, colors);
    ASSERT_TRUE(drawing.ok());
    std::vector<std::vector<bool>> dark = InkedModules(Lines(*drawing));
    if (colors == TerminalColors::kLightOnDark) {
      for (std::vector<bool>& row : dark) row.flip();  // the ink is the light modules
    }
    std::string path = Path(colors == TerminalColors::kDarkOnLight ? "dark.pbm" : "light.pbm");
    WritePbm(dark, 4, path);
    EXPECT_EQ(Scan(path), text + "\n");
  }
}

TEST_F(QrTest, LightOnDarkIsTheNegative) {
  std::string text = ShareText();
  auto normal = QrForTerminal(text, TerminalColors::kDarkOnLight);
  auto negative = QrForTerminal(text, TerminalColors::kLightOnDark);
  ASSERT_TRUE(normal.ok() && negative.ok());
  std::vector<std::vector<bool>> a = InkedModules(Lines(*normal));
  std::vector<std::vector<bool>> b = InkedModules(Lines(*negative));
  ASSERT_EQ(a.size(), b.size());
  for (size_t r = 0; r < a.size(); ++r) {
    ASSERT_EQ(a[r].size(), b[r].size());
    for (size_t c = 0; c < a[r].size(); ++c) EXPECT_NE(a[r][c], b[r][c]) << r << "," << c;
  }
}

}  // namespace
}  // namespace phivault::recovery
