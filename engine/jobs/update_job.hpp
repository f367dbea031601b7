// Update's stages on the chunk pipeline (engine/pipeline/pipeline.hpp), the "backfill" step
// of expand/contract: each chunk one short UPDATE of the rows that need it, run by an
// updater, the job's worker (one connection each), counted serially.
//
//   --set:  claim (serial, throttled) -> update (an updater's thread) -> commit (serial)
//   --map:  claim -> read (the updater's thread) -> compute (the CPU arena)
//                 -> write (the updater's thread) -> commit
//
// An update whose statement times out goes back to the ledger as two halves. The updates
// are idempotent (each changes only rows that differ from what it would write), so a chunk
// done twice changes nothing the second time. run_update_job() blocks until the job ends.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/ledger/ledger.hpp"
#include "engine/transform/transform.hpp"
#include "engine/pipeline/job_options.hpp"

namespace backfill {

class ChunkUpdater {
 public:
  virtual ~ChunkUpdater() = default;
  // Without a map: updates the rows of the range that need it, in one short transaction;
  // the rows changed.
  virtual Result<std::int64_t> update(const ChunkRange& range) = 0;
  // With a map: the range's rows as the map reads them (one binary COPY stream, into `out`),
  // then, once the engine has computed them, the computed rows written back in one short
  // transaction, changing only the rows that need it; the rows changed.
  virtual Status read(const ChunkRange& range, std::string* out) = 0;
  virtual Result<std::int64_t> write(const ChunkRange& range, std::string_view computed) = 0;
  virtual Status reset() = 0;
};

// The table being updated: hands out updaters (one per I/O thread) and key walkers.
class UpdatedTable {
 public:
  virtual ~UpdatedTable() = default;
  virtual Result<std::unique_ptr<ChunkUpdater>> open_updater() = 0;
  virtual Result<std::unique_ptr<KeyWalker>> open_walker() = 0;
  virtual std::optional<std::int64_t> estimated_rows() const = 0;
  // --map: what turns a read row into a row to write; null when the server computes every
  // column (--set only).
  virtual std::shared_ptr<const MapPlan> map() const = 0;
};

// `rows`: changed by this run.
struct UpdateJobStats : RunStats {};

Result<UpdateJobStats> run_update_job(UpdatedTable& table, Ledger& ledger,
                                      const ChunkJobOptions& options);

}  // namespace backfill
