// Update's stages on the chunk pipeline (engine/pipeline/pipeline.hpp), the "backfill" step
// of expand/contract: each chunk one short UPDATE of the rows that need it, run by an
// updater, the job's worker (one connection each), counted serially.
//
//   claim (serial, throttled) -> update (an updater's thread) -> commit (serial)
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

// `rows`: changed by this run.
struct UpdateJobStats : RunStats {};

Result<UpdateJobStats> run_update_job(UpdatedTable& table, Ledger& ledger,
                                      const ChunkJobOptions& options);

}  // namespace backfill
