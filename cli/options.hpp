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
#include <string>
#include <vector>

#include "drivers/postgres/connection.hpp"
#include "drivers/postgres/copy_spec.hpp"
#include "engine/job_options.hpp"
#include "engine/progress.hpp"
#include "engine/status.hpp"

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

struct CopyOptions {
  std::string source;
  std::string target;
  std::string state;  // empty: the target
  pg::CopyRequest request;
  std::string job;
  bool restart = false;
  int jobs = kDefaultJobs;
  std::int64_t chunk_rows = kDefaultChunkRows;
  std::string report;
  std::string progress = "auto";
  int lock_timeout_ms = 5000;
  int statement_timeout_ms = 120000;
  int max_retries = 5;
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
};

// The options every chunked job takes, from the command line.
void fill_job_options(const CopyOptions& o, const RunContext& ctx, ChunkJobOptions* jo);

// Preflight shared by copy and plan: both connections and the resolved spec.
struct PreparedCopy {
  std::unique_ptr<pg::PgConnection> source;
  std::unique_ptr<pg::PgConnection> target;
  std::shared_ptr<const pg::CopySpec> spec;
};
Result<PreparedCopy> prepare_copy(const CopyOptions& o);

Status run_copy(const CopyOptions& o, const RunContext& ctx);
Status run_plan_copy(const CopyOptions& o);
Status run_plan_verify(const VerifyOptions& o);
Status run_verify(const VerifyOptions& o, const RunContext& ctx);

// Both connections, checked: the first step of every preflight.
struct Connections {
  std::unique_ptr<pg::PgConnection> source;
  std::unique_ptr<pg::PgConnection> target;
};
Result<Connections> connect_both(const CopyOptions& o);

struct StatusOptions {
  std::string state;
  std::string job;
};
void add_status_options(CLI::App* app, StatusOptions* o);
Status run_status(const StatusOptions& o);

}  // namespace backfill::cli
