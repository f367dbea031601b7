// What every chunked job (copy, verify) is told by its caller: how many connections, how
// big a chunk, how to retry, where progress goes, and the interrupt flag to watch.
// Plain data; copied into each job.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>

#include "engine/jobs/progress.hpp"
#include "engine/ledger/ledger.hpp"
#include "engine/pipeline/observer.hpp"
#include "engine/pipeline/retry.hpp"
#include "engine/throttle/throttle.hpp"

namespace backfill {

struct ChunkJobOptions {
  int jobs = 2;                     // connections each way (readers/writers, comparers)
  std::int64_t chunk_rows = 50000;  // the CLI's default; see cli/options.hpp
  RetryPolicy retry;
  ProgressMode progress = ProgressMode::kAuto;
  std::FILE* progress_out = stderr;
  const std::atomic<bool>* interrupt = nullptr;  // set by a signal handler: stop claiming
  const Clock* clock = &Clock::steady();         // times chunks (for the sizer), runs and deadlines
  // Asked before every chunk; sizes chunks when it adapts. Never null.
  ChunkThrottle* throttle = &NoThrottle::instance();
  // Where each retry (and, on a log line, progress and throttle changes) is logged; null:
  // nowhere.
  Log* log = &Log::standard();
  // Told of each chunk and retry, and given the progress line to read (metrics). Never null.
  JobObserver* observer = &NoObserver::instance();
  // Counts the job's callers waiting out a lost server, for a progress line its caller
  // draws (a set's); null: the pipeline counts them for its own line.
  std::atomic<int>* waiting_on_server = nullptr;
};

// How a job's run went: what the pipeline counts for every job.
struct RunStats {
  JobOutcome outcome = JobOutcome::kOk;
  Status error;             // why, when not kOk
  std::int64_t rows = 0;    // of the chunks this run finished
  std::int64_t chunks = 0;  // finished by this run
  std::int64_t retries = 0;
  std::int64_t splits = 0;  // chunks that timed out and went back as two halves
  double seconds = 0;
  LedgerProgress ledger;  // the job as a whole, at the end
};

// run_with_retry as a job retries: under its policy, each retry counted into `retries` and
// logged to its log and told to its observer, a wait for a lost server counted for the progress
// line.
template <typename Count>
Status retry_logged(
    const ChunkJobOptions& o, const std::atomic<bool>* stop, Count& retries,
    const std::function<Status()>& attempt,
    const std::function<Status()>& reset = [] { return Status::ok(); }) {
  return run_with_retry(
      o.retry, stop, attempt, reset,
      [&](const RetryEvent& e) {
        ++retries;
        log_retry(o.log, e, o.retry);
        o.observer->retried(e);
      },
      o.waiting_on_server);
}

// The progress line's view of a throttle: the chunk size when it adapts, and why the job is
// not running free. A lost server comes first: while `waiting_on_server` of the job's
// callers wait it out, the throttle's own view (its signals unreadable) says less.
inline void describe_throttle(const ChunkThrottle& throttle, int waiting_on_server,
                              ProgressSnapshot* s) {
  const ThrottleSnapshot t = throttle.snapshot();
  if (t.adaptive) s->chunk_rows = t.chunk_rows;
  if (waiting_on_server > 0) {
    s->throttle = "waiting: server unreachable";
  } else if (t.state == ThrottleState::kPaused && t.limiting == "server unreachable") {
    s->throttle = "waiting: " + t.reason;  // the probe's server: "source unreachable for 6 s"
  } else if (t.state != ThrottleState::kRunning) {
    s->throttle = std::string(throttle_state_name(t.state)) + ": " + t.reason;
  } else if (t.rate_cap > 0) {
    s->throttle =
        "paced: max rate " + with_thousands(static_cast<std::int64_t>(t.rate_cap)) + " rows/s";
  }
}

}  // namespace backfill
