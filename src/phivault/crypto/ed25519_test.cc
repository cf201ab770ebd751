#include "phivault/crypto/ed25519.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace phivault::crypto {
namespace {

Bytes Hex(std::string_view h) {
  auto r = FromHex(h);
  EXPECT_TRUE(r.ok()) << h;
  return r.ok() ? *r : Bytes();
}

SecretBytes Seed(std::string_view hex) { return SecretBytes(Hex(hex)); }

// RFC 8032 section 7.1, TEST 1 and TEST 2.
struct Rfc8032Vector {
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

const Rfc8032Vector kRfc8032Vectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

TEST(Ed25519Test, MatchesRfc8032Vectors) {
  for (const Rfc8032Vector& v : kRfc8032Vectors) {
    SCOPED_TRACE(v.seed);
    SecretBytes seed = Seed(v.seed);
    auto public_key = Ed25519PublicKey(seed);
    ASSERT_TRUE(public_key.ok()) << public_key.status().ToString();
    EXPECT_EQ(ToHex(*public_key), v.public_key);

    Bytes message = Hex(v.message);
    auto signature = Ed25519Sign(seed, message);
    ASSERT_TRUE(signature.ok()) << signature.status().ToString();
    EXPECT_EQ(ToHex(*signature), v.signature);
    EXPECT_TRUE(Ed25519Verify(*public_key, message, *signature).ok());
  }
}

class Ed25519TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto seed = Ed25519NewSeed();
    ASSERT_TRUE(seed.ok());
    seed_ = std::move(*seed);
    auto public_key = Ed25519PublicKey(seed_);
    ASSERT_TRUE(public_key.ok());
    public_key_ = Bytes(public_key->begin(), public_key->end());
    ByteSpan message = AsBytes("phivault/v1/audit-checkpoint test message");
    message_.assign(message.begin(), message.end());
    auto signature = Ed25519Sign(seed_, message_);
    ASSERT_TRUE(signature.ok());
    signature_ = Bytes(signature->begin(), signature->end());
    ASSERT_TRUE(Ed25519Verify(public_key_, message_, signature_).ok());
  }
  SecretBytes seed_;
  Bytes public_key_, message_, signature_;
};

TEST_F(Ed25519TamperTest, EveryFlippedBitFails) {
  auto flipped = [](Bytes b, size_t bit) {
    b[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    return b;
  };
  for (size_t bit = 0; bit < 8 * message_.size(); ++bit) {
    Status s = Ed25519Verify(public_key_, flipped(message_, bit), signature_);
    ASSERT_EQ(s.code(), StatusCode::kDataLoss) << "message bit " << bit;
    EXPECT_EQ(s.message(), "signature does not verify");
  }
  for (size_t bit = 0; bit < 8 * signature_.size(); ++bit) {
    ASSERT_EQ(Ed25519Verify(public_key_, message_, flipped(signature_, bit)).code(),
              StatusCode::kDataLoss)
        << "signature bit " << bit;
  }
  for (size_t bit = 0; bit < 8 * public_key_.size(); ++bit) {
    ASSERT_EQ(Ed25519Verify(flipped(public_key_, bit), message_, signature_).code(),
              StatusCode::kDataLoss)
        << "public key bit " << bit;
  }
}

TEST_F(Ed25519TamperTest, AnotherKeysSignatureFails) {
  auto other = Ed25519NewSeed();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->Equals(seed_.span()));
  auto signature = Ed25519Sign(*other, message_);
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(Ed25519Verify(public_key_, message_, *signature).code(), StatusCode::kDataLoss);
}

TEST_F(Ed25519TamperTest, WrongLengths) {
  EXPECT_EQ(Ed25519Verify(public_key_, message_, ByteSpan(signature_).first(63)).code(),
            StatusCode::kDataLoss);
  Bytes longer = signature_;
  longer.push_back(0);
  EXPECT_EQ(Ed25519Verify(public_key_, message_, longer).code(), StatusCode::kDataLoss);
  EXPECT_EQ(Ed25519Verify(ByteSpan(public_key_).first(31), message_, signature_).code(),
            StatusCode::kInvalidArgument);
  SecretBytes short_seed(31);
  EXPECT_EQ(Ed25519PublicKey(short_seed).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519Sign(short_seed, message_).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519PublicKeyPem(ByteSpan(public_key_).first(31)), "");
}

TEST_F(Ed25519TamperTest, PemRoundTrip) {
  std::string pem = Ed25519PublicKeyPem(public_key_);
  EXPECT_TRUE(pem.starts_with("-----BEGIN PUBLIC KEY-----\n")) << pem;
  EXPECT_TRUE(pem.ends_with("-----END PUBLIC KEY-----\n")) << pem;
  auto back = Ed25519PublicKeyFromPem(pem);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ToHex(*back), ToHex(public_key_));
}

TEST(Ed25519PemTest, RejectsOtherInput) {
  EXPECT_EQ(Ed25519PublicKeyFromPem("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Ed25519PublicKeyFromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  // An X25519 (key agreement) key: valid PEM, valid SubjectPublicKeyInfo, wrong algorithm.
  const char* x25519 =
      "-----BEGIN PUBLIC KEY-----\n"
      "MCowBQYDK2VuAyEAKtJnRj6Y6nqROH/UW/77U3x3JHhJZncLSOo2F0bAIxA=\n"
      "-----END PUBLIC KEY-----\n";
  EXPECT_EQ(Ed25519PublicKeyFromPem(x25519).status().code(), StatusCode::kInvalidArgument);
}

class Ed25519OpensslCliTest : public Ed25519TamperTest {
 protected:
  void SetUp() override {
    Ed25519TamperTest::SetUp();
    if (system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl command";
    char tmpl[] = "/tmp/phivault-ed25519-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) {
      ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0);
    }
  }
  void Write(const std::string& name, ByteSpan data) {
    std::ofstream out(dir_ + "/" + name, std::ios::binary);
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    ASSERT_TRUE(out.good());
  }
  int OpensslVerify() {
    std::string cmd = "cd '" + dir_ +
                      "' && openssl pkeyutl -verify -pubin -inkey pub.pem -rawin -in msg "
                      "-sigfile sig >out 2>&1";
    return system(cmd.c_str());
  }
  std::string dir_;
};

// An auditor can check a checkpoint signature with stock OpenSSL and our exported PEM alone.
TEST_F(Ed25519OpensslCliTest, OpensslVerifiesOurSignature) {
  Write("pub.pem", AsBytes(Ed25519PublicKeyPem(public_key_)));
  Write("msg", message_);
  Write("sig", signature_);
  EXPECT_EQ(OpensslVerify(), 0);

  Bytes bad = signature_;
  bad[10] ^= 0x01;
  Write("sig", bad);
  EXPECT_NE(OpensslVerify(), 0);
}

}  // namespace
}  // namespace phivault::crypto
