// The tests of the Backend conformance suite (see backend_conformance.h).
#include "phivault/storage/backend_conformance.h"

#include <stdlib.h>
#include <unistd.h>

#include <set>
#include <thread>
#include <vector>

namespace phivault::storage {

std::string FactoryName(const ::testing::TestParamInfo<BackendFactory>& p) { return p.param.name; }

void BackendConformanceTest::SetUp() {
  char tmpl[] = "/tmp/phivault-backend-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  backend_ = GetParam().make(dir_ + "/repo");
  ASSERT_NE(backend_, nullptr);
}

void BackendConformanceTest::TearDown() {
  backend_.reset();
  ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0);
}

namespace {

std::string IdOf(int n) {
  std::string id(64, '0');
  std::string digits = std::to_string(n);
  id.replace(64 - digits.size(), digits.size(), digits);
  id[0] = static_cast<char>('a' + n % 6);
  return id;
}

TEST_P(BackendConformanceTest, SaveThenReadBack) {
  ObjectName name{ObjectKind::kIndex, IdOf(1)};
  Bytes data = {1, 2, 3, 4, 5};
  ASSERT_TRUE(backend_->Save(name, data).ok());
  auto all = backend_->ReadAll(name);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, data);
  Bytes part(2);
  ASSERT_TRUE(backend_->ReadAt(name, 2, part).ok());
  EXPECT_EQ(part, (Bytes{3, 4}));
  auto info = backend_->Stat(name);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 5u);
}

TEST_P(BackendConformanceTest, NeverOverwrites) {
  ObjectName name{ObjectKind::kSnapshot, IdOf(2)};
  ASSERT_TRUE(backend_->Save(name, Bytes{1}).ok());
  EXPECT_EQ(backend_->Save(name, Bytes{2}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(*backend_->ReadAll(name), Bytes{1});
}

TEST_P(BackendConformanceTest, ReadPastEndIsDataLossAndMissingIsNotFound) {
  ObjectName name{ObjectKind::kPack, IdOf(3)};
  ASSERT_TRUE(backend_->Save(name, Bytes(10, 7)).ok());
  Bytes out(4);
  EXPECT_EQ(backend_->ReadAt(name, 8, out).code(), StatusCode::kDataLoss);
  ObjectName missing{ObjectKind::kPack, IdOf(4)};
  EXPECT_EQ(backend_->ReadAt(missing, 0, out).code(), StatusCode::kNotFound);
  EXPECT_EQ(backend_->ReadAll(missing).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(backend_->Stat(missing).status().code(), StatusCode::kNotFound);
}

TEST_P(BackendConformanceTest, UncommittedWriterLeavesNothing) {
  ObjectName name{ObjectKind::kPack, IdOf(5)};
  {
    auto w = backend_->Create(name);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(Bytes(3000000, 1)).ok());
  }
  EXPECT_EQ(backend_->Stat(name).status().code(), StatusCode::kNotFound);
  int listed = 0;
  ASSERT_TRUE(backend_
                  ->List(ObjectKind::kPack,
                         [&](const ObjectInfo&) {
                           ++listed;
                           return OkStatus();
                         })
                  .ok());
  EXPECT_EQ(listed, 0);
}

TEST_P(BackendConformanceTest, StreamedObjectIsComplete) {
  ObjectName name{ObjectKind::kPack, IdOf(6)};
  auto w = backend_->Create(name);
  ASSERT_TRUE(w.ok());
  Bytes expected;
  for (int i = 0; i < 50; ++i) {
    Bytes piece(static_cast<size_t>(1000 * i + 1), static_cast<uint8_t>(i));
    ASSERT_TRUE((*w)->Append(piece).ok());
    expected.insert(expected.end(), piece.begin(), piece.end());
  }
  EXPECT_EQ((*w)->size(), expected.size());
  ASSERT_TRUE((*w)->Commit().ok());
  EXPECT_EQ(*backend_->ReadAll(name), expected);
}

TEST_P(BackendConformanceTest, ListsEachKindSeparately) {
  std::set<std::string> packs;
  for (int i = 10; i < 15; ++i) {
    packs.insert(IdOf(i));
    ASSERT_TRUE(backend_->Save(ObjectName{ObjectKind::kPack, IdOf(i)}, Bytes{1}).ok());
  }
  ASSERT_TRUE(backend_->Save(ObjectName{ObjectKind::kIndex, IdOf(20)}, Bytes{1, 2}).ok());
  std::set<std::string> listed;
  ASSERT_TRUE(backend_
                  ->List(ObjectKind::kPack,
                         [&](const ObjectInfo& info) {
                           EXPECT_EQ(info.size, 1u);
                           listed.insert(info.name.id);
                           return OkStatus();
                         })
                  .ok());
  EXPECT_EQ(listed, packs);
  std::set<std::string> indexes;
  ASSERT_TRUE(backend_
                  ->List(ObjectKind::kIndex,
                         [&](const ObjectInfo& info) {
                           indexes.insert(info.name.id);
                           return OkStatus();
                         })
                  .ok());
  EXPECT_EQ(indexes, std::set<std::string>{IdOf(20)});
}

TEST_P(BackendConformanceTest, ListStopsAtCallbackError) {
  for (int i = 30; i < 33; ++i) {
    ASSERT_TRUE(backend_->Save(ObjectName{ObjectKind::kSnapshot, IdOf(i)}, Bytes{1}).ok());
  }
  int calls = 0;
  Status s = backend_->List(ObjectKind::kSnapshot, [&](const ObjectInfo&) {
    ++calls;
    return CancelledError("stop");
  });
  EXPECT_EQ(s.code(), StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
}

TEST_P(BackendConformanceTest, RemoveDeletes) {
  ObjectName name{ObjectKind::kIndex, IdOf(40)};
  ASSERT_TRUE(backend_->Save(name, Bytes{1}).ok());
  ASSERT_TRUE(backend_->Remove(name).ok());
  EXPECT_EQ(backend_->Stat(name).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(backend_->Remove(name).code(), StatusCode::kNotFound);
}

TEST_P(BackendConformanceTest, ConcurrentCreatesOfOneNameLetExactlyOneWin) {
  ObjectName name{ObjectKind::kPack, IdOf(50)};
  std::atomic<int> wins{0}, exists{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Status s = backend_->Save(name, Bytes(1000, static_cast<uint8_t>(t)));
      if (s.ok()) ++wins;
      if (s.code() == StatusCode::kAlreadyExists) ++exists;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(exists.load(), 7);
}

TEST_P(BackendConformanceTest, ConfigHasItsOwnName) {
  ObjectName config{ObjectKind::kConfig, ""};
  EXPECT_EQ(config.Path(), "config");
  ASSERT_TRUE(backend_->Save(config, AsBytes("{}")).ok());
  EXPECT_EQ(backend_->ReadAll(config)->size(), 2u);
}

}  // namespace
}  // namespace phivault::storage
