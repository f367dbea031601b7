// The claim loop shared by every chunked job: one chunk claimed from the ledger per free
// token and the throttle's admission, retried like any transient failure, and handed to the job's
// graph; the ledger's totals refreshed for progress once a second. Runs on the calling thread,
// which is the only thread that claims. Not thread-safe; one loop per job run.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <semaphore>

#include "engine/ledger/ledger.hpp"
#include "engine/pipeline/retry.hpp"
#include "engine/throttle/throttle.hpp"

namespace backfill {

struct ClaimLoop {
  Ledger& ledger;
  KeyWalker& walker;
  std::int64_t chunk_rows;
  int plan_ahead;
  const RetryPolicy& retry;
  const std::atomic<bool>* interrupt;
  std::counting_semaphore<>& tokens;  // released by the job when a chunk is finished
  ChunkThrottle& throttle;            // admits each chunk and sizes it; the job reports it finished
  const Clock& clock;                 // paces the refresh of the ledger's totals
  std::atomic<int>* waiting = nullptr;  // counts a claim waiting out a lost server

  // Claims until nothing is left for this worker or `stop()` says so. Returns the error of a
  // claim that failed for good. `on_progress` gets the ledger's totals at most once a second;
  // empty, they are not read.
  Status run(const std::function<bool()>& stop, const std::function<void(Chunk)>& dispatch,
             const std::function<void(const RetryEvent&)>& on_retry,
             const std::function<void(const LedgerProgress&)>& on_progress);
};

// A chunk whose statement timed out (`st` is kTimeout) goes back to the ledger as two
// halves, cut at the middle key a new walker finds, and the throttle halves the chunk size.
// False when it is not a timeout or cannot be split (one row, a ledger that cannot), and
// the caller retries the timeout like any transient error. Thread-safe as the ledger is.
bool split_timed_out_chunk(const Status& st, const Chunk& chunk,
                           const std::function<Result<std::unique_ptr<KeyWalker>>()>& open_walker,
                           Ledger& ledger, ChunkThrottle& throttle);

}  // namespace backfill
