#include "phivault/repo/sealed.h"

#include <gtest/gtest.h>

#include "phivault/crypto/crypto.h"

namespace phivault::repo {
namespace {

class SealedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    epoch1_ = SecretBytes(Bytes(32, 1));
    epoch2_ = SecretBytes(Bytes(32, 2));
    keys_ = [this](uint32_t e) -> const SecretBytes* {
      return e == 1 ? &epoch1_ : e == 2 ? &epoch2_ : nullptr;
    };
    id_ = *crypto::RandomId();
    payload_ = Bytes(5000, 'x');
    for (size_t i = 0; i < payload_.size(); i += 7) payload_[i] = static_cast<uint8_t>(i);
  }
  SecretBytes epoch1_, epoch2_;
  EpochKeyLookup keys_;
  Id id_;
  Bytes payload_;
};

TEST_F(SealedTest, EnvelopeRoundTrip) {
  Envelope e{ObjectType::kIndex, 7, id_};
  auto bytes = e.Encode();
  auto back = Envelope::Decode(bytes, "x");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->type, ObjectType::kIndex);
  EXPECT_EQ(back->epoch, 7u);
  EXPECT_EQ(back->object_id, id_);
}

TEST_F(SealedTest, UnknownTypesAreRefused) {
  for (ObjectType known :
       {ObjectType::kAuditCheckpoint, ObjectType::kDrillRecord, ObjectType::kRetentionLedger}) {
    auto bytes = Envelope{known, 1, id_}.Encode();
    EXPECT_TRUE(Envelope::Decode(bytes, "x").ok());
  }
  auto bytes = Envelope{ObjectType::kRetentionLedger, 1, id_}.Encode();
  for (int type : {0, 9, 255}) {
    bytes[5] = static_cast<uint8_t>(type);
    EXPECT_EQ(Envelope::Decode(bytes, "x").status().code(), StatusCode::kDataLoss) << type;
  }
}

TEST_F(SealedTest, BodyRoundTripCompressedAndNot) {
  for (bool compress : {false, true}) {
    auto sealed = SealBody(Envelope{ObjectType::kSnapshot, 1, id_}, keys_, payload_, compress);
    ASSERT_TRUE(sealed.ok());
    if (compress) {
      EXPECT_LT(sealed->size(), payload_.size());
    }
    auto opened = OpenBody(ObjectType::kSnapshot, id_, *sealed, keys_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, payload_);
  }
}

TEST_F(SealedTest, EveryFlippedBitIsDataLoss) {
  auto sealed = SealBody(Envelope{ObjectType::kIndex, 2, id_}, keys_, AsBytes("short body"), false);
  ASSERT_TRUE(sealed.ok());
  for (size_t i = 0; i < sealed->size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = *sealed;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      auto r = OpenBody(ObjectType::kIndex, id_, bad, keys_);
      ASSERT_FALSE(r.ok()) << i << ":" << bit;
      // A flipped epoch can name an epoch with no key: that is refused as a precondition.
      bool epoch_byte = i >= 8 && i < 12;
      if (!epoch_byte) {
        ASSERT_EQ(r.status().code(), StatusCode::kDataLoss) << i << ":" << bit;
      }
    }
  }
}

TEST_F(SealedTest, EveryTruncationIsDataLoss) {
  auto sealed = SealBody(Envelope{ObjectType::kIndex, 1, id_}, keys_, payload_, true);
  ASSERT_TRUE(sealed.ok());
  for (size_t n = 0; n < sealed->size(); n += (n < 100 ? 1 : 97)) {
    auto r = OpenBody(ObjectType::kIndex, id_, ByteSpan(sealed->data(), n), keys_);
    ASSERT_EQ(r.status().code(), StatusCode::kDataLoss) << n;
  }
}

TEST_F(SealedTest, SwappedOrRetypedObjectsAreRejected) {
  auto sealed = SealBody(Envelope{ObjectType::kSnapshot, 1, id_}, keys_, payload_, false);
  ASSERT_TRUE(sealed.ok());
  Id other = *crypto::RandomId();
  EXPECT_EQ(OpenBody(ObjectType::kSnapshot, other, *sealed, keys_).status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(OpenBody(ObjectType::kIndex, id_, *sealed, keys_).status().code(),
            StatusCode::kDataLoss);
  // Rewriting the header to claim another id or type does not help: the key and AAD change.
  Bytes forged = *sealed;
  forged[5] = static_cast<uint8_t>(ObjectType::kIndex);
  EXPECT_EQ(OpenBody(ObjectType::kIndex, id_, forged, keys_).status().code(),
            StatusCode::kDataLoss);
  forged = *sealed;
  std::copy(other.bytes.begin(), other.bytes.end(), forged.begin() + 12);
  EXPECT_EQ(OpenBody(ObjectType::kSnapshot, other, forged, keys_).status().code(),
            StatusCode::kDataLoss);
}

TEST_F(SealedTest, EpochIsBound) {
  auto sealed = SealBody(Envelope{ObjectType::kSnapshot, 1, id_}, keys_, payload_, false);
  ASSERT_TRUE(sealed.ok());
  Bytes forged = *sealed;
  forged[8] = 2;  // claim epoch 2: the reader derives another key
  EXPECT_EQ(OpenBody(ObjectType::kSnapshot, id_, forged, keys_).status().code(),
            StatusCode::kDataLoss);
  forged[8] = 9;  // an epoch this keystore lacks
  EXPECT_EQ(OpenBody(ObjectType::kSnapshot, id_, forged, keys_).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(SealedTest, FramesAreBoundToTheirOffsetAndKind) {
  auto cipher = ObjectCipher::Create(Envelope{ObjectType::kDataPack, 1, id_}, keys_);
  ASSERT_TRUE(cipher.ok());
  Bytes plain = {'f', 'r', 'a', 'm', 'e'};
  Bytes sealed(plain.size() + kFrameOverhead);
  ASSERT_TRUE((*cipher)->SealFrame(100, FrameKind::kBlobs, plain, sealed.data()).ok());
  Bytes out(plain.size());
  EXPECT_TRUE((*cipher)->OpenFrame(100, FrameKind::kBlobs, sealed, out.data()).ok());
  EXPECT_EQ((*cipher)->OpenFrame(101, FrameKind::kBlobs, sealed, out.data()).code(),
            StatusCode::kDataLoss);
  EXPECT_EQ((*cipher)->OpenFrame(100, FrameKind::kPackHeader, sealed, out.data()).code(),
            StatusCode::kDataLoss);
}

}  // namespace
}  // namespace phivault::repo
