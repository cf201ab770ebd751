#include "phivault/base/queue.h"

#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace phivault {
namespace {

TEST(BoundedQueueTest, DeliversEverythingInOrderToOneConsumer) {
  BoundedQueue<int> q(2);
  std::thread producer([&] {
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(q.Push(i));
    q.Close();
  });
  int expected = 0;
  while (auto v = q.Pop()) EXPECT_EQ(*v, expected++);
  producer.join();
  EXPECT_EQ(expected, 1000);
}

TEST(BoundedQueueTest, CloseRejectsPushesAndDrains) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.Push(1));
  q.Close();
  EXPECT_FALSE(q.Push(2));
  EXPECT_EQ(q.Pop(), 1);
  EXPECT_EQ(q.Pop(), std::nullopt);
  EXPECT_EQ(q.TryPop(), std::nullopt);
}

}  // namespace
}  // namespace phivault
