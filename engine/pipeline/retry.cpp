#include "engine/pipeline/retry.hpp"

#include <algorithm>
#include <thread>

namespace backfill {

std::chrono::milliseconds RetryPolicy::delay_before(int attempt) const {
  int shift = std::clamp(attempt - 2, 0, 20);
  auto d = base_delay * (1LL << shift);
  return std::min<std::chrono::milliseconds>(d, max_delay);
}

Status run_with_retry(const RetryPolicy& policy, const std::atomic<bool>* stop,
                      const std::function<Status()>& attempt, const std::function<Status()>& reset,
                      const std::function<void(const Status&)>& on_retry) {
  Status st;
  for (int n = 1;; ++n) {
    st = attempt();
    if (st.is_ok() || !st.retryable() || n >= policy.max_attempts) return st;
    if (stop != nullptr && stop->load()) return st;
    on_retry(st);
    // Backoff between attempts, in slices so an interrupt is not kept waiting.
    auto until = std::chrono::steady_clock::now() + policy.delay_before(n + 1);
    while (std::chrono::steady_clock::now() < until && !(stop != nullptr && stop->load())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // A failed reconnect is itself a transient failure: the next attempt reports it.
    if (Status r = reset(); !r.is_ok() && !r.retryable()) return r;
  }
}

}  // namespace backfill
