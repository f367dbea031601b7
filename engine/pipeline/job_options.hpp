// What every chunked job (copy, verify) is told by its caller: how many connections, how
// big a chunk, how to retry, where progress goes, and the interrupt flag to watch.
// Plain data; copied into each job.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>

#include "engine/jobs/progress.hpp"
#include "engine/ledger/ledger.hpp"
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

// The progress line's view of a throttle: the chunk size when it adapts, and why the job is
// not running free.
inline void describe_throttle(const ChunkThrottle& throttle, ProgressSnapshot* s) {
  const ThrottleSnapshot t = throttle.snapshot();
  if (t.adaptive) s->chunk_rows = t.chunk_rows;
  if (t.state != ThrottleState::kRunning) {
    s->throttle = std::string(throttle_state_name(t.state)) + ": " + t.reason;
  } else if (t.rate_cap > 0) {
    s->throttle =
        "paced: max rate " + with_thousands(static_cast<std::int64_t>(t.rate_cap)) + " rows/s";
  }
}

}  // namespace backfill
