// Retrying transient failures with capped exponential backoff.
//
// A chunk that hits a lost connection, a terminated backend, a lock timeout, a deadlock or
// a serialization failure is tried again after a pause that doubles each time, up to a cap,
// and gives up after max_attempts. The pause is cut short when the job is interrupted.
// Plain values; thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>

#include "engine/util/status.hpp"

namespace backfill {

struct RetryPolicy {
  // Five tries ride out a server restart or a burst of lock contention (about 6 s of waiting
  // in all) without hiding a real outage for long.
  int max_attempts = 5;
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{5000};

  std::chrono::milliseconds delay_before(int attempt) const;  // attempt >= 2
};

// Runs `attempt` until it succeeds, fails for good, or the policy is exhausted. Before each
// retry it calls `reset` (reconnect) and `on_retry` (count it), and waits, unless `stop` is
// set. Returns the last Status.
Status run_with_retry(const RetryPolicy& policy, const std::atomic<bool>* stop,
                      const std::function<Status()>& attempt, const std::function<Status()>& reset,
                      const std::function<void(const Status&)>& on_retry);

}  // namespace backfill
