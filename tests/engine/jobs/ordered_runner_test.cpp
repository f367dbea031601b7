#include "engine/jobs/ordered_runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

namespace backfill {
namespace {

TEST(OrderedRunner, ATaskStartsOnlyAfterEveryTaskItWaitsForSucceeded) {
  // 2 waits for 0 and 1; 3 waits for 2; 4 is free.
  const std::vector<std::vector<std::size_t>> waits{{}, {}, {0, 1}, {2}, {}};
  std::mutex mu;
  std::vector<std::size_t> finished;
  std::atomic<int> running{0}, most{0};
  auto r = run_in_dependency_order(5, waits, 2, [&](std::size_t i) {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    {
      std::lock_guard lock(mu);
      for (std::size_t w : waits[i]) {
        EXPECT_NE(std::find(finished.begin(), finished.end(), w), finished.end())
            << i << " started before " << w << " finished";
      }
    }
    --running;
    std::lock_guard lock(mu);
    finished.push_back(i);
    return Status::ok();
  });
  for (const auto& s : r) ASSERT_TRUE(s && s->is_ok());
  EXPECT_EQ(finished.size(), 5u);
  EXPECT_LE(most.load(), 2);
}

// Four free tasks, two at a time: the first two (the lowest indexes) hold until both run, so
// the runner must run exactly two at once, and the others wait for one of them to end.
TEST(OrderedRunner, RunsAtMostParallelAtOnceAndTheLowestIndexFirst) {
  std::mutex mu;
  std::condition_variable cv;
  int running = 0, most = 0;
  std::vector<std::size_t> started;
  auto r =
      run_in_dependency_order(4, std::vector<std::vector<std::size_t>>(4), 2, [&](std::size_t i) {
        std::unique_lock lock(mu);
        started.push_back(i);
        most = std::max(most, ++running);
        cv.notify_all();
        // Tasks 0 and 1 hold until both are running.
        if (i < 2) cv.wait(lock, [&] { return started.size() >= 2; });
        --running;
        return Status::ok();
      });
  for (const auto& s : r) ASSERT_TRUE(s && s->is_ok());
  EXPECT_EQ(most, 2);
  ASSERT_EQ(started.size(), 4u);
  // The runner starts 0 and 1 first; their threads may take the lock in either order.
  std::vector<std::size_t> first(started.begin(), started.begin() + 2);
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<std::size_t>{0, 1}));
}

TEST(OrderedRunner, AfterAFailureNothingStartsAndItsDependentsNeverRun) {
  const std::vector<std::vector<std::size_t>> waits{{}, {0}, {1}, {}};
  auto r = run_in_dependency_order(
      4, waits, 1, [&](std::size_t i) { return i == 1 ? Status::failed("boom") : Status::ok(); });
  ASSERT_TRUE(r[0] && r[0]->is_ok());
  ASSERT_TRUE(r[1]);
  EXPECT_EQ(r[1]->message(), "boom");
  EXPECT_FALSE(r[2]);  // waited for the failed one
  EXPECT_FALSE(r[3]);  // free, but after the failure with one at a time nothing starts
}

}  // namespace
}  // namespace backfill
