#include "phivault/crypto/crypto.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace phivault::crypto {
namespace {

Bytes Hex(std::string_view h) {
  auto r = FromHex(h);
  EXPECT_TRUE(r.ok()) << h;
  return r.ok() ? *r : Bytes();
}

// Known-answer vectors from NIST CAVP `gcmEncryptExtIV256.rsp` (Keylen 256, IVlen 96,
// Taglen 128).
struct GcmVector {
  const char* key;
  const char* iv;
  const char* aad;
  const char* pt;
  const char* ct;
  const char* tag;
};

const GcmVector kNistVectors[] = {
    {"b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4", "516c33929df5a3284ff463d7",
     "", "", "", "bdc1ac884d332457a1d2664f168c76f0"},
    {"31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22", "0d18e06c7c725ac9e362e1ce",
     "", "2db5168e932556f8089a0622981d017d", "fa4362189661d163fcd6a56d8bf0405a",
     "d636ac1bbedd5cc3ee727dc2ab4a9489"},
    {"92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b", "ac93a1a6145299bde902f21a",
     "1e0889016f67601c8ebea4943bc23ad6", "2d71bcfa914e4ac045b2aa60955fad24",
     "8995ae2e6df3dbf96fac7b7137bae67f", "eca5aa77d51d4a0a14d9c51e1da474ab"},
    {"97431e565e8370a4879de962746a2fd67eca868b1c8e51eece2c1f94f74af407", "17fb63066e2726d282ecc610",
     "78e7374da7c77be5938de8dd76cf0308618306a9", "e21629cc973fbe40176e621d9d",
     "80dbd469de480389ba6c2fca52", "4e284abb8b4f9f13c7497ae56df05fa5"},
    {"c277df045d0a1a3956958f271055c229d2634427b1d73e99d54920da69f72e01", "79e24f84bc77a21a6cb14ee2",
     "ca09282238d492029afbd30ea9b4aa9d448d77b4b41a791c35ebe3f8e5034ac71210117a843fae647cea020712c27"
     "e"
     "5c8f85acf933d5e28430c7770862d8dbb197cbbcfe49dd63f6aa05fbd13e32c459342698dfee5935c7c321",
     "5ca68d858cc30b1cb0514c4e9de98e1a1a835df401f69e9ec6f1bcb1158f09114dff551683b3827457f77e17a7097"
     "b"
     "1ea69eac",
     "5c5223c8eda59a8dc28b08e6c21482a46e5d84d32c7050bf144fc57f4e8094de133198da7b4b8398b167204aff837"
     "d"
     "a15d9ab2",
     "378885950a4491bee3cd681d3c957b9a"},
    {"595f259c55abe00ae07535ca5d9b09d6efb9f7e9abb64605c337acbd6b14fc7e", "92f258071d79af3e63672285",
     "",
     "a6fee33eb110a2d769bbc52b0f36969c287874f665681477a25fc4c48015c541fbe2394133ba490a34ee2dd67b898"
     "1"
     "77849a91",
     "bbca4a9e09ae9690c0f6f8d405e53dccd666aa9c5fa13c8758bc30abe1ddd1bcce0d36a1eaaaaffef20cd3c5970b9"
     "6"
     "73f8a65c",
     "26ccecb9976fd6ac9c2c0f372c52c821"},
};

TEST(Aes256GcmTest, MatchesNistVectors) {
  Aes256Gcm gcm;
  for (const GcmVector& v : kNistVectors) {
    SCOPED_TRACE(v.key);
    Bytes key = Hex(v.key), iv = Hex(v.iv), aad = Hex(v.aad), pt = Hex(v.pt);
    Bytes expected = Hex(v.ct);
    Bytes tag = Hex(v.tag);
    expected.insert(expected.end(), tag.begin(), tag.end());

    Bytes sealed(pt.size() + kTagSize);
    ASSERT_TRUE(gcm.Seal(key, iv, aad, pt, sealed.data()).ok());
    EXPECT_EQ(ToHex(sealed), ToHex(expected));

    Bytes opened(pt.size());
    ASSERT_TRUE(gcm.Open(key, iv, aad, expected, opened.data()).ok());
    EXPECT_EQ(opened, pt);
  }
}

class Aes256GcmTamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = Hex(kNistVectors[4].key);
    iv_ = Hex(kNistVectors[4].iv);
    aad_ = Hex(kNistVectors[4].aad);
    pt_ = Hex(kNistVectors[4].pt);
    sealed_.resize(pt_.size() + kTagSize);
    ASSERT_TRUE(gcm_.Seal(key_, iv_, aad_, pt_, sealed_.data()).ok());
  }
  StatusCode OpenCode(ByteSpan key, ByteSpan iv, ByteSpan aad, ByteSpan sealed) {
    Bytes out(sealed.size() >= kTagSize ? sealed.size() - kTagSize : 0);
    return gcm_.Open(key, iv, aad, sealed, out.data()).code();
  }
  Aes256Gcm gcm_;
  Bytes key_, iv_, aad_, pt_, sealed_;
};

