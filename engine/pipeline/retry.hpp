// Retrying transient failures with capped exponential backoff.
//
// A chunk that hits a lock timeout, a deadlock or a serialization failure is tried again
// after a pause that doubles each time, up to a cap, and gives up after max_attempts. A
// lost server (connection lost or refused, the server shutting down or starting up: a
// restart, a failover to a standby promoted at the same address, a network cut) is waited
// out by time instead: tried again with the same capped backoff until it has been lost for
// retry_for, however many attempts that takes. The pause is cut short when the job is
// interrupted. Plain values; thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include "engine/jobs/log.hpp"
#include "engine/util/status.hpp"

namespace backfill {

struct RetryPolicy {
  // Five tries ride out a burst of lock contention (about 6 s of waiting in all) without
  // hiding a real fault for long.
  int max_attempts = 5;
  // A restart under crash recovery or a failover takes seconds to a minute; five minutes
  // waits that out, and a server that stays away longer is an outage for a person.
  std::chrono::milliseconds retry_for{std::chrono::minutes(5)};
  std::chrono::milliseconds base_delay{200};
  // The cap keeps a returning server from waiting long for the job to notice it.
  std::chrono::milliseconds max_delay{5000};

  std::chrono::milliseconds delay_before(int attempt) const;  // attempt >= 2
};

// What a caller hears of each retry, before its pause.
struct RetryEvent {
  const Status& error;
  int attempt = 1;  // the attempt that failed, from 1: of those counted, or since the loss
  std::chrono::milliseconds delay;  // the pause before the next one
  // Set while the server is lost: how long since the first attempt that found it so.
  std::optional<std::chrono::milliseconds> lost_for;
};

// Runs `attempt` until it succeeds, fails for good, or the policy is exhausted. Before each
// retry it calls `on_retry` (count it, log it) and waits, then `reset` (reconnect), unless
// `stop` is set. While it waits out a lost server, `*waiting` (when given) counts it, for
// the progress line. Returns the last Status.
Status run_with_retry(const RetryPolicy& policy, const std::atomic<bool>* stop,
                      const std::function<Status()>& attempt, const std::function<Status()>& reset,
                      const std::function<void(const RetryEvent&)>& on_retry,
                      std::atomic<int>* waiting = nullptr);

// The log line of a retry: "server unreachable for 12s; retrying in 5.0 s (--retry-for
// 5m00s): <error>" or "retrying in 0.4 s (attempt 2 of 5): <error>".
std::string describe_retry(const RetryEvent& e, const RetryPolicy& policy);
// Writes it to `out` as one "backfill: " line.
// What kind of failure a retry is for, as a metric's label: "server_lost", "lock_timeout",
// "deadlock", "serialization", "statement_timeout", "disk_full" or "other".
const char* retry_kind(const RetryEvent& e);
// One "retry" event in `log` (nowhere when null), with its kind, attempt and pause.
void log_retry(Log* log, const RetryEvent& e, const RetryPolicy& policy);

}  // namespace backfill
