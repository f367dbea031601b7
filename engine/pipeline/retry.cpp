#include "engine/pipeline/retry.hpp"

#include <unistd.h>

#include <algorithm>
#include <thread>

#include "engine/jobs/progress.hpp"

namespace backfill {
namespace {
using Ms = std::chrono::milliseconds;

// Counts its caller among those waiting out a lost server for as long as it is one.
class WaitingMark {
 public:
  explicit WaitingMark(std::atomic<int>* n) : n_(n) {}
  ~WaitingMark() { set(false); }
  void set(bool on) {
    if (n_ == nullptr || on == on_) return;
    on_ = on;
    if (on) {
      ++*n_;
    } else {
      --*n_;
    }
  }

 private:
  std::atomic<int>* n_;
  bool on_ = false;
};
}  // namespace

std::chrono::milliseconds RetryPolicy::delay_before(int attempt) const {
  int shift = std::clamp(attempt - 2, 0, 20);
  auto d = base_delay * (1LL << shift);
  return std::min<std::chrono::milliseconds>(d, max_delay);
}

Status run_with_retry(const RetryPolicy& policy, const std::atomic<bool>* stop,
                      const std::function<Status()>& attempt, const std::function<Status()>& reset,
                      const std::function<void(const RetryEvent&)>& on_retry,
                      std::atomic<int>* waiting) {
  using Clock = std::chrono::steady_clock;
  WaitingMark mark(waiting);
  bool lost = false;  // since lost_since, every attempt found the server lost
  Clock::time_point lost_since;
  int counted = 0;  // failures that count against max_attempts: all but a lost server's
  int lost_attempts = 0;  // attempts since the server was found lost
  Status st;
  while (true) {
    st = attempt();
    if (st.is_ok() || !st.retryable()) return st;
    const auto now = Clock::now();
    std::optional<Ms> lost_for;
    if (st.server_lost()) {
      if (!lost) {
        lost_since = now;
        lost_attempts = 0;
      }
      lost = true;
      ++lost_attempts;
      lost_for = std::chrono::duration_cast<Ms>(now - lost_since);
      if (*lost_for >= policy.retry_for) {
        return st.with_context("the server was unreachable for " +
                               format_duration(std::chrono::duration<double>(*lost_for).count()) +
                               " (--retry-for)");
      }
    } else {
      lost = false;
      if (++counted >= policy.max_attempts) return st;
    }
    mark.set(lost_for.has_value());
    if (stop != nullptr && stop->load()) return st;
    // A lost server's pauses grow as any other's, from where its own waiting began.
    const int failed = lost_for ? lost_attempts : counted;
    const Ms delay = policy.delay_before(failed + 1);
    on_retry(RetryEvent{st, failed, delay, lost_for});
    // Backoff between attempts, in slices so an interrupt is not kept waiting.
    const auto until = Clock::now() + delay;
    for (auto t = Clock::now(); t < until && !(stop != nullptr && stop->load()); t = Clock::now()) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(until - t, std::chrono::milliseconds(20)));
    }
    // A failed reconnect is itself a transient failure: the next attempt reports it.
    if (Status r = reset(); !r.is_ok() && !r.retryable()) return r;
  }
}

std::string describe_retry(const RetryEvent& e, const RetryPolicy& policy) {
  // One line: libpq's messages continue on indented lines.
  std::string error;
  for (char c : e.error.message()) {
    if (c == '\n' || c == '\t') {
      if (!error.empty() && error.back() != ' ') error += ' ';
    } else {
      error += c;
    }
  }
  char delay[32];
  std::snprintf(delay, sizeof delay, "%.1f s", std::chrono::duration<double>(e.delay).count());
  if (e.lost_for) {
    const auto secs = [](Ms d) {
      return format_duration(std::chrono::duration<double>(d).count());
    };
    return "server unreachable for " + secs(*e.lost_for) + "; retrying in " + delay +
           " (--retry-for " + secs(policy.retry_for) + "): " + error;
  }
  return std::string("retrying in ") + delay + " (attempt " + std::to_string(e.attempt) + " of " +
         std::to_string(policy.max_attempts) + "): " + error;
}

const char* retry_kind(const RetryEvent& e) {
  if (e.lost_for || e.error.server_lost()) return "server_lost";
  const std::string& code = e.error.sqlstate();
  if (code == "55P03") return "lock_timeout";
  if (code == "40P01") return "deadlock";
  if (code == "40001") return "serialization";
  if (code == "57014" || e.error.kind() == ErrorKind::kTimeout) return "statement_timeout";
  if (code == "53100") return "disk_full";
  return "other";
}

void log_retry(Log* log, const RetryEvent& e, const RetryPolicy& policy) {
  if (log == nullptr) return;
  Json fields = {{"kind", retry_kind(e)},
                 {"attempt", e.attempt},
                 {"delay_seconds", std::chrono::duration<double>(e.delay).count()},
                 {"error", e.error.message()}};
  if (!e.error.sqlstate().empty()) fields["sqlstate"] = e.error.sqlstate();
  if (e.lost_for) fields["lost_seconds"] = std::chrono::duration<double>(*e.lost_for).count();
  log->warning("retry", "backfill: " + describe_retry(e, policy), fields);
}

}  // namespace backfill
