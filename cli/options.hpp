// The options of the subcommands, and how they are declared to CLI11.
//
// One struct per family of options so that `copy` and `plan` (and later `verify`) declare
// them once. Values are validated by CLI11 where a range or a set says it all, and by the
// driver's preflight for everything that needs the database. Plain data; not thread-safe.
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/metrics.hpp"
#include "drivers/postgres/connection.hpp"
#include "drivers/postgres/copy_spec.hpp"
#include "drivers/postgres/ledger.hpp"
#include "drivers/postgres/update_spec.hpp"
#include "drivers/postgres/verify_spec.hpp"
#include "engine/jobs/log.hpp"
#include "engine/jobs/progress.hpp"
#include "engine/jobs/report.hpp"
#include "engine/pipeline/job_options.hpp"
#include "engine/table/table_set.hpp"
#include "engine/throttle/throttle_monitor.hpp"
#include "engine/util/status.hpp"

namespace backfill::cli {

// Defaults, each with its reason.
// 50,000 rows: measured on the 5M-row users table of scripts/bench.sh (2 cores), 10,000-row
// chunks took 11.1 s, 25,000 9.8 s, 50,000 8.7 s, 100,000 9.3 s. A 50,000-row chunk of that
// table is about 7 MB and 200 ms: a short transaction, and memory stays small. Tables with
// wide rows want a smaller --chunk-rows until chunks are sized by time.
inline constexpr std::int64_t kDefaultChunkRows = 50000;
// Two connections each way keep both cores of a small server busy without crowding it.
inline constexpr int kDefaultJobs = 2;
inline constexpr int kMaxJobs = 64;
// 500 ms: short enough that a chunk's locks and snapshot go unnoticed, long enough that the
// per-chunk round trips are a few percent of it.
inline constexpr int kDefaultChunkTimeMs = 500;

// Throttling: the load limits, each with its default and reason (README, "Throttling").
struct ThrottleCliOptions {
  // 32 backends running a statement at once is far past a small server's cores: the
  // application is queueing. A bigger server wants a bigger number.
  double max_active = 32;
  // gh-ost's default is 1.5 s; a PostgreSQL standby replaying a burst of COPY needs more.
  std::string max_lag = "5s";
  double max_wal_rate = 0;  // MB/s; 0: no limit (WAL volume alone hurts nobody)
  // `SELECT 1` round trips three times slower than before the job (and over 1.5 ms) are a
  // server that queues.
  double max_latency_factor = 3;
  double critical_factor = 4;  // pause outright at limit x this
  double max_rate = 0;         // rows/s; 0: no limit
  std::string throttle_query;
  std::string throttle_query_on = "target";
  double throttle_query_max = 0;
  std::string pause_file;
  int chunk_time_ms = 0;  // 0: 500 when sizing adapts (no --chunk-rows), off otherwise
  bool off = false;       // --no-throttle: no probes (the sizer still runs)
};

// A job file's options for one table of a set (--tables): a section `[copy.table."NAME"]`
// (`[verify.table."NAME"]`, `[plan.table."NAME"]`, `[plan.verify.table."NAME"]`), NAME a
// --tables pattern, with what --table's own options would say for it.
struct TableSection {
  std::string table;  // the section's pattern, as written
  std::string key, columns, where;
  std::vector<std::string> maps, source_exprs;
};

struct CopyOptions {
  std::string source;
  std::string target;
  std::string state;  // empty: the target
  CopyRequest request;
  std::string job;
  bool restart = false;
  int jobs = kDefaultJobs;
  bool jobs_given = false;  // copy picks its lanes from the target's indexes unless given
  std::int64_t chunk_rows = kDefaultChunkRows;
  bool chunk_rows_given = false;  // --chunk-rows pins the size unless --chunk-time is given
  ThrottleCliOptions throttle;
  std::string report;
  std::string progress = "auto";
  std::string log_format = "text";  // --log-format: text | json
  MetricsOptions metrics;           // --metrics-file, --metrics-listen
  int lock_timeout_ms = 5000;
  int statement_timeout_ms = 120000;
  int max_retries = 5;
  // DURATION a lost server is waited out (engine/pipeline/retry.hpp's RetryPolicy).
  std::string retry_for = "5m";
  std::vector<std::string> plugins;  // --plugin PATH.so: more functions for --map
  bool defer_indexes = false;        // copy: fill the bare heap, rebuild indexes at the end
  // A set of tables instead of --table: patterns (engine/table/table_set.hpp), the patterns
  // left out, and the target schema (empty: each table's own schema).
  std::string tables, exclude, to_schema;
  bool disable_triggers = false;       // copy: write with session_replication_role = replica
  std::optional<bool> sync_sequences;  // copy: default on for --tables, off for --table
  // Sessions kept open across the tables of a set (none for one table): session_settings()
  // hands it to every session the job opens.
  std::shared_ptr<pg::SessionPool> sessions;
  std::vector<TableSection> table_sections;  // from the job file (read_table_sections)
  // The command's log, as --log-format says (main sets it once the options are parsed);
  // never null.
  Log* log = &Log::standard();
};

// What verify takes: the tables and their column mapping as copy does, and how to compare.
struct VerifyOptions {
  CopyOptions table;
  std::string method = "auto";
  std::int64_t max_diffs = 1000;
  bool repair = false;
  double recheck_seconds = 0;
  std::string run_time;  // DURATION: "90s", "45m", "2h", "1500ms"; a plain number is seconds
};

// "90s", "45m", "2h", "1500ms", "30" (seconds) as milliseconds; kInvalid otherwise.
Result<std::chrono::milliseconds> parse_duration(const std::string& text,
                                                 const std::string& option);

// The tables, columns, chunking and output options that copy and verify share.
// `required`: false for plan, whose subcommands share these options and check them by hand.
void add_table_options(CLI::App* app, CopyOptions* o, bool required = true);
// The chunking and output options of every chunked job: --jobs, --chunk-rows, --report,
// --progress, --log-format, the metrics, the timeouts and --max-retries.
void add_chunk_options(CLI::App* app, CopyOptions* o);

// Declares copy's options on `app` (used by copy and plan).
void add_copy_options(CLI::App* app, CopyOptions* o, bool required = true);
void add_verify_options(CLI::App* app, VerifyOptions* o, bool required = true);

ProgressMode parse_progress_mode(const std::string& s);
pg::SessionSettings session_settings(const CopyOptions& o);
// "copy:public.users:public.users_v2": the default job name for a copy.
std::string default_job_name(const std::string& command, const std::string& table,
                             const std::string& to);

// The process-wide interrupt flag a signal handler sets; passed down, never read globally.
struct RunContext {
  const std::atomic<bool>* interrupt = nullptr;
  // A set's count of its tables' callers waiting out a lost server, for its progress line;
  // null for one table, whose pipeline counts its own.
  std::atomic<int>* waiting_on_server = nullptr;
  // The command's metrics (--metrics-*), null without.
  JobMetrics* metrics = nullptr;
  // A trial of `tune`: its observer watches the pipeline (and tells the metrics), and the
  // run prints no summary on stdout. Null for every other run.
  JobObserver* trial = nullptr;
  // The job this command runs, once its name is known: its log's lines and its metrics'
  // run series name it (a trial's are tune's own).
  void name_job(Log* log, const std::string& command, const std::string& job) const {
    log->set_job(command, job);
    if (metrics != nullptr && trial == nullptr) metrics->set_job(job);
  }
  // This job's observer of table `table`: the trial's, the metrics' one, or none.
  JobObserver* observer(const std::string& job, const std::string& table) const {
    return trial ? trial : observer_of(metrics, job, table);
  }
};

// The options every chunked job takes, from the command line.
void fill_job_options(const CopyOptions& o, const RunContext& ctx, ChunkJobOptions* jo);

// Preflight shared by copy and plan: both connections and the resolved spec.
struct PreparedCopy {
  std::unique_ptr<pg::PgConnection> source;
  std::unique_ptr<pg::PgConnection> target;
  std::shared_ptr<const pg::CopySpec> spec;
  int lanes = kDefaultJobs;  // chunks written at once: --jobs, or what the target's indexes want
  std::string lanes_why;     // for plan and the start line
};
Result<PreparedCopy> prepare_copy(const CopyOptions& o);

// The throttle of a copy from its options: the controller and sizer settings and one load
// probe per server. Checks the options (--max-lag, --throttle-query) as preflight.
struct ThrottleSetup {
  ThrottleOptions options;
  MonitorOptions monitor;
  std::vector<std::unique_ptr<LoadProbe>> probes;
  std::shared_ptr<pg::SessionPool> sessions;  // the control session's pool (CopyOptions)
};
// What a job's throttle watches: the databases it reads and writes (their identities,
// pg::database_identity) and its tables in each (qualified, quoted).
struct ThrottleScope {
  std::string source_db, target_db;
  std::vector<std::string> source_tables, target_tables;
  static ThrottleScope of(const pg::CopySpec& spec);
};
Result<ThrottleSetup> prepare_throttle(const CopyOptions& o, const ThrottleScope& scope,
                                       pg::PgConnection& source, pg::PgConnection& target);

// A job's running throttle: the Throttle, the thread that feeds it, and the heartbeat that
// publishes it in the ledger (`status`) and brings back `control`. The monitor runs from
// start() until finish() or destruction.
class JobThrottle {
 public:
  static Result<std::unique_ptr<JobThrottle>> start(ThrottleSetup setup,
                                                    const std::string& state_dsn,
                                                    const std::string& job);
  ~JobThrottle();
  Throttle* get() { return &throttle_; }
  // Stops the monitor and publishes how the run ended ("ok", "failed", ...).
  ThrottleSnapshot finish(const std::string& outcome);

