// The copy pipeline: chunks claimed from the ledger, read, transformed, written and
// committed, as a oneTBB flow graph with a bound on chunks in flight.
//
//   claim (this thread, serial) -> read (async: reader threads, one connection each)
//     -> transform (CPU, parallel) -> write (async: writer threads, one connection each)
//     -> commit (serial: counters, ledger, token back)
//
// Blocking database calls never run on oneTBB's worker threads: claims run on the calling
// thread, reads and writes on their own I/O threads, so the CPU stage keeps every core.
// At most `max_in_flight` chunks exist at once (tokens), so memory is flat whatever the
// table's size. run_copy_job() blocks until the job ends; it is not reentrant.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine/job_options.hpp"
#include "engine/ledger.hpp"
#include "engine/progress.hpp"
#include "engine/retry.hpp"
#include "engine/sink.hpp"
#include "engine/source.hpp"
#include "engine/transform.hpp"

namespace backfill {

struct CopyJobOptions : ChunkJobOptions {
  int max_in_flight = 0;  // 0: 2 * jobs, enough to keep readers and writers busy
};

struct CopyJobStats {
  JobOutcome outcome = JobOutcome::kOk;
  Status error;                   // why, when not kOk
  std::int64_t rows = 0;          // rows read and written by this run
  std::int64_t rows_written = 0;  // inserted or updated in the target (less under skip)
  std::int64_t chunks = 0;        // finished by this run
  std::int64_t retries = 0;
  std::int64_t splits = 0;  // chunks that timed out and went back as two halves
  double seconds = 0;
  LedgerProgress ledger;  // the job as a whole, at the end
};

// Runs the job to its end. Errors that stop the job are in CopyJobStats::error, not in the
// Result: the Result fails only when the job could not start at all.
Result<CopyJobStats> run_copy_job(Source& source, Sink& sink, Ledger& ledger,
                                  const Transform& transform, const CopyJobOptions& options);

}  // namespace backfill
