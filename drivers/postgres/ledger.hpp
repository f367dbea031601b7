// The ledger in PostgreSQL: schema `backfill` in the state database (the target unless
// --state says otherwise), tables `jobs` and `chunks`.
//
// Workers claim chunks with SELECT ... FOR UPDATE SKIP LOCKED and a lease. A chunk whose
// worker's ledger session is gone from pg_stat_activity (the process died, kill -9
// included) or whose lease ran out is claimable again at once, so a rerun resumes without
// waiting. Planning is serialised by a row lock on the job. PostgreSQL is the coordinator:
// nothing else sits between workers. One connection, guarded by a mutex: thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "drivers/postgres/connection.hpp"
#include "drivers/postgres/defer_indexes.hpp"
#include "engine/ledger/ledger.hpp"
#include "engine/throttle/throttle.hpp"

namespace backfill::pg {

class PgLedger final : public Ledger {
 public:
  // A lease far longer than any healthy chunk; it only matters for a worker that hangs with
  // its session still open (a dead worker's session ends, which frees its chunks at once).
  static constexpr int kLeaseSeconds = 600;

  static Result<std::unique_ptr<PgLedger>> connect(const std::string& dsn,
                                                   const SessionSettings& settings);

  Result<JobOpen> open(const JobSpec& spec, bool restart) override;
  Result<std::optional<Chunk>> claim(KeyWalker& walker, std::int64_t chunk_rows,
                                     int plan_ahead) override;
  Status complete(const Chunk& chunk, const ChunkResult& result) override;
  Status release(const Chunk& chunk) override;
  Status split(const Chunk& chunk, const Key& mid) override;
  Result<LedgerProgress> progress() override;
  Result<JobResults> results(std::int64_t max_listed) override;
  Status finish(JobOutcome outcome, const std::string& message) override;

  // copy --defer-indexes: what job `job` dropped from its target, each marked rebuilt or not
  // (nullopt: nothing saved; readable before open()). save_deferred() and claim_rebuild()
  // run inside a transaction the caller holds on connection(), the target database's, so
  // that each is atomic with the DDL it records.
  Result<std::optional<std::vector<DeferredObject>>> saved_deferred(const std::string& job);
  // Saves `objects` as what this job drops, replacing the objects of an earlier run that are
  // all rebuilt; unless another worker of the job saved objects not rebuilt yet, which it
  // returns instead (the caller then drops nothing and finishes those). Holds the job's row
  // until the caller's transaction ends, so that two workers cannot both save.
  Result<std::optional<std::vector<DeferredObject>>> save_deferred(
      const std::vector<DeferredObject>& objects);
  // Marks `object` rebuilt; false when it already was (by another worker of the job, whose
  // transaction this one waited for). The caller rebuilds it only on true.
  Result<bool> claim_rebuild(const DeferredObject& object);

  // Where the rows estimate for progress and `status` comes from.
  void set_estimated_rows(std::optional<std::int64_t> rows) { estimated_rows_ = rows; }
  PgConnection& connection() { return *conn_; }

 private:
  explicit PgLedger(std::unique_ptr<PgConnection> conn) : conn_(std::move(conn)) {}
  Status ensure_schema();
  Status ensure_connected();
  Status refresh_identity();
  Result<std::optional<Chunk>> try_claim();
  Status plan_more(KeyWalker& walker, std::int64_t chunk_rows, int plan_ahead);

  std::mutex mu_;
  std::unique_ptr<PgConnection> conn_;
  std::string job_;
  std::string worker_;        // host:pid, for people reading the ledger
  std::string worker_start_;  // our ledger session's backend_start
  std::optional<std::int64_t> estimated_rows_;
};

// A worker's line to its job's row in the ledger, on a connection of its own (used by the
// throttle monitor's thread): publishes the worker's throttle state for `backfill status`
// and reads back what `backfill control` set.
class PgJobControl {
 public:
  static Result<std::unique_ptr<PgJobControl>> connect(const std::string& dsn,
                                                       const std::string& job);
  // `state` overrides the snapshot's ("done", "failed") for the last heartbeat of a run.
  Result<RuntimeControl> heartbeat(const ThrottleSnapshot& s, const std::string& state = "");

 private:
  PgJobControl(std::unique_ptr<PgConnection> conn, std::string job, std::string worker)
      : conn_(std::move(conn)), job_(std::move(job)), worker_(std::move(worker)) {}
  std::unique_ptr<PgConnection> conn_;
  std::string job_, worker_;
};

// The DDL of the ledger, for the README and `plan`.
const char* ledger_schema_sql();

}  // namespace backfill::pg
