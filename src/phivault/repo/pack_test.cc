#include "phivault/repo/pack.h"

#include <map>
#include <random>

#include <gtest/gtest.h>

#include "phivault/crypto/crypto.h"
#include "phivault/storage/mem_backend.h"

namespace phivault::repo {
namespace {

Bytes Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng() % 7);  // compressible
  return out;
}

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = SecretBytes(Bytes(32, 9));
    keys_ = [this](uint32_t e) -> const SecretBytes* {
      return e == 1 ? &key_ : nullptr;
    };
  }

  // Writes a pack with one large blob and several small ones; returns it committed.
  FinishedPack WritePack() {
    PackWriter w(&backend_, ObjectType::kDataPack, 1, keys_, CompressionMode::kDefault);
    blobs_.clear();
    blobs_[*crypto::RandomId()] = Random(200000, 1);
    for (size_t i = 0; i < 20; ++i) blobs_[*crypto::RandomId()] = Random(1000 + 37 * i, 2 + i);
    for (const auto& [id, data] : blobs_) EXPECT_TRUE(w.Add(id, BlobType::kData, data).ok());
    auto done = w.Finish();
    EXPECT_TRUE(done.ok());
    EXPECT_TRUE(done->writer->Commit().ok());
    return std::move(*done);
  }

  storage::ObjectName Name(const Id& id) { return {storage::ObjectKind::kPack, id.Hex()}; }

  // Extracts every blob through the header, as adoption and check --read-data do.
  Status ReadAllBlobs(storage::Backend* backend, const Id& pack_id, uint64_t size) {
    PHV_ASSIGN_OR_RETURN(PackHeaderInfo info, ReadPackHeader(backend, pack_id, size, keys_));
    PHV_ASSIGN_OR_RETURN(auto cipher, ObjectCipher::Create(info.envelope, keys_));
    Decompressor d;
    Bytes scratch, plain;
    uint64_t offset = kEnvelopeSize;
    for (const PackFrame& f : info.contents.frames) {
      Bytes sealed(f.stored_length);
      PHV_RETURN_IF_ERROR(backend->ReadAt(Name(pack_id), offset, sealed));
      PHV_RETURN_IF_ERROR(
          OpenBlobFrame(cipher.get(), offset, sealed, f.codec, f.raw_length, &d, &scratch, &plain));
      size_t in = 0;
      for (const PackBlob& b : f.blobs) {
        auto it = blobs_.find(b.id);
        if (it == blobs_.end()) return DataLossError("unknown blob");
        if (!std::equal(it->second.begin(), it->second.end(),
                        plain.begin() + static_cast<std::ptrdiff_t>(in))) {
          return DataLossError("blob content differs");
        }
        in += b.length;
      }
      offset += f.stored_length;
    }
    return OkStatus();
  }

  storage::MemBackend backend_;
  SecretBytes key_;
  EpochKeyLookup keys_;
  std::map<Id, Bytes> blobs_;
};

TEST_F(PackTest, GroupsSmallBlobsAndRoundTrips) {
  FinishedPack pack = WritePack();
  EXPECT_EQ(pack.contents.BlobCount(), 21u);
  EXPECT_LT(pack.contents.frames.size(), 4u);  // 20 small blobs share a frame
  auto info = ReadPackHeader(&backend_, pack.id, pack.size, keys_);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->envelope.type, ObjectType::kDataPack);
  EXPECT_EQ(info->contents.BlobCount(), 21u);
  EXPECT_TRUE(ReadAllBlobs(&backend_, pack.id, pack.size).ok());
  EXPECT_LT(pack.size, 200000u);  // compressed
}

TEST_F(PackTest, OneFlippedBitAnywhereIsDetected) {
  FinishedPack pack = WritePack();
  auto raw = backend_.ReadAll(Name(pack.id));
  ASSERT_TRUE(raw.ok());
  size_t n = raw->size();
  for (size_t pos = 0; pos < n; pos += std::max<size_t>(1, n / 600)) {
    Bytes bad = *raw;
    bad[pos] ^= 0x10;
    storage::MemBackend other;
    ASSERT_TRUE(other.Save(Name(pack.id), bad).ok());
    Status s = ReadAllBlobs(&other, pack.id, n);
    EXPECT_FALSE(s.ok()) << "flip at " << pos << " went unnoticed";
    if (!s.ok()) {
      EXPECT_TRUE(s.code() == StatusCode::kDataLoss || s.code() == StatusCode::kFailedPrecondition)
          << s.ToString();
    }
  }
}

TEST_F(PackTest, TruncatedPackIsDataLoss) {
  FinishedPack pack = WritePack();
  auto raw = backend_.ReadAll(Name(pack.id));
  for (size_t cut : {size_t{0}, size_t{10}, size_t{44}, raw->size() / 2, raw->size() - 1}) {
    storage::MemBackend other;
    ASSERT_TRUE(other.Save(Name(pack.id), ByteSpan(raw->data(), cut)).ok());
    auto r = ReadPackHeader(&other, pack.id, cut, keys_);
    EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << cut;
  }
}

TEST_F(PackTest, RenamedPackIsRejected) {
  FinishedPack pack = WritePack();
  auto raw = backend_.ReadAll(Name(pack.id));
  Id other_id = *crypto::RandomId();
  ASSERT_TRUE(backend_.Save(Name(other_id), *raw).ok());
  EXPECT_EQ(ReadPackHeader(&backend_, other_id, raw->size(), keys_).status().code(),
            StatusCode::kDataLoss);
}

TEST_F(PackTest, WrongBlobTypeIsRefused) {
  PackWriter w(&backend_, ObjectType::kTreePack, 1, keys_, CompressionMode::kFast);
  EXPECT_EQ(w.Add(*crypto::RandomId(), BlobType::kData, Bytes(10)).code(), StatusCode::kInternal);
}

TEST_F(PackTest, IncompressibleFramesAreStoredRaw) {
  PackWriter w(&backend_, ObjectType::kDataPack, 1, keys_, CompressionMode::kSmall);
  std::mt19937_64 rng(5);
  Bytes noise(100000);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  ASSERT_TRUE(w.Add(*crypto::RandomId(), BlobType::kData, noise).ok());
  auto done = w.Finish();
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->contents.frames[0].codec, Codec::kNone);
}

}  // namespace
}  // namespace phivault::repo
