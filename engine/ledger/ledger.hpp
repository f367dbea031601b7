// The Ledger seam: a job's durable state, and how workers share it.
//
// The ledger records a job (its name and a fingerprint of the arguments that decide its
// data), the chunks planned so far with their state, and where planning stands. Chunks move
// pending -> running (claimed, with a lease) -> done. A claim whose worker died, or whose
// lease ran out, is claimable again. Several workers (threads or processes, on one machine
// or many) may share a job: claim() hands each chunk to one of them. The ledger plans
// nothing itself: the chunker (engine/plan/chunker.hpp) walks the key and record_plan()
// stores what it found. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/checksum/row_diff.hpp"
#include "engine/plan/planner.hpp"
#include "engine/util/status.hpp"

namespace backfill {

struct JobSpec {
  std::string name;
  std::string command;      // copy, verify, update
  std::string fingerprint;  // of the arguments that decide what is written
  std::string description;  // human-readable, for `status`; never holds a password
  std::int64_t chunk_rows = 0;
};

enum class JobOpen {
  kNew,          // created, or recreated by --restart
  kResumed,      // found with work left
  kAlreadyDone,  // found complete: nothing to do
};

struct LedgerProgress {
  std::int64_t rows_done = 0;
  std::int64_t chunks_done = 0;
  std::int64_t chunks_planned = 0;
  std::int64_t chunks_running = 0;  // claimed and not finished, by any worker
  bool plan_done = false;
  // The contiguous low watermark: every key up to and including it is done, in the key
  // order the planner planned in (a split's upper half between its neighbours). nullopt
  // when the first chunk is not done yet, and once the last one is (see complete()).
  std::optional<Key> low_watermark;
  // Every chunk of the key range planned and done.
  bool complete() const { return plan_done && chunks_done == chunks_planned; }
};

enum class JobOutcome { kOk, kFailed, kInterrupted };

// How a job run ended: failed when it has an error, else interrupted when asked to stop
// (and then `error` says so), else ok.
inline JobOutcome settle_outcome(bool interrupted, Status* error) {
  if (!error->is_ok()) return JobOutcome::kFailed;
  if (!interrupted) return JobOutcome::kOk;
  *error = Status::interrupted("interrupted");
  return JobOutcome::kInterrupted;
}

// What a finished chunk leaves in the ledger. Copy fills `rows`; verify fills the rest too,
// so that a pass spread over several runs still ends in one verdict.
struct ChunkResult {
  std::int64_t rows = 0;         // copied, or read from the source
  std::int64_t target_rows = 0;  // verify: read from the target
  std::int64_t missing = 0, extra = 0, different = 0, repaired = 0;
  std::vector<RowDifference> listed;           // the differences kept, capped by the caller
  std::vector<RowDifference> repaired_listed;  // the repaired rows kept, likewise
  bool differs() const { return missing + extra + different > 0; }
  // A copy's result: just the rows.
  static ChunkResult of_rows(std::int64_t n) {
    ChunkResult r;
    r.rows = n;
    return r;
  }
};

struct ChunkRecord {
  Chunk chunk;
  ChunkResult result;  // listed rows not filled in
};

// The results of every finished chunk of the job, whichever run finished it.
struct JobResults {
  std::int64_t chunks = 0;
  std::int64_t chunks_mismatched = 0;   // exact; `mismatched` lists the first of them
  ChunkResult totals;                   // listed: the first `max_listed`, in chunk order
  std::vector<ChunkRecord> mismatched;  // chunks with differences or repairs, in order
};

class Ledger {
 public:
  virtual ~Ledger() = default;
  // Creates the job, or finds it. A job found with a different fingerprint is an error
  // (kInvalid) unless `restart`, which forgets its chunks and starts over.
  virtual Result<JobOpen> open(const JobSpec& spec, bool restart) = 0;
  // A pending chunk (or one a dead worker held) for this worker, in key order; nullopt
  // when none is: planning may need to go on.
  virtual Result<std::optional<Chunk>> claim() = 0;
  // Where planning stands: the last planned chunk's upper bound, and whether the key range
  // is planned to its end.
  virtual Result<PlanCursor> plan_position() = 0;
  // Records `chunks`, planned from `from` on, and `to`, where planning then stands; false,
  // recording nothing, when planning no longer stands at `from` (another worker recorded
  // its own plan meanwhile).
  virtual Result<bool> record_plan(const PlanCursor& from, const std::vector<ChunkRange>& chunks,
                                   const PlanCursor& to) = 0;
  virtual Status complete(const Chunk& chunk, const ChunkResult& result) = 0;
  // Gives a claimed chunk back (failure or interrupt) so the next run takes it first.
  virtual Status release(const Chunk& chunk) = 0;
  // Gives a claimed chunk back as two pending halves, (lo, mid] under its id and (mid, hi]
  // under a new one: for a chunk whose statement timed out. A ledger that cannot, says so.
  virtual Status split(const Chunk& chunk, const Key& mid) {
    (void)chunk;
    (void)mid;
    return Status::failed("this ledger cannot split chunks");
  }
  virtual Result<LedgerProgress> progress() = 0;
  // The job's results so far, listing at most `max_listed` differences (and repairs) and
  // mismatched chunks.
  virtual Result<JobResults> results(std::int64_t max_listed) = 0;
  // Records how this worker's run ended; the job is done once every chunk is.
  virtual Status finish(JobOutcome outcome, const std::string& message) = 0;
};

}  // namespace backfill
