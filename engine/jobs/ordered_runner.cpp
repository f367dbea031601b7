#include "engine/jobs/ordered_runner.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace backfill {

std::vector<std::optional<Status>> run_in_dependency_order(
    std::size_t n, const std::vector<std::vector<std::size_t>>& waits_for, int parallel,
    const std::function<Status(std::size_t)>& run) {
  std::vector<std::optional<Status>> result(n);
  std::vector<bool> started(n, false);
  std::mutex mu;
  std::condition_variable finished;
  int running = 0;
  bool failed = false;
  std::vector<std::thread> threads;

  auto ready = [&](std::size_t i) {
    return std::all_of(waits_for[i].begin(), waits_for[i].end(),
                       [&](std::size_t w) { return result[w] && result[w]->is_ok(); });
  };
  std::unique_lock lock(mu);
  while (true) {
    // Start what may start, lowest index first.
    for (std::size_t i = 0; i < n && !failed && running < std::max(1, parallel); ++i) {
      if (started[i] || !ready(i)) continue;
      started[i] = true;
      ++running;
      threads.emplace_back([&, i] {
        Status st = run(i);
        std::lock_guard done(mu);
        failed = failed || !st.is_ok();
        result[i] = std::move(st);
        --running;
        finished.notify_all();
      });
    }
    if (running == 0) break;  // nothing runs, and nothing more can start
    finished.wait(lock);
  }
  lock.unlock();
  for (auto& t : threads) t.join();
  return result;
}

}  // namespace backfill
