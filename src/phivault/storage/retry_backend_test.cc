#include "phivault/storage/retry_backend.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "phivault/storage/limit_backend.h"
#include "phivault/storage/mem_backend.h"

namespace phivault::storage {
namespace {

using std::chrono::milliseconds;

const ObjectName kName{ObjectKind::kIndex, std::string(64, 'a')};

// Fails the first `failures` calls of every operation with `error`; with `lose_answer`, a
// Commit that fails has still stored its object (the answer was lost on the way back).
class FlakyBackend : public Backend {
 public:
  MemBackend mem;  // where objects really are

  FlakyBackend(int failures, Status error, bool lose_answer = false)
      : failures_(failures), error_(std::move(error)), lose_answer_(lose_answer) {}

  Status Fail() { return calls_.fetch_add(1) < failures_ ? error_ : OkStatus(); }
  int calls() const { return calls_.load(); }

  std::string Location() const override { return "flaky"; }
  Result<Bytes> ReadAll(const ObjectName& name) override {
    PHV_RETURN_IF_ERROR(Fail());
    return mem.ReadAll(name);
  }
  Status ReadAt(const ObjectName& name, uint64_t off, MutableByteSpan out) override {
    return mem.ReadAt(name, off, out);
  }
  Result<ObjectInfo> Stat(const ObjectName& name) override { return mem.Stat(name); }
  Status Remove(const ObjectName& name) override { return mem.Remove(name); }
  Status List(ObjectKind kind, const std::function<Status(const ObjectInfo&)>& fn) override {
    // Fails half-way through the listing.
    int n = 0;
    return mem.List(kind, [&](const ObjectInfo& info) -> Status {
      if (n++ == 1) PHV_RETURN_IF_ERROR(Fail());
      return fn(info);
    });
  }
  Result<std::unique_ptr<ObjectWriter>> Create(const ObjectName& name) override;

 private:
  friend class FlakyWriter;
  std::atomic<int> calls_{0};
  int failures_;
  Status error_;
  bool lose_answer_;
};

// Commits like an S3 writer: a retried commit that finds the object holding its own bytes
// succeeds.
class FlakyWriter : public ObjectWriter {
 public:
  FlakyWriter(FlakyBackend* b, ObjectName name) : b_(b), name_(std::move(name)) {}
  Status Append(ByteSpan d) override {
    data_.insert(data_.end(), d.begin(), d.end());
    return OkStatus();
  }
  Status Commit() override {
    Status f = b_->Fail();
    if (!f.ok()) {
      if (b_->lose_answer_ && !stored_) {
        b_->mem.Save(name_, data_).IgnoreError();
        stored_ = true;
      }
      return f;
    }
    if (stored_) {
      auto have = b_->mem.ReadAll(name_);
      if (have.ok() && *have == data_) return OkStatus();
    }
    return b_->mem.Save(name_, data_);
  }
  uint64_t size() const override { return data_.size(); }

