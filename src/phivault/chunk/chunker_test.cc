#include "phivault/chunk/chunker.h"

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace phivault::chunk {
namespace {

GearTable TableFromSeed(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes raw(GearTable::kSerializedSize);
  for (size_t i = 0; i < raw.size(); i += 8) StoreLE64(raw.data() + i, rng());
  return GearTable::FromBytes(raw);
}

Bytes RandomData(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// Splits `data` into chunks and returns them as strings (so they can be compared as sets).
std::vector<std::string> Split(const Chunker& c, const Bytes& data) {
  std::vector<std::string> out;
  size_t off = 0;
  while (off < data.size()) {
    size_t len = c.NextCut(ByteSpan(data).subspan(off));
    EXPECT_GT(len, 0u);
    out.emplace_back(reinterpret_cast<const char*>(data.data() + off), len);
    off += len;
  }
  return out;
}

const ChunkerParams kSmall{.min_size = 2048, .avg_size = 8192, .max_size = 32768};

TEST(ChunkerParamsTest, Validation) {
  EXPECT_TRUE(ChunkerParams{}.Validate().ok());
  EXPECT_TRUE(kSmall.Validate().ok());
  EXPECT_EQ((ChunkerParams{.min_size = 32, .avg_size = 256, .max_size = 1024}).Validate().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((ChunkerParams{.min_size = 1024, .avg_size = 3000, .max_size = 9000}).Validate().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((ChunkerParams{.min_size = 4096, .avg_size = 4096, .max_size = 9000}).Validate().code(),
            StatusCode::kInvalidArgument);
}

TEST(ChunkerTest, SizesStayWithinBounds) {
  Chunker c(TableFromSeed(1), kSmall);
  Bytes data = RandomData(1 << 20, 2);
  auto chunks = Split(c, data);
  size_t total = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    total += chunks[i].size();
    EXPECT_LE(chunks[i].size(), kSmall.max_size);
    if (i + 1 < chunks.size()) {
      EXPECT_GE(chunks[i].size(), kSmall.min_size);
    }
  }
  EXPECT_EQ(total, data.size());
  double avg = static_cast<double>(data.size()) / static_cast<double>(chunks.size());
  EXPECT_GT(avg, kSmall.avg_size * 0.6);
  EXPECT_LT(avg, kSmall.avg_size * 1.6);
}

TEST(ChunkerTest, ShortInputIsOneChunk) {
  Chunker c(TableFromSeed(1), kSmall);
  Bytes data = RandomData(kSmall.min_size, 3);
  EXPECT_EQ(c.NextCut(data), data.size());
  EXPECT_EQ(c.NextCut(ByteSpan(data).first(10)), 10u);
}

TEST(ChunkerTest, UniformDataCutsAtMax) {
  Chunker c(TableFromSeed(1), kSmall);
  Bytes zeros(5 * kSmall.max_size, 0);
  auto chunks = Split(c, zeros);
  // All full chunks of a run of equal bytes are identical, so they deduplicate to one.
  std::set<std::string> distinct(chunks.begin(), chunks.end());
  EXPECT_LE(distinct.size(), 2u);
}

TEST(ChunkerTest, BoundariesStayPutAroundAnInsertion) {
  Chunker c(TableFromSeed(7), kSmall);
  Bytes original = RandomData(2 << 20, 11);
  Bytes edited = original;
  Bytes inserted = RandomData(100, 12);
  edited.insert(edited.begin() + (1 << 20), inserted.begin(), inserted.end());

  auto before = Split(c, original);
  auto after = Split(c, edited);
  std::set<std::string> before_set(before.begin(), before.end());
  size_t shared = 0;
  for (const auto& ch : after) shared += before_set.count(ch);
  // Only the chunk holding the insertion (and at most one neighbour while the hash
  // resynchronises) may differ.
  EXPECT_GE(shared + 2, before.size()) << "shared " << shared << " of " << before.size();
  EXPECT_LT(shared, before.size());
}

TEST(ChunkerTest, BoundariesStayPutAroundADeletion) {
  Chunker c(TableFromSeed(7), kSmall);
  Bytes original = RandomData(2 << 20, 21);
  Bytes edited = original;
  edited.erase(edited.begin() + 500000, edited.begin() + 500300);
  auto before = Split(c, original);
  auto after = Split(c, edited);
  std::set<std::string> before_set(before.begin(), before.end());
  size_t shared = 0;
  for (const auto& ch : after) shared += before_set.count(ch);
  EXPECT_GE(shared + 2, before.size());
}

TEST(ChunkerTest, CutsDependOnTheKey) {
  Bytes data = RandomData(1 << 20, 5);
  auto a = Split(Chunker(TableFromSeed(100), kSmall), data);
  auto b = Split(Chunker(TableFromSeed(101), kSmall), data);
  std::set<std::string> a_set(a.begin(), a.end());
  size_t shared = 0;
  for (const auto& ch : b) shared += a_set.count(ch);
  EXPECT_LT(shared, 3u);
}

TEST(ChunkerTest, Deterministic) {
  Bytes data = RandomData(1 << 19, 6);
  EXPECT_EQ(Split(Chunker(TableFromSeed(3), kSmall), data),
            Split(Chunker(TableFromSeed(3), kSmall), data));
}

}  // namespace
}  // namespace phivault::chunk
