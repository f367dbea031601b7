// run_with_retry: what is retried, for how long, and what the caller hears of it.
#include "engine/pipeline/retry.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace backfill {
namespace {

using std::chrono::milliseconds;

// Pauses of a millisecond or two: the tests are about which attempts happen, not when.
RetryPolicy quick(int max_attempts, milliseconds retry_for) {
  RetryPolicy p;
  p.max_attempts = max_attempts;
  p.retry_for = retry_for;
  p.base_delay = milliseconds(1);
  p.max_delay = milliseconds(2);
  return p;
}

Status refused() { return Status::transient("cannot connect to host=db: refused", "08001"); }
Status lock_timeout() { return Status::transient("lock timeout", "55P03"); }

TEST(Retry, ALostServerIsWaitedOutByTimeNotByCount) {
  const RetryPolicy policy = quick(3, std::chrono::minutes(1));
  std::atomic<int> waiting{0};
  int attempts = 0, resets = 0;
  std::vector<int> waiting_seen;
  std::vector<RetryEvent> events;
  Status st = run_with_retry(
      policy, nullptr,
      [&] {
        ++attempts;
        // Terminated, then refused while it restarts, then starting up, then back.
        if (attempts == 1) return Status::transient("terminating connection", "57P01");
        if (attempts < 8) return refused();
        if (attempts == 8) return Status::transient("the database system is starting up", "57P03");
        return Status::ok();
      },
      [&] {
        ++resets;
        waiting_seen.push_back(waiting.load());
        return refused();  // a reconnect that fails is reported by the next attempt
      },
      [&](const RetryEvent& e) {
        events.push_back(e);
        EXPECT_TRUE(e.lost_for.has_value());
      },
      &waiting);
  EXPECT_TRUE(st.is_ok()) << st.message();
  EXPECT_EQ(attempts, 9);  // three times max_attempts: a lost server is not counted
  EXPECT_EQ(resets, 8);
  EXPECT_EQ(events.size(), 8u);
  EXPECT_EQ(waiting_seen, std::vector<int>(8, 1));  // counted while it waits
  EXPECT_EQ(waiting.load(), 0);                     // and no longer once it is back
}

TEST(Retry, ALostServerIsGivenUpAfterRetryFor) {
  const RetryPolicy policy = quick(2, milliseconds(30));
  std::atomic<int> waiting{0};
  int attempts = 0;
  const auto t0 = std::chrono::steady_clock::now();
  Status st = run_with_retry(
      policy, nullptr,
      [&] {
        ++attempts;
        return refused();
      },
      [] { return Status::ok(); }, [](const RetryEvent&) {}, &waiting);
  EXPECT_TRUE(st.server_lost());
  EXPECT_NE(st.message().find("unreachable for"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("(--retry-for)"), std::string::npos) << st.message();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(30));
  EXPECT_GT(attempts, 2);  // more than max_attempts
  EXPECT_EQ(waiting.load(), 0);
}

TEST(Retry, OtherTransientErrorsAreCountedAndALostServerDoesNotUseUpTheCount) {
  const RetryPolicy policy = quick(3, std::chrono::minutes(1));
  int attempts = 0;
  std::vector<int> counted;
  Status st = run_with_retry(
      policy, nullptr,
      [&] {
        ++attempts;
        // Two lock timeouts, a restart's worth of refusals, then lock timeouts for good.
        if (attempts >= 3 && attempts <= 6) return refused();
        return lock_timeout();
      },
      [] { return Status::ok(); },
      [&](const RetryEvent& e) {
        if (!e.lost_for) counted.push_back(e.attempt);
      });
  EXPECT_EQ(st.sqlstate(), "55P03");
  EXPECT_EQ(attempts, 7);  // 3 counted + 4 lost
  EXPECT_EQ(counted, (std::vector<int>{1, 2}));
}

TEST(Retry, ErrorsThatAreNotTransientAreNotRetried) {
  int attempts = 0;
  Status st = run_with_retry(
      quick(5, std::chrono::minutes(1)), nullptr,
      [&] {
        ++attempts;
        return Status::failed("disk is not a thing here", "XX000");
      },
      [] { return Status::ok(); }, [](const RetryEvent&) { ADD_FAILURE(); });
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(st.kind(), ErrorKind::kFailed);
}

TEST(Retry, AnInterruptEndsTheWaitForALostServer) {
  std::atomic<bool> stop{false};
  int attempts = 0;
  Status st = run_with_retry(
      quick(3, std::chrono::minutes(1)), &stop,
      [&] {
        if (++attempts == 4) stop = true;
        return refused();
      },
      [] { return Status::ok(); }, [](const RetryEvent&) {});
  EXPECT_EQ(attempts, 4);
  EXPECT_TRUE(st.server_lost());
}

TEST(Retry, TheLogLineSaysWhatIsWaitedForAndForHowLong) {
  RetryPolicy policy;  // the defaults: 5 attempts, 5 minutes
  const Status lost = refused();
  const Status lock = lock_timeout();
  EXPECT_EQ(describe_retry(RetryEvent{lost, 4, milliseconds(5000), milliseconds(12300)}, policy),
            "server unreachable for 12s; retrying in 5.0 s (--retry-for 5m00s): "
            "cannot connect to host=db: refused");
  EXPECT_EQ(describe_retry(RetryEvent{lock, 2, milliseconds(400), std::nullopt}, policy),
            "retrying in 0.4 s (attempt 2 of 5): lock timeout");
}

TEST(Retry, OnlyConnectionAndShutdownStatesAreALostServer) {
  EXPECT_TRUE(Status::transient("x", "08006").server_lost());
  EXPECT_TRUE(Status::transient("x", "08001").server_lost());
  EXPECT_TRUE(Status::transient("x", "57P01").server_lost());
  EXPECT_TRUE(Status::transient("x", "57P03").server_lost());
  EXPECT_FALSE(Status::transient("x", "40P01").server_lost());  // deadlock
  EXPECT_FALSE(Status::transient("x", "53100").server_lost());  // disk full: counted
  EXPECT_FALSE(Status::failed("x", "08006").server_lost());
}

}  // namespace
}  // namespace backfill