 private:
  FlakyBackend* b_;
  ObjectName name_;
  Bytes data_;
  bool stored_ = false;
};

Result<std::unique_ptr<ObjectWriter>> FlakyBackend::Create(const ObjectName& name) {
  return std::unique_ptr<ObjectWriter>(std::make_unique<FlakyWriter>(this, name));
}

RetryPolicy FakeClock(std::vector<milliseconds>* waits,
                      milliseconds max_total = milliseconds(60'000)) {
  RetryPolicy p;
  p.max_total = max_total;
  p.sleep = [waits](milliseconds d) {
    waits->push_back(d);
  };
  return p;
}

TEST(RetryBackendTest, RetriesTransientFailuresWithGrowingJitteredWaits) {
  auto flaky = std::make_unique<FlakyBackend>(5, UnavailableError("503 SlowDown"));
  FlakyBackend* raw = flaky.get();
  ASSERT_TRUE(raw->mem.Save(kName, AsBytes("hello")).ok());
  std::vector<milliseconds> waits;
  RetryBackend retry(std::move(flaky), FakeClock(&waits));
  auto data = retry.ReadAll(kName);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(raw->calls(), 6);
  ASSERT_EQ(waits.size(), 5u);
  // Full jitter: every wait lies within its exponential cap.
  for (size_t i = 0; i < waits.size(); ++i) EXPECT_LE(waits[i].count(), 100 << i);
}

TEST(RetryBackendTest, PermanentFailuresAreNotRetried) {
  for (Status error :
       {Status(StatusCode::kUnauthenticated, "403 SignatureDoesNotMatch", ErrorTag::kStorageAuth),
        NotFoundError("404"), PermissionDeniedError("403 AccessDenied"),
        DataLossError("truncated")}) {
    auto flaky = std::make_unique<FlakyBackend>(1, error);
    FlakyBackend* raw = flaky.get();
    std::vector<milliseconds> waits;
    RetryBackend retry(std::move(flaky), FakeClock(&waits));
    EXPECT_EQ(retry.ReadAll(kName).status().code(), error.code());
    EXPECT_EQ(raw->calls(), 1);
    EXPECT_TRUE(waits.empty());
  }
}

TEST(RetryBackendTest, GivesUpWhenTheTimeRunsOutAndSaysSo) {
  std::vector<milliseconds> waits;
  RetryBackend retry(std::make_unique<FlakyBackend>(1000, UnavailableError("connection reset")),
                     FakeClock(&waits, milliseconds(30'000)));
  auto r = retry.ReadAll(kName);
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(r.status().tag(), ErrorTag::kStorageUnavailable);
  EXPECT_NE(r.status().message().find("gave up after"), std::string::npos);
  EXPECT_NE(r.status().message().find("connection reset"), std::string::npos);
  milliseconds total(0);
  for (auto w : waits) total += w;
  EXPECT_LE(total.count(), 30'000);
  EXPECT_GT(waits.size(), 3u);
}

TEST(RetryBackendTest, RetriedCommitWhoseAnswerWasLostSucceedsOnce) {
  auto flaky = std::make_unique<FlakyBackend>(2, UnavailableError("503"), /*lose_answer=*/true);
  FlakyBackend* raw = flaky.get();
  std::vector<milliseconds> waits;
  RetryBackend retry(std::move(flaky), FakeClock(&waits));
  ASSERT_TRUE(retry.Save(kName, AsBytes("payload")).ok());
  EXPECT_EQ(*raw->mem.ReadAll(kName), Bytes(AsBytes("payload").begin(), AsBytes("payload").end()));
  // A second writer of the same name still finds it taken.
  EXPECT_EQ(retry.Save(kName, AsBytes("other")).code(), StatusCode::kAlreadyExists);
}

TEST(RetryBackendTest, InterruptedListingIsResumedWithoutRepeats) {
  auto flaky = std::make_unique<FlakyBackend>(2, UnavailableError("reset"));
  FlakyBackend* raw = flaky.get();
  for (char c : std::string("abcd")) {
    ASSERT_TRUE(raw->mem.Save({ObjectKind::kSnapshot, std::string(64, c)}, {}).ok());
  }
  std::vector<milliseconds> waits;
  RetryBackend retry(std::move(flaky), FakeClock(&waits));
  std::vector<std::string> seen;
  ASSERT_TRUE(retry
                  .List(ObjectKind::kSnapshot,
                        [&](const ObjectInfo& i) {
                          seen.push_back(i.name.id);
                          return OkStatus();
                        })
                  .ok());
  EXPECT_EQ(seen.size(), 4u);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());
}

TEST(RetryBackendTest, CallbackErrorsEndTheListingUnretried) {
  auto mem = std::make_unique<MemBackend>();
  ASSERT_TRUE(mem->Save({ObjectKind::kSnapshot, std::string(64, 'a')}, {}).ok());
  std::vector<milliseconds> waits;
  RetryBackend retry(std::move(mem), FakeClock(&waits));
  int calls = 0;
  Status s = retry.List(ObjectKind::kSnapshot, [&](const ObjectInfo&) {
    ++calls;
    return UnavailableError("the caller's own");
  });
  EXPECT_EQ(s.message(), "the caller's own");
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(waits.empty());
}

// Counts how many calls are inside the wrapped backend at once.
class CountingBackend : public MemBackend {
 public:
  Result<Bytes> ReadAll(const ObjectName& name) override {
    int now = ++inside_;
    int seen = max_.load();
    while (now > seen && !max_.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(milliseconds(5));
    --inside_;
    return MemBackend::ReadAll(name);
  }
  std::atomic<int> inside_{0};
  std::atomic<int> max_{0};
};

TEST(LimitBackendTest, NeverMoreCallsInsideThanTheLimit) {
  auto counting = std::make_unique<CountingBackend>();
  CountingBackend* raw = counting.get();
  ASSERT_TRUE(raw->Save(kName, AsBytes("x")).ok());
  LimitBackend limited(std::move(counting), 3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) EXPECT_TRUE(limited.ReadAll(kName).ok());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(raw->max_.load(), 3);
  EXPECT_EQ(limited.PreferredConcurrency(), 3u);
}

TEST(MemBackendRetentionTest, LocksAreKeptExtendedAndEnforced) {
  MemBackend plain;
  EXPECT_EQ(plain.EnableRetention({7, RetentionMode::kCompliance}).tag(), ErrorTag::kRetention);

  MemBackend lockable(/*lockable=*/true);
  SystemTime now = std::chrono::system_clock::now();
  lockable.SetClockForTesting([&] { return now; });
  ASSERT_TRUE(lockable.EnableRetention({7, RetentionMode::kCompliance}).ok());
  ASSERT_TRUE(lockable.Save(kName, AsBytes("x")).ok());
  EXPECT_EQ(*lockable.RetainedUntil(kName), now + std::chrono::hours(7 * 36));
  EXPECT_EQ(lockable.Remove(kName).tag(), ErrorTag::kRetention);
  ObjectName names[] = {kName};
  ASSERT_TRUE(lockable.ExtendRetention(names, now + std::chrono::days(12)).ok());
  ASSERT_TRUE(lockable.ExtendRetention(names, now + std::chrono::days(11)).ok());  // no shortening
  EXPECT_EQ(*lockable.RetainedUntil(kName), now + std::chrono::days(12));
  EXPECT_EQ(lockable.retention_updates(), 1u);
  now += std::chrono::days(13);
  EXPECT_TRUE(lockable.Remove(kName).ok());
}

}  // namespace
}  // namespace phivault::storage
