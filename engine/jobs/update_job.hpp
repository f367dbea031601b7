// The in-place update pipeline (the "backfill" step of expand/contract): chunks claimed as
// in copy, each one short UPDATE of the chunk's rows that need it, run on I/O threads (one
// connection each), counted serially.
//
//   claim (this thread, throttled) -> update (async: updater threads) -> tally (serial)
//
// An update whose statement times out goes back to the ledger as two halves. The updates
// are idempotent (each changes only rows that differ from what it would write), so a chunk
// done twice changes nothing the second time. run_update_job() blocks until the job ends.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "engine/ledger/ledger.hpp"
#include "engine/pipeline/job_options.hpp"

namespace backfill {

class ChunkUpdater {
 public:
  virtual ~ChunkUpdater() = default;
  // Updates the rows of the range that need it, in one short transaction; the rows changed.
  virtual Result<std::int64_t> update(const ChunkRange& range) = 0;
  virtual Status reset() = 0;
};

// The table being updated: hands out updaters (one per I/O thread) and key walkers.
class UpdatedTable {
 public:
  virtual ~UpdatedTable() = default;
  virtual Result<std::unique_ptr<ChunkUpdater>> open_updater() = 0;
  virtual Result<std::unique_ptr<KeyWalker>> open_walker() = 0;
  virtual std::optional<std::int64_t> estimated_rows() const = 0;
};

struct UpdateJobStats {
  JobOutcome outcome = JobOutcome::kOk;
  Status error;
  std::int64_t rows = 0;    // rows changed by this run
  std::int64_t chunks = 0;  // finished by this run
  std::int64_t retries = 0;
  std::int64_t splits = 0;  // chunks that timed out and went back as two halves
  double seconds = 0;
  LedgerProgress ledger;  // the job as a whole, at the end
};

Result<UpdateJobStats> run_update_job(UpdatedTable& table, Ledger& ledger,
                                      const ChunkJobOptions& options);

}  // namespace backfill
