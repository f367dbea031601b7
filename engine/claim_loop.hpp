// The claim loop shared by every chunked job: one chunk claimed from the ledger per free
// token and the throttle's admission, retried like any transient failure, and handed to the job's
// graph; the ledger's totals refreshed for progress once a second. Runs on the calling thread,
// which is the only thread that claims. Not thread-safe; one loop per job run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <semaphore>

#include "engine/ledger.hpp"
#include "engine/retry.hpp"
#include "engine/throttle.hpp"

namespace backfill {

struct ClaimLoop {
  Ledger& ledger;
  KeyWalker& walker;
  std::int64_t chunk_rows;
  int plan_ahead;
  const RetryPolicy& retry;
  const std::atomic<bool>* interrupt;
  std::counting_semaphore<>& tokens;  // released by the job when a chunk is finished
  Throttle* throttle = nullptr;       // admits each chunk and sizes it; the job reports it finished

  // Claims until nothing is left for this worker or `stop()` says so. Returns the error of a
  // claim that failed for good.
  Status run(const std::function<bool()>& stop, const std::function<void(Chunk)>& dispatch,
             const std::function<void(const Status&)>& on_retry,
             const std::function<void(const LedgerProgress&)>& on_progress);
};

}  // namespace backfill
