// Round trips and malformed-input tests for the plaintext codecs (trees, snapshots, index
// payloads, config). Bit flips in stored objects are caught by authentication (sealed_test,
// pack_test); here the decoders must turn every truncation into kDataLoss and never crash.
#include <gtest/gtest.h>

#include "phivault/crypto/crypto.h"
#include "phivault/repo/config.h"
#include "phivault/repo/index.h"
#include "phivault/repo/snapshot.h"
#include "phivault/repo/tree.h"

namespace phivault::repo {
namespace {

Id SomeId(uint8_t b) { return Id::FromSpan(Bytes(32, b)); }

std::vector<Node> SampleTree() {
  Node dir;
  dir.name = "a dir";
  dir.type = NodeType::kDirectory;
  dir.mode = 0755;
  dir.mtime_sec = 1700000000;
  dir.mtime_nsec = 123456789;
  dir.subtree = SomeId(1);
  Node file;
  file.name = std::string("f\xff\n\xf0\x9f\x98\x80", 7);  // non-UTF-8 byte, newline, emoji
  file.type = NodeType::kFile;
  file.mode = 04640;
  file.uid = 1000;
  file.gid = 1000;
  file.user = "clinic";
  file.group = "staff";
  file.size = 300 + (1ull << 32);
  file.mtime_sec = -5;
  file.links = 2;
  file.inode = 77;
  file.device = 2049;
  file.content = {Extent{100, false, SomeId(2)}, Extent{1ull << 32, true, Id()},
                  Extent{200, false, SomeId(3)}};
  Node link;
  link.name = "link";
  link.type = NodeType::kSymlink;
  link.mode = 0777;
  link.target = "../does/not/exist";
  Node dev;
  dev.name = "null";
  dev.type = NodeType::kCharDevice;
  dev.rdev = 0x103;
  return {dir, file, link, dev};
}

TEST(TreeCodecTest, RoundTrip) {
  auto nodes = SampleTree();
  std::sort(nodes.begin(), nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
  Bytes blob = EncodeTree(nodes);
  auto back = DecodeTree(blob, "tree");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, nodes);
}

TEST(TreeCodecTest, EveryTruncationIsDataLoss) {
  auto nodes = SampleTree();
  std::sort(nodes.begin(), nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
  Bytes blob = EncodeTree(nodes);
  for (size_t n = 0; n < blob.size(); ++n) {
    EXPECT_EQ(DecodeTree(ByteSpan(blob.data(), n), "tree").status().code(), StatusCode::kDataLoss)
        << n;
  }
}

TEST(TreeCodecTest, FlippedBitsNeverCrash) {
  auto nodes = SampleTree();
  std::sort(nodes.begin(), nodes.end(),
            [](const Node& a, const Node& b) { return a.name < b.name; });
  Bytes blob = EncodeTree(nodes);
  for (size_t i = 0; i < blob.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes bad = blob;
      bad[i] ^= static_cast<uint8_t>(1 << bit);
      auto r = DecodeTree(bad, "tree");
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
      }
    }
  }
}

TEST(TreeCodecTest, RejectsUnsortedAndInvalidNames) {
  Node a;
  a.name = "b";
  a.type = NodeType::kFifo;
  Node b = a;
  b.name = "a";
  EXPECT_EQ(DecodeTree(EncodeTree({a, b}), "t").status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(DecodeTree(EncodeTree({a, a}), "t").status().code(), StatusCode::kDataLoss);
  Node bad = a;
  bad.name = "x/y";
  EXPECT_EQ(DecodeTree(EncodeTree({bad}), "t").status().code(), StatusCode::kDataLoss);
  bad.name = "..";
  EXPECT_EQ(DecodeTree(EncodeTree({bad}), "t").status().code(), StatusCode::kDataLoss);
}

TEST(TreeCodecTest, RejectsContentNotMatchingSize) {
  Node f;
  f.name = "f";
  f.type = NodeType::kFile;
  f.size = 10;
  f.content = {Extent{9, false, SomeId(4)}};
  EXPECT_EQ(DecodeTree(EncodeTree({f}), "t").status().code(), StatusCode::kDataLoss);
}

Snapshot SampleSnapshot() {
  Snapshot s;
  s.time_ns = 1764790000123456789;
  s.tree = SomeId(9);
  s.paths = {"/srv/ehr", std::string("/home/\xfe", 7)};
  s.host = "clinic-fs1";
  s.user = "root";
  s.uid = 0;
  s.gid = 0;
  s.tags = {"nightly", "ehr"};
  s.excludes = {"*.tmp"};
  s.parent = SomeId(8);
  s.program = "phivault 0.1.0";
  s.summary.files_new = 3;
  s.summary.bytes_added = 12345;
  s.summary.total_bytes = 1ull << 40;
  s.end_time_ns = s.time_ns + 5;
  s.partial = true;
  return s;
}

TEST(SnapshotCodecTest, RoundTrip) {
  Snapshot s = SampleSnapshot();
  auto back = DecodeSnapshot(EncodeSnapshot(s), SomeId(5));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, SomeId(5));
  EXPECT_EQ(back->time_ns, s.time_ns);
  EXPECT_EQ(back->tree, s.tree);
  EXPECT_EQ(back->paths, s.paths);
  EXPECT_EQ(back->host, s.host);
  EXPECT_EQ(back->tags, s.tags);
  EXPECT_EQ(back->excludes, s.excludes);
  EXPECT_EQ(back->parent, s.parent);
  EXPECT_EQ(back->summary, s.summary);
  EXPECT_EQ(back->uid, 0u);
  EXPECT_TRUE(back->partial);
}

TEST(SnapshotCodecTest, EveryTruncationIsDataLoss) {
  Bytes p = EncodeSnapshot(SampleSnapshot());
  for (size_t n = 0; n < p.size(); ++n) {
    auto r = DecodeSnapshot(ByteSpan(p.data(), n), SomeId(5));
    // A prefix that ends exactly between fields may still hold every required field; it then
    // decodes (authentication, not the decoder, protects against truncation).
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << n;
    }
  }
  EXPECT_EQ(DecodeSnapshot(ByteSpan(p.data(), 20), SomeId(5)).status().code(),
            StatusCode::kDataLoss);
}