 private:
  explicit JobThrottle(const ThrottleOptions& options) : throttle_(options) {}
  Throttle throttle_;
  std::unique_ptr<pg::PgJobControl> control_;
  std::unique_ptr<ThrottleMonitor> monitor_;
};

struct SetMember;
// A table job's throttle: its own JobThrottle for a table alone, or, for a table of a set,
// its TableThrottle over the set's.
class MemberThrottle {
 public:
  // Starts it (from `setup` when the table is alone) and points jo->throttle at it.
  Status start(const SetMember* member, std::optional<ThrottleSetup> setup,
               const std::string& state_dsn, const std::string& job, std::int64_t chunk_rows,
               ChunkJobOptions* jo);
  // Ends the table's own throttle, publishing how the run ended; what it saw.
  ThrottleSnapshot finish(const std::string& outcome);

 private:
  std::unique_ptr<JobThrottle> own_;
  std::unique_ptr<TableThrottle> view_;
};

const char* outcome_name(JobOutcome o);
// {"replication lag": 12.5, ...}: seconds throttled or paused, by the signal behind it.
Json throttled_by(const ThrottleSnapshot& s);
// A key as the terminal shows it: "(42)", "(2024-01-01, 7)".
std::string key_text(const Key& key);
// The report's "low_watermark": the key's values, or null when there is none.
Json watermark_json(const std::optional<Key>& key);
// The run's report: written to --report when it is given, and the "summary" event of a JSON
// log (its "report" field). Nothing for an empty report.
Status finish_report(const CopyOptions& o, const JsonObject& report);
// "backfill: warning: ..." to the log, one "warning" event each.
void print_warnings(Log* log, const std::vector<std::string>& warnings);

Status run_copy(const CopyOptions& o, const RunContext& ctx);
// One table's copy (--table), its report's fields in `report` (written by the caller).
// What a table of a set (--tables) is given by its set: the spec the set's preflight
// planned for it, and the set's throttle (one load probe per server, one heartbeat, one
// pause and rate for every table; each table sizes its own chunks, TableThrottle).
struct SetMember {
  std::shared_ptr<const pg::CopySpec> spec;           // copy
  std::shared_ptr<const pg::VerifySpec> verify_spec;  // verify
  Throttle* throttle = nullptr;
  // verify: the table's finished pass is part of the set's pass still going on (keep it,
  // do not start another); the set's --run-time deadline.
  bool continue_pass = false;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::string set_job;  // the set's job name: its log's and its metrics' job
};
// A table without a key is copied exactly once only when each chunk is recorded in the
// transaction that writes it: kInvalid naming the table when the ledger lives elsewhere.
Status check_keyless_ledger(const pg::CopySpec& spec, bool ledger_in_target);
// A table without a key is copied into an empty target, or by the job that wrote what the
// target has (resumed, not --restart): kInvalid naming the target otherwise. `ledger` is
// a session to the ledger's database, `target` to the target's.
Status check_keyless_target(const CopyOptions& o, const pg::CopySpec& spec,
                            pg::PgConnection& ledger, pg::PgConnection& target,
                            const std::string& job);
// --repair needs a key to match a differing row to its replacement: kInvalid for a keyless
// table.
Status check_keyless_repair(const pg::VerifySpec& spec, const VerifyOptions& vo);
// One table's copy; `member` when it is a table of a set, which then reports the
// throttle's time for all of its tables.
Status copy_table(const CopyOptions& o, const RunContext& ctx, JsonObject* report,
                  const SetMember* member = nullptr);
// The job file's per-table sections under `section` ("copy", or "plan" then "verify", …):
// kInvalid naming the file, the section and the key for an option such a section does not
// take. CLI11 reads the rest of the file and leaves these sections to this.
Status read_table_sections(const std::string& path, const std::vector<std::string>& section,
                           CopyOptions* o);
// --table or --tables, one of them, and no per-table option beside --tables.
Status check_table_choice(const CopyOptions& o);
// --sync-sequences for o's one table: each target sequence its columns own moved past the
// source's value and the column's largest; the list of them for the report.
Result<Json> sync_table_sequences(const CopyOptions& o);
// --tables: every table of the set, in foreign-key order, as one job (cli/tables.cpp).
// `report`, when given, receives the set's report (tune's trials).
Status run_copy_tables(const CopyOptions& o, const RunContext& ctx, JsonObject* report = nullptr);
Status run_verify_tables(const VerifyOptions& o, const RunContext& ctx,
                         std::chrono::steady_clock::time_point started,
                         JsonObject* report = nullptr);
// tune --tables: the set's tables, each source and target, once the set's preflight (its
// tables resolved, ordered and planned as copy or verify would) has passed; the ledger is
// not read.
struct SetTableNames {
  TableName source, target;
};
Result<std::vector<SetTableNames>> preflight_set_for_tune(const CopyOptions& o, bool for_verify);
Status run_plan_tables(const CopyOptions& o, bool for_verify);
// One table's verify; --run-time counts from `started`.
Status verify_table(const VerifyOptions& o, const RunContext& ctx,
                    std::chrono::steady_clock::time_point started, JsonObject* report,
                    const SetMember* member = nullptr);
Status run_plan_copy(const CopyOptions& o);
Status run_plan_verify(const VerifyOptions& o);
Status run_verify(const VerifyOptions& o, const RunContext& ctx);

// Both connections, checked: the first step of every preflight.
struct Connections {
  std::unique_ptr<pg::PgConnection> source;
  std::unique_ptr<pg::PgConnection> target;
};
// `preflight`: nothing is written yet, so a server that cannot be reached is bad input
// (exit 2); after the first write it is a transient error.
Result<Connections> connect_both(const CopyOptions& o, bool preflight = true);
// The preflight of the command's connection strings (cli/drivers.hpp's check_connections):
// source, target and --state.
Status check_copy_connections(const CopyOptions& o);
// The functions --map may call: the built-ins and those of every --plugin.
Result<std::shared_ptr<const FunctionRegistry>> load_functions(const CopyOptions& o);
// What every row's expressions share: now() is the moment the command started.
CallContext job_context();
// o.request with the functions and context filled in, for plan_copy and plan_verify.
Result<CopyRequest> full_request(const CopyOptions& o);

// Declares the throttle options on `app` (copy).
void add_throttle_options(CLI::App* app, ThrottleCliOptions* o);

// What update takes: the table and its --set clauses, and the chunking, ledger, output and
// throttle options of copy (`common.target` is the database; there is no source).
struct UpdateOptions {
  CopyOptions common;
  UpdateRequest request;
};
void add_update_options(CLI::App* app, UpdateOptions* o, bool required = true);
Status run_update(const UpdateOptions& o, const RunContext& ctx);
Status run_plan_update(const UpdateOptions& o);

// What tune takes: copy's options (the table, its mapping, the throttle) and the trials'.
struct TuneOptions {
  CopyOptions table;
  bool verify = false;            // trials of verify instead of copy
  std::vector<std::string> grid;  // "jobs=1,2,4 chunk-time=250,500,1000"
  std::optional<double> trial_seconds;
  std::int64_t trial_rows = 0;  // 0: by time only
  int repeat = 2;
  std::string out;  // --out DIR
};
void add_tune_options(CLI::App* app, TuneOptions* o);
Status run_tune(const TuneOptions& o, const RunContext& ctx);

struct ControlOptions {
  std::string state;
  std::string job;
  bool pause = false, resume = false;
  bool as_started = false;  // max rate, jobs and chunk time back to the command line's
  std::optional<double> max_rate;
  std::optional<int> jobs;
  std::optional<int> chunk_time_ms;
};
void add_control_options(CLI::App* app, ControlOptions* o);
Status run_control(const ControlOptions& o);

// The --state database of `status` and `control`, checked; `has_ledger` says whether it
// holds a backfill ledger yet.
Result<std::unique_ptr<pg::PgConnection>> connect_state(const std::string& state, bool* has_ledger);

struct StatusOptions {
  std::string state;
  std::string job;
  bool json = false;  // --json: the jobs as one JSON document on stdout
};
void add_status_options(CLI::App* app, StatusOptions* o);
Status run_status(const StatusOptions& o);

}  // namespace backfill::cli
