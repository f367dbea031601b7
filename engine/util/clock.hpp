// The engine's time source: steady time, handed to jobs, the claim loop, the ledger fake and
// the throttle's monitor through their options (default: Clock::steady()), so that tests
// drive leases, elapsed times, deadlines and heartbeats without waiting. Waits that block a
// thread (retry back-off, the throttle's admission) sleep on the real steady clock, since
// a fake clock cannot make a sleep shorter. Implementations are thread-safe.
#pragma once

#include <chrono>

namespace backfill {

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;
  virtual time_point now() const = 0;

  // std::chrono::steady_clock: the default everywhere.
  static const Clock& steady();
};

}  // namespace backfill
