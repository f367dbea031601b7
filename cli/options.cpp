#include "cli/options.hpp"

#include "cli/job_file.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace backfill::cli {

void add_table_options(CLI::App* app, CopyOptions* o, bool required) {
  // The last value of a repeated option wins, so a flag overrides a job file or an alias.
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->add_option("--source", o->source,
                  "Source connection string or URI (libpq; PG* variables apply)")
      ->required(required);
  app->add_option("--target", o->target, "Target connection string or URI")->required(required);
  // --table or --tables, one of them: check_table_choice(), after the job file is read.
  app->add_option("--table", o->request.table, "Source table: name or schema.name");
  app->add_option("--to", o->request.to, "Target table (default: the source table's name)");
  app->add_option("--tables", o->tables,
                  "A set of source tables as one job, in foreign-key order: comma-separated "
                  "patterns, schema.name with * globs, \"Quoted\" names");
  app->add_option("--exclude", o->exclude, "Patterns of tables to leave out of --tables");
  app->add_option("--to-schema", o->to_schema,
                  "With --tables: the target tables' schema (default: each source table's)");
  app->add_option(
      "--key", o->request.key,
      "Key columns, comma-separated: NOT NULL with a unique index (default: primary key)");
  app->add_option("--columns", o->request.columns,
                  "Target columns to fill, comma-separated (default: every column the source has)");
  app->add_option("--map", o->request.maps,
                  "\"target_column = source_column\" or \"target_column = expression\", computed "
                  "here (repeatable; functions: see the README)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option("--source-expr", o->request.source_exprs,
                  "\"target_column = SQL\": the source computes the column from its row "
                  "(repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option("--where", o->request.where, "SQL condition on the source rows");
  add_chunk_options(app, o);
}

void add_chunk_options(CLI::App* app, CopyOptions* o) {
  app->add_option_function<int>(
         "--jobs",
         [o](const int& n) {
           o->jobs = n;
           o->jobs_given = true;
         },
         "Parallel connections each way (default 2; copy into a table whose btree index leads "
         "with the key: 1)")
      ->check(CLI::Range(1, kMaxJobs));
  app->add_option_function<std::int64_t>(
         "--chunk-rows",
         [o](const std::int64_t& n) {
           o->chunk_rows = n;
           o->chunk_rows_given = true;
         },
         "Rows per chunk (default 50000, then sized toward --chunk-time; given, it stays "
         "fixed unless --chunk-time is given too)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  app->add_option("--report", o->report, "Write a JSON report to FILE");
  app->add_option("--plugin", o->plugins, "Load --map functions from a shared library (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->check(CLI::ExistingFile);
  app->add_option("--progress", o->progress, "auto | bar | log | none")
      ->check(CLI::IsMember({"auto", "bar", "log", "none"}))
      ->capture_default_str();
  app->add_option("--log-format", o->log_format,
                  "text | json: each line of the log on stderr as text or as one JSON object")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app->add_option("--metrics-file", o->metrics.file,
                  "Write Prometheus metrics to FILE every 2 s and at the end (node_exporter's "
                  "textfile collector)");
  app->add_option("--metrics-listen", o->metrics.listen,
                  "Serve Prometheus metrics on http://[HOST:]PORT/metrics while the job runs "
                  "(HOST default 127.0.0.1)");
  app->add_option("--lock-timeout", o->lock_timeout_ms, "Per-statement lock wait, ms")
      ->check(CLI::Range(0, 3600000))
      ->capture_default_str();
  app->add_option("--statement-timeout", o->statement_timeout_ms, "Per-chunk statement time, ms")
      ->check(CLI::Range(0, 86400000))
      ->capture_default_str();
  app->add_option("--max-retries", o->max_retries,
                  "Tries of a chunk on transient errors other than a lost server")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app->add_option("--retry-for", o->retry_for,
                  "Wait out a lost server (restart, failover, network cut) for DURATION")
      ->check(CLI::Validator(
          [](std::string& text) {
            auto d = parse_duration(text, "--retry-for");
            return d.ok() ? std::string() : d.status().message();
          },
          "DURATION"))
      ->capture_default_str();
}

Status read_table_sections(const std::string& path, const std::vector<std::string>& section,
                           CopyOptions* o) {
  std::vector<CLI::ConfigItem> items;
  try {
    items = job_file_format()->from_file(path);
  } catch (const CLI::Error& e) {
    return Status::invalid("--config " + path + ": " + e.what());
  }
  const std::size_t n = section.size();
  for (const CLI::ConfigItem& item : items) {
    const auto& parents = item.parents;
    if (item.name == "++" || item.name == "--") continue;  // CLI11's section markers
    if (parents.size() <= n + 1 || parents[n] != "table" ||
        !std::equal(section.begin(), section.end(), parents.begin())) {
      continue;
    }
    // CLI11 splits a section's name at every dot, quoted ones too: "shop.orders" comes as
    // two parents; join them and take the quotes off.
    std::string name;
    for (std::size_t i = n + 1; i < parents.size(); ++i)
      name += (name.empty() ? "" : ".") + parents[i];
    if (name.size() >= 2 && (name.front() == '"' || name.front() == '\'') &&
        name.back() == name.front()) {
      name = name.substr(1, name.size() - 2);
    }
    auto it = std::find_if(o->table_sections.begin(), o->table_sections.end(),
                           [&](const TableSection& t) { return t.table == name; });
    if (it == o->table_sections.end()) {
      o->table_sections.push_back(TableSection{name, {}, {}, {}, {}, {}});
      it = std::prev(o->table_sections.end());
    }
    auto one = [&]() { return item.inputs.empty() ? std::string() : item.inputs.front(); };
    if (item.name == "key") {
      it->key = one();
    } else if (item.name == "columns") {
      it->columns = one();
    } else if (item.name == "where") {
      it->where = one();
    } else if (item.name == "map") {
      it->maps.insert(it->maps.end(), item.inputs.begin(), item.inputs.end());
    } else if (item.name == "source-expr") {
      it->source_exprs.insert(it->source_exprs.end(), item.inputs.begin(), item.inputs.end());
    } else {
      std::string where;
      for (const auto& s : section) where += s + ".";
      return Status::invalid("--config " + path + ": [" + where + "table.\"" + name +
                             "\"] has no option '" + item.name +
                             "'; a table's section takes key, columns, where, map and source-expr");
    }
  }
  return Status::ok();
}

void add_copy_options(CLI::App* app, CopyOptions* o, bool required) {
  add_table_options(app, o, required);
  app->add_option("--on-conflict", o->request.on_conflict,
                  "error | skip | overwrite | newer:COLUMN  (default: error)");
  app->add_option("--state", o->state, "Ledger database (default: the target)");
  app->add_option("--job", o->job, "Job name (default: derived from the tables)");
  app->add_flag("--restart", o->restart, "Forget the job's progress and start over");
  app->add_flag("--defer-indexes", o->defer_indexes,
                "Into an empty target that takes no writes yet: drop its indexes and "
                "constraints, copy, then rebuild them (kept in the ledger)");
  app->add_flag("--disable-triggers", o->disable_triggers,
                "Write with session_replication_role = replica: the target's triggers and "
                "foreign-key checks do not fire (tables whose foreign keys form a cycle)");
  app->add_flag_callback(
      "--sync-sequences", [o] { o->sync_sequences = true; },
      "At the end, move each target sequence a copied column owns past the source's value "
      "and the column's largest (default: on for --tables)");
  app->add_flag_callback(
      "--no-sync-sequences", [o] { o->sync_sequences = false; },
      "Leave the target's sequences as they are");
  add_throttle_options(app, &o->throttle);
}

void add_throttle_options(CLI::App* app, ThrottleCliOptions* o) {
  const char* group = "Throttling";
  auto add = [&](const char* name, auto* value, const char* help) {
    return app->add_option(name, *value, help)->group(group);
  };
  add("--max-active", &o->max_active, "Cut above N active backends (0: off)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  add("--max-lag", &o->max_lag, "Cut above this standby replication lag (0: off)")
      ->capture_default_str();
  add("--max-wal-rate", &o->max_wal_rate, "Cut above MB/s of WAL (0: off)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  add("--max-latency-factor", &o->max_latency_factor,
      "Cut when a probe query is X times slower than at the start (0: off)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  add("--critical-factor", &o->critical_factor, "Pause outright at a limit times X")
      ->check(CLI::Range(1.0, 1e6))
      ->capture_default_str();
  add("--max-rate", &o->max_rate, "Rows per second at most (0: no limit)")
      ->check(CLI::Range(0.0, 1e12))
      ->capture_default_str();
  add("--throttle-query", &o->throttle_query,
      "SQL returning one number; the job holds while it is over --throttle-query-max");
  add("--throttle-query-on", &o->throttle_query_on, "source | target")
      ->check(CLI::IsMember({"source", "target"}))
      ->capture_default_str();
  add("--throttle-query-max", &o->throttle_query_max, "Limit for --throttle-query")
      ->capture_default_str();
  add("--pause-file", &o->pause_file, "Hold the job while this file exists");
  add("--chunk-time", &o->chunk_time_ms, "Size chunks to take about MS each (default 500)")
      ->check(CLI::Range(1, 3600000));
  app->add_flag("--no-throttle", o->off, "Do not watch the databases' load")->group(group);
}

void add_verify_options(CLI::App* app, VerifyOptions* o, bool required) {
  add_table_options(app, &o->table, required);
  app->add_option("--method", o->method,
                  "auto | push-down | streamed: where rows are hashed (default: auto)")
      ->check(CLI::IsMember({"auto", "push-down", "streamed"}));
  app->add_option("--max-diffs", o->max_diffs, "Differences to list (the counts stay exact)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{100000000}))
      ->capture_default_str();
  app->add_option("--state", o->table.state, "Ledger database (default: the target)");
  app->add_option("--job", o->table.job, "Job name (default: derived from the tables)");
  app->add_flag("--restart", o->table.restart, "Forget the pass in progress and start a new one");
  app->add_option("--run-time", o->run_time,
                  "Stop after DURATION (90s, 45m, 2h); the same command continues the pass");
  app->add_flag("--repair", o->repair,
                "Re-copy the differing rows from the source, then compare those chunks again");
  app->add_option("--recheck", o->recheck_seconds,
                  "Compare differing chunks again after SECONDS; report what persists")
      ->check(CLI::Range(0.0, 86400.0));
  add_throttle_options(app, &o->table.throttle);
}

namespace {
constexpr double kMaxDurationMs = 366.0 * 24 * 3600 * 1000;
}  // namespace

Result<std::chrono::milliseconds> parse_duration(const std::string& text,
                                                 const std::string& option) {
  double v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  const std::size_t used = r.ec == std::errc() ? static_cast<std::size_t>(r.ptr - text.data()) : 0;
  const std::string unit = text.substr(used);
  double ms_per = unit == "ms"                    ? 1
                  : (unit == "s" || unit.empty()) ? 1000
                  : unit == "m"                   ? 60000
                  : unit == "h"                   ? 3600000
                                                  : -1;
  if (used == 0 || ms_per < 0 || !(v >= 0)) {
    return Status::invalid(option + ": '" + text + "' is not a duration (like 90s, 45m, 2h)");
  }
  // Beyond a year is a typo, and would overflow the milliseconds.
  if (v * ms_per > kMaxDurationMs) {
    return Status::invalid(option + ": '" + text + "' is longer than a year");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(v * ms_per));
}

ProgressMode parse_progress_mode(const std::string& s) {
  if (s == "bar") return ProgressMode::kBar;
  if (s == "log") return ProgressMode::kLog;
  if (s == "none") return ProgressMode::kNone;
  return ProgressMode::kAuto;
}

pg::SessionSettings session_settings(const CopyOptions& o) {
  pg::SessionSettings s;
  s.lock_timeout_ms = o.lock_timeout_ms;
  s.statement_timeout_ms = o.statement_timeout_ms;
  s.pool = o.sessions;
  return s;
}

void fill_job_options(const CopyOptions& o, const RunContext& ctx, ChunkJobOptions* jo) {
  jo->jobs = o.jobs;
  jo->chunk_rows = o.chunk_rows;
  jo->retry.max_attempts = o.max_retries;
  // Checked by the option's validator as it was parsed.
  if (auto d = parse_duration(o.retry_for, "--retry-for"); d.ok()) jo->retry.retry_for = d.value();
  jo->waiting_on_server = ctx.waiting_on_server;
  jo->progress = parse_progress_mode(o.progress);
  jo->interrupt = ctx.interrupt;
  jo->log = o.log;
}

void add_control_options(CLI::App* app, ControlOptions* o) {
  app->add_option("--state", o->state, "Ledger database (where the job runs its ledger)")
      ->required();
  app->add_option("--job", o->job, "The job to change")->required();
  app->add_flag("--pause", o->pause, "Hold every worker of the job");
  app->add_flag("--resume", o->resume, "Let it run again");
  app->add_flag("--as-started", o->as_started,
                "Return max rate, jobs and chunk time to what the job's command line gave "
                "(a --max-rate, --jobs or --chunk-time given too is then set)");
  app->add_option("--max-rate", o->max_rate, "Rows per second at most (0: no limit)")
      ->check(CLI::Range(0.0, 1e12));
  app->add_option("--jobs", o->jobs, "Chunks in flight: 2 x N (up to what it started with)")
      ->check(CLI::Range(1, kMaxJobs));
  app->add_option("--chunk-time", o->chunk_time_ms, "Size chunks to take about MS each")
      ->check(CLI::Range(1, 3600000));
}

std::string default_job_name(const std::string& command, const std::string& table,
                             const std::string& to) {
  return command + ":" + table + ":" + to;
}

void add_status_options(CLI::App* app, StatusOptions* o) {
  app->add_option("--state", o->state, "Ledger database (default: PG* environment variables)");
  app->add_option("--job", o->job, "Show only this job");
  app->add_flag("--json", o->json, "Print the jobs as one JSON document");
}

std::string key_text(const Key& key) {
  std::string out = "(";
  for (std::size_t i = 0; i < key.size(); ++i) out += (i ? ", " : "") + key[i];
  return out + ")";
}

Json watermark_json(const std::optional<Key>& key) {
  if (!key) return nullptr;
  return Json(*key);
}

Status finish_report(const CopyOptions& o, const JsonObject& report) {
  if (report.json().empty()) return Status::ok();
  if (o.log->json()) {
    o.log->info("summary", "the run's report", {{"report", report.json()}});
  }
  return o.report.empty() ? Status::ok() : write_report(o.report, report.str());
}

void print_warnings(Log* log, const std::vector<std::string>& warnings) {
  for (const auto& w : warnings) log->warning("warning", "backfill: warning: " + w);
}

}  // namespace backfill::cli
