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
#include <set>
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

  // `preflight` as PgConnection::connect's: a table of a set after the first is not.
  static Result<std::unique_ptr<PgLedger>> connect(const std::string& dsn,
                                                   const SessionSettings& settings,
                                                   bool preflight = true);
  // Gives back the chunks this session still holds: a pooled session outlives the ledger,
  // and its claims would look held by a live worker until their lease ran out.
  ~PgLedger() override;

  Result<JobOpen> open(const JobSpec& spec, bool restart) override;
  // The row of a set of tables (--tables; `spec.command` "copy --tables"): the set's name,
  // arguments and `backfill control`, its throttle's heartbeat. It has no chunks (each
  // table is a job of its own, "NAME/schema.table"), so it is planned from the start, and
  // finish() marks it done when a run of the whole set ends well.
  Result<JobOpen> open_set(const JobSpec& spec, bool restart);
  Result<std::optional<Chunk>> claim() override;
  Result<PlanCursor> plan_position() override;
  Result<bool> record_plan(const PlanCursor& from, const std::vector<ChunkRange>& chunks,
                           const PlanCursor& to) override;
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
  // kInvalid naming what the session's role lacks on the ledger's tables, made by another.
  Status check_ledger_privileges();
  Status ensure_connected();
  Status refresh_identity();
  Result<std::optional<Chunk>> try_claim();
  Result<PlanCursor> read_plan_position(bool for_update, std::int64_t* next_chunk);

  std::mutex mu_;
  std::unique_ptr<PgConnection> conn_;
  std::string job_;
  std::string worker_;        // host:pid, for people reading the ledger
  std::string worker_start_;  // our ledger session's backend_start
  std::optional<std::int64_t> estimated_rows_;
  bool pooled_ = false;  // the session goes back to a pool when the ledger closes
};

// A worker's line to its job's row in the ledger, on a connection of its own (used by the
// throttle monitor's thread): publishes the worker's throttle state for `backfill status`
// and reads back what `backfill control` set.
class PgJobControl {
 public:
  static Result<std::unique_ptr<PgJobControl>> connect(const std::string& dsn,
                                                       const std::string& job,
                                                       std::shared_ptr<SessionPool> pool = nullptr);
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

// --- The ledger's statements that run on other connections than PgLedger's. ---

// The sink's half of "rows and completion in one transaction", inside the writer's own
// transaction: lock_pending_chunk() locks the chunk's row and says whether it still needs
// writing (false: done already, by another worker or by a commit a lost connection hid);
// record_chunk_done() marks it done with its counts.
Result<bool> lock_pending_chunk(PgConnection& conn, const std::string& job, std::int64_t id);
Status record_chunk_done(PgConnection& conn, const std::string& job, std::int64_t id,
                         std::int64_t rows, std::int64_t rows_written);

// The fingerprint job `job` was recorded with; nullopt when there is no ledger or no such job.
// Read-only, for preflight.
Result<std::optional<std::string>> job_fingerprint(PgConnection& conn, const std::string& job);
// The jobs of set `set`'s tables ("SET/schema.table") created since the set's own row was
// (open_set): the tables whose verify pass belongs to the set's pass now going on, not to
// the last one.
Result<std::set<std::string>> jobs_since_set(PgConnection& conn, const std::string& set);
// The set of tables job `job` is a table of ("SET/schema.table"), if it is one.
Result<std::optional<std::string>> set_of(PgConnection& conn, const std::string& job);

// Whether the database holds a ledger (the schema "backfill" with its jobs table).
Result<bool> ledger_exists(PgConnection& conn);

// One job as `backfill status` shows it.
struct JobStatusRow {
  std::string name, command, status, description;
  bool is_set() const { return command.ends_with(" --tables"); }
  std::int64_t estimated_rows = -1;  // -1: unknown
  std::int64_t chunks_done = 0, chunks = 0, chunks_running = 0, rows_done = 0;
  // rows/s: while it runs, the last minute's (over the part of it the job ran); else the
  // average over its chunks.
  double rate = 0;
  bool plan_done = false;
  std::int64_t chunk_rows = 0;  // the latest finished chunk's rows, else the starting size
  std::string updated_at;       // UTC, "YYYY-MM-DD HH24:MI:SS"
  std::string message;
  std::optional<Key> low_watermark;  // every key up to it is done (LedgerProgress's)
  std::int64_t live_workers = 0;     // its workers (a set's table: the set's) alive and at work
  bool stalled = false;              // running in the ledger, but no worker is alive
  // What `status` calls it: the ledger's status, or "stalled".
  std::string shown_status() const { return stalled ? "stalled" : status; }
  bool running() const { return status == "running" && !stalled; }
};
// Every job, or the one named and, when it names a set of tables (--tables), the set's
// tables' jobs (`NAME/schema.table`); `job` empty: all. Latest first.
Result<std::vector<JobStatusRow>> job_statuses(PgConnection& conn, const std::string& job);

// A worker's last heartbeat.
struct WorkerStatusRow {
  std::string worker, state, reason;
  std::int64_t chunk_rows = 0, in_flight = 0, allowed = 0, throttled_seconds = 0;
  bool live = false;  // heard from in the last 5 seconds, its session alive
  std::int64_t seconds_since = 0;
  bool session_gone = false;  // its heartbeat's session is no longer connected
  std::string last_state;     // when `state` is "dead": the state it last reported
};
Result<std::vector<WorkerStatusRow>> worker_statuses(PgConnection& conn, const std::string& job);

// What `backfill control` changes; an empty field stays as it is (max_rate 0: no cap, the
// command line's lifted too).
struct ControlChange {
  bool pause = false, resume = false;
  bool as_started = false;  // every setting back to NULL (the command line's) first
  std::optional<double> max_rate;
  std::optional<int> jobs, chunk_time_ms;
};
// The job's settings after the change, as the ledger's text ("" where `control` never set
// one: the command line's holds); nullopt: no such job.
struct ControlState {
  bool paused = false;
  std::string max_rate, jobs, chunk_time_ms;
};
Result<std::optional<ControlState>> change_control(PgConnection& conn, const std::string& job,
                                                   const ControlChange& change);

}  // namespace backfill::pg