TEST_F(Aes256GcmTamperTest, EveryFlippedBitIsDataLoss) {
  for (size_t i = 0; i < sealed_.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = sealed_;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      ASSERT_EQ(OpenCode(key_, iv_, aad_, bad), StatusCode::kDataLoss) << i << ":" << bit;
    }
  }
}

TEST_F(Aes256GcmTamperTest, TruncationIsDataLoss) {
  for (size_t n = 0; n < sealed_.size(); ++n) {
    ASSERT_EQ(OpenCode(key_, iv_, aad_, ByteSpan(sealed_.data(), n)), StatusCode::kDataLoss) << n;
  }
}

TEST_F(Aes256GcmTamperTest, WrongAadNonceOrKeyIsDataLoss) {
  Bytes aad = aad_;
  aad[0] ^= 1;
  EXPECT_EQ(OpenCode(key_, iv_, aad, sealed_), StatusCode::kDataLoss);
  Bytes iv = iv_;
  iv[11] ^= 1;
  EXPECT_EQ(OpenCode(key_, iv, aad_, sealed_), StatusCode::kDataLoss);
  Bytes key = key_;
  key[31] ^= 1;
  EXPECT_EQ(OpenCode(key, iv_, aad_, sealed_), StatusCode::kDataLoss);
  EXPECT_EQ(OpenCode(key_, iv_, aad_, sealed_), StatusCode::kOk);
}

TEST(HkdfTest, Rfc5869Case1) {
  Bytes ikm(22, 0x0b);
  Bytes salt = Hex("000102030405060708090a0b0c");
  Bytes info = Hex("f0f1f2f3f4f5f6f7f8f9");
  auto okm = HkdfSha256(ikm, salt, AsStringView(info), 42);
  ASSERT_TRUE(okm.ok());
  EXPECT_EQ(ToHex(okm->span()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(HmacSha256Test, Rfc4231Case2AndReuse) {
  auto mac = HmacSha256::Create(AsBytes("Jefe"));
  ASSERT_TRUE(mac.ok());
  for (int i = 0; i < 3; ++i) {  // the context is re-keyed correctly on every use
    auto tag = (*mac)->Compute(AsBytes("what do ya want for nothing?"));
    ASSERT_TRUE(tag.ok());
    EXPECT_EQ(tag->Hex(), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }
}

TEST(Md5Test, Rfc1321Vectors) {
  EXPECT_EQ(ToHex(Md5(AsBytes(""))), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(ToHex(Md5(AsBytes("abc"))), "900150983cd24fb0d6963f7d28e17f72");
}

TEST(Base64Test, Rfc4648Vectors) {
  EXPECT_EQ(Base64(AsBytes("")), "");
  EXPECT_EQ(Base64(AsBytes("f")), "Zg==");
  EXPECT_EQ(Base64(AsBytes("fo")), "Zm8=");
  EXPECT_EQ(Base64(AsBytes("foo")), "Zm9v");
  EXPECT_EQ(Base64(AsBytes("foobar")), "Zm9vYmFy");
}

TEST(Sha256Test, Abc) {
  EXPECT_EQ(Sha256(AsBytes("abc")).Hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Argon2idTest, ReferenceVector) {
  // The reference implementation's test vector (argon2 -id -t 2 -m 16 -p 1).
  Argon2idParams params{.memory_kib = 1 << 16, .iterations = 2, .parallelism = 1};
  auto out = Argon2id(AsBytes("password"), AsBytes("somesalt"), params, 32);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(ToHex(out->span()), "09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7");
}

TEST(Argon2idTest, RejectsTooLittleMemory) {
  Argon2idParams params{.memory_kib = 1, .iterations = 1, .parallelism = 1};
  EXPECT_EQ(Argon2id(AsBytes("p"), AsBytes("somesaltsomesalt"), params, 32).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(RandomTest, IdsDiffer) {
  auto a = RandomId();
  auto b = RandomId();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_FALSE(a->IsZero());
}

}  // namespace
}  // namespace phivault::crypto