TEST(IndexCodecTest, RoundTripAndLookup) {
  std::vector<IndexedPack> packs;
  for (int p = 0; p < 3; ++p) {
    IndexedPack ip;
    ip.id = SomeId(static_cast<uint8_t>(100 + p));
    ip.type = ObjectType::kDataPack;
    ip.epoch = 1;
    PackFrame big{1000 + kFrameOverhead,
                  1000,
                  Codec::kNone,
                  {{SomeId(static_cast<uint8_t>(p)), BlobType::kData, 1000}}};
    PackFrame group{500,
                    3000,
                    Codec::kZstd,
                    {{SomeId(static_cast<uint8_t>(10 + p)), BlobType::kData, 1000},
                     {SomeId(static_cast<uint8_t>(20 + p)), BlobType::kData, 2000}}};
    ip.contents.frames = {big, group};
    packs.push_back(ip);
  }
  Bytes payload = EncodeIndexPayload(packs);
  auto back = DecodeIndexPayload(payload, "index");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 3u);
  Index index;
  for (const auto& p : *back) ASSERT_TRUE(index.AddPack(p).ok());
  EXPECT_EQ(index.pack_count(), 3u);
  EXPECT_EQ(index.blob_count(), 9u);
  auto loc = index.Find(SomeId(21));
  ASSERT_TRUE(loc.has_value());
  EXPECT_EQ(index.pack(loc->pack).id, SomeId(101));
  EXPECT_EQ(loc->frame_offset, kEnvelopeSize + 1000 + kFrameOverhead);
  EXPECT_EQ(loc->offset, 1000u);
  EXPECT_EQ(loc->length, 2000u);
  EXPECT_EQ(loc->codec, Codec::kZstd);
  EXPECT_FALSE(index.Find(SomeId(99)).has_value());
  for (size_t n = 0; n < payload.size(); ++n) {
    EXPECT_EQ(DecodeIndexPayload(ByteSpan(payload.data(), n), "index").status().code(),
              StatusCode::kDataLoss);
  }
}

TEST(IndexTest, GrowsAndKeepsFirstLocation) {
  Index index;
  for (int p = 0; p < 50; ++p) {
    IndexedPack ip;
    ip.id = *crypto::RandomId();
    ip.epoch = 1;
    PackFrame f{16 + 100, 100, Codec::kNone, {}};
    f.raw_length = 0;
    for (int b = 0; b < 100; ++b) {
      f.blobs.push_back({*crypto::RandomId(), BlobType::kData, 1});
      ++f.raw_length;
    }
    f.stored_length = f.raw_length + kFrameOverhead;
    ip.contents.frames = {f};
    ASSERT_TRUE(index.AddPack(ip).ok());
    ASSERT_TRUE(index.AddPack(ip).ok());  // adding twice is harmless
  }
  EXPECT_EQ(index.blob_count(), 5000u);
  EXPECT_EQ(index.pack_count(), 50u);
  size_t seen = 0;
  index.ForEachBlob([&](const Id& id, const BlobLocation&) {
    ++seen;
    EXPECT_TRUE(index.Contains(id));
  });
  EXPECT_EQ(seen, 5000u);
}

TEST(ConfigTest, RoundTripAndRefusals) {
  RepoConfig c;
  c.id = SomeId(3);
  std::string json = c.Serialize();
  auto back = RepoConfig::Parse(AsBytes(json));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, c.id);
  EXPECT_EQ(back->chunker.avg_size, c.chunker.avg_size);

  std::string newer = json;
  newer.replace(newer.find("\"version\": 1"), 12, "\"version\": 2");
  auto v2 = RepoConfig::Parse(AsBytes(newer));
  EXPECT_EQ(v2.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(v2.status().tag(), ErrorTag::kFormatVersion);

  std::string weird = json;
  weird.replace(weird.find("AES-256-GCM"), 11, "AES-128-CBC");
  EXPECT_EQ(RepoConfig::Parse(AsBytes(weird)).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(RepoConfig::Parse(AsBytes("{\"format\": 3}")).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(RepoConfig::Parse(AsBytes("not json")).status().code(), StatusCode::kDataLoss);
  std::string badtype = json;
  badtype.replace(badtype.find("\"min\": 65536"), 12, "\"min\": \"x\"");
  EXPECT_EQ(RepoConfig::Parse(AsBytes(badtype)).status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace phivault::repo
