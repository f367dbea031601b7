// Verify's stages on the chunk pipeline (engine/pipeline/pipeline.hpp): each chunk compared
// on both sides by a comparer, the job's worker (a scanner of each side, each from its own
// driver, both reading the chunk at once), the mismatches rechecked, repaired and resolved
// to rows, and the differences counted serially.
//
//   claim (serial) -> compare (a comparer's thread; --map and hashing of whole chunks in
//   the CPU arena) -> commit (serial)
//
// The comparison is the engine's; a driver only reads its side. run_verify_job() blocks
// until the pass ends; it is not reentrant.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "engine/checksum/row_diff.hpp"
#include "engine/checksum/row_hash.hpp"
#include "engine/jobs/progress.hpp"
#include "engine/ledger/ledger.hpp"
#include "engine/pipeline/job_options.hpp"
#include "engine/pipeline/retry.hpp"
#include "engine/table/source.hpp"
#include "engine/transform/transform.hpp"

namespace backfill {

enum class HashMethod {
  kPushDown,  // each server sums its rows' hashes; only a mismatching chunk's rows travel
  kStreamed,  // both sides' rows come here as binary COPY and are hashed here
};
const char* hash_method_name(HashMethod m);

// One side of a verify, the source or the target, on one connection of its own: the driver
// implements it. Each read is one statement, so each runs in its own short transaction.
// Used by one thread at a time.
class ChunkScanner {
 public:
  virtual ~ChunkScanner() = default;
  // Push-down: the side's server computes the chunk's row count and sum of row hashes over
  // the compared columns.
  virtual Result<ChunkDigest> digest(const ChunkRange& range) = 0;
  // Push-down: each row's key texts and hash, from the server, for a chunk that differs.
  virtual Result<std::vector<KeyedHash>> row_hashes(const ChunkRange& range) = 0;
  // Streamed: the chunk's compared columns, in the target's binary form (the source's as
  // they are read, before --map), the key texts first when `with_keys`, as one binary COPY
  // stream handed to `on_data` as it arrives.
  virtual Status stream(const ChunkRange& range, bool with_keys, const DataSink& on_data) = 0;
  virtual Status reset() = 0;

  // A table without a key (VerifiedTables::multiset) is read in ranges of its own physical
  // order; the key texts row_hashes() and a keyed stream give its rows are their positions.
  // The side's table cut into ranges of about `rows` rows, the last one open-ended.
  virtual Result<std::vector<ChunkRange>> position_ranges(std::int64_t rows) {
    (void)rows;
    return Status::failed("this side cannot read a table without a key");
  }
  // The compared columns of the rows at `positions`, as text ("NULL" for a null), in the
  // order asked; an empty Key for a position that holds no row any more.
  virtual Result<std::vector<Key>> values_at(const std::vector<Key>& positions) {
    (void)positions;
    return Status::failed("this side cannot read a table without a key");
  }
};

class SourceScanner : public ChunkScanner {
 public:
  // Repair: the rows of these keys as copy reads them (before --map), one binary COPY
  // stream with header and trailer, appended to `out`.
  virtual Status rows_by_key(const std::vector<Key>& keys, std::string* out) = 0;
};

class TargetScanner : public ChunkScanner {
 public:
  // Repair: in one transaction, deletes the rows of `remove` and writes `rows` (a binary
  // COPY stream as copy writes it; empty for none).
  virtual Status replace(const std::vector<Key>& remove, std::string_view rows) = 0;
};

// The two sides of a verify, each from its own driver, and how their rows are compared.
// Thread-safe: every scanner opens its own connection.
struct VerifiedTables {
  std::function<Result<std::unique_ptr<SourceScanner>>()> open_source;
  std::function<Result<std::unique_ptr<TargetScanner>>()> open_target;
  // A walker of the source's key, for the planner and for splits.
  std::function<Result<std::unique_ptr<KeyWalker>>()> open_walker;
  std::optional<std::int64_t> estimated_rows;  // the source's, for progress
  HashMethod method = HashMethod::kPushDown;
  // Streamed: how each compared column is normalised before hashing, the number of key
  // texts a keyed stream starts with, and the --map the source's rows go through first
  // (null: none). Its output fields are the compared columns.
  std::vector<FieldNorm> norms;
  std::size_t key_fields = 0;
  std::shared_ptr<const MapPlan> map;
  // No key on the source: the two tables are compared as multisets of rows. The job's one
  // chunk is the whole table; its comparer reads each side in position ranges of about
  // `multiset_rows` rows (each its own statement), adds up the counts and row-hash sums,
  // and, when they differ, reads the row hashes again in rounds of at most
  // `multiset_round_rows` rows a side (a slice of the hash space each; by count, not measured,
  // about 80 bytes a row, both sides at once: 80 MB for 500,000) to count exactly which rows are
  // missing or extra. A changed row is one of each. Each round reads both tables again.
  bool multiset = false;
  std::int64_t multiset_rows = 10000;
  std::int64_t multiset_round_rows = 500000;
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

Result<VerifyStats> run_verify_job(const VerifiedTables& tables, Ledger& ledger,
                                   const VerifyJobOptions& options);

}  // namespace backfill
