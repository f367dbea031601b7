// Verify's stages on the chunk pipeline (engine/pipeline/pipeline.hpp): each chunk compared
// on both sides by a comparer, the job's worker (one connection to each side, each side read
// in its own short transaction), the mismatches rechecked, repaired and resolved to rows,
// and the differences counted serially.
//
//   claim (serial) -> compare (a comparer's thread) -> commit (serial)
//
// Comparers do the database work and, for the streamed method, the hashing of the streams
// they read. run_verify_job() blocks until the pass ends; it is not reentrant.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "engine/checksum/row_diff.hpp"
#include "engine/jobs/progress.hpp"
#include "engine/ledger/ledger.hpp"
#include "engine/pipeline/job_options.hpp"
#include "engine/pipeline/retry.hpp"

namespace backfill {

struct ChunkComparison {
  ChunkDigest source;
  ChunkDigest target;
  std::vector<RowDifference> differences;  // what still differs; empty when the chunk matches
  std::vector<RowDifference> repaired;     // what differed and was repaired (--repair)
};

class ChunkComparer {
 public:
  virtual ~ChunkComparer() = default;
  virtual Result<ChunkComparison> compare(const ChunkRange& range) = 0;
  // Makes the target's rows of these keys equal the source's, in one transaction.
  virtual Status repair(const std::vector<RowDifference>& differences) = 0;
  virtual Status reset() = 0;
};

// Both sides of a verify: the database driver implements it. Thread-safe.
class ComparedTables {
 public:
  virtual ~ComparedTables() = default;
  virtual Result<std::unique_ptr<ChunkComparer>> open_comparer() = 0;
  virtual Result<std::unique_ptr<KeyWalker>> open_walker() = 0;
  virtual std::optional<std::int64_t> estimated_rows() const = 0;
};

struct VerifyJobOptions : ChunkJobOptions {
  std::int64_t max_diffs = 1000;  // listed; the counts stay exact
  // A chunk that differs is compared again after this delay, and only differences found
  // both times are reported: dual writes in flight during the first look settle.
  std::chrono::milliseconds recheck{0};
  // Differences are repaired, then the chunk is compared again.
  bool repair = false;
  // Stop claiming chunks at this time (--run-time, counted from the command's start); the
  // ledger keeps the pass, and the next run continues it.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct VerifyStats {
  JobOutcome outcome = JobOutcome::kOk;
  Status error;
  std::int64_t chunks_this_run = 0;
  std::int64_t rows_this_run = 0;
  JobResults results;                // the whole pass so far, from the ledger
  bool pass_complete = false;        // every chunk of the table is verified
  std::optional<Key> low_watermark;  // every key up to it is verified (LedgerProgress's)
  bool ran_out_of_time = false;
  std::int64_t retries = 0;
  double seconds = 0;
  bool differs() const { return results.totals.differs(); }
};

Result<VerifyStats> run_verify_job(ComparedTables& tables, Ledger& ledger,
                                   const VerifyJobOptions& options);

}  // namespace backfill
