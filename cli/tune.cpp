// `backfill tune`: short trials of a copy (into a scratch table shaped like the target, in a
// scratch schema dropped at the end) or of a verify (read-only) over a grid of --jobs and
// chunk sizes, in alternating order and repeated, each measured by a JobObserver on its
// pipeline; then a table, a recommendation and, with --out, CSV, JSON and a plot.
//
// A trial is an ordinary copy_table / verify_table run under its own job name, throttled as
// any job is; tune stops it once it has run long enough (RunContext::interrupt of its own)
// and removes its rows from the ledger afterwards.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "cli/options.hpp"
#include "cli/tune.hpp"
#include "drivers/postgres/connection.hpp"
#include "drivers/postgres/ledger.hpp"
#include "drivers/postgres/sql.hpp"
#include "engine/jobs/progress.hpp"

namespace backfill::cli {

namespace {

// A trial stops only after this many chunks (unless it runs four times its length), so that
// its rate is not one chunk's.
constexpr std::int64_t kMinChunks = 4;
// A setting is within the load limits when the throttle held it back for at most this share
// of its trials' time.
constexpr double kThrottledShare = 0.10;
// Settings this close to the fastest count as fast as it; the lightest of them (fewest
// connections, then the shortest chunks) is recommended.
constexpr double kSameSpeed = 0.05;

using SteadyClock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double at = p * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const auto hi = static_cast<std::size_t>(std::ceil(at));
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

// Watches one trial's pipeline: counts what it did, samples the throttle's load readings at
// each chunk, and says when the trial has run long enough. Passes every event on to `next`
// (the metrics). Thread-safe.
class TrialObserver final : public JobObserver {
 public:
  TrialObserver(JobObserver* next, double seconds, std::int64_t rows)
      : next_(next), seconds_(seconds), rows_(rows) {}

  // A set's trial attaches each of its tables' pipelines: the trial runs from the first
  // attach to the last detach, the gaps between tables (their start-up) included. The
  // throttle sampled is the latest attached table's (its readings are the set's one
  // throttle's); any detach drops it, since the one detaching may be it and is then freed.
  void attach(std::function<ProgressSnapshot()> progress, const ChunkThrottle* throttle) override {
    {
      std::lock_guard lock(mu_);
      throttle_ = throttle;
      if (!started_) started_ = SteadyClock::now();
    }
    next_->attach(std::move(progress), throttle);
  }
  void detach(const ProgressSnapshot& last) override {
    {
      std::lock_guard lock(mu_);
      ended_ = SteadyClock::now();
      throttle_ = nullptr;
    }
    next_->detach(last);
  }
  void chunk_finished(const ChunkEvent& e) override {
    {
      std::lock_guard lock(mu_);
      if (e.outcome == ChunkEvent::Outcome::kDone) {
        result_.rows += e.rows;
        result_.bytes += e.bytes;
        ++result_.chunks;
        chunk_seconds_.push_back(e.seconds);
      }
      if (throttle_ != nullptr) sample(throttle_->snapshot());
    }
    next_->chunk_finished(e);
  }
  void retried(const RetryEvent& e) override {
    {
      std::lock_guard lock(mu_);
      ++result_.retries;
    }
    next_->retried(e);
  }

  // Whether the trial has run long enough: --trial-rows or --trial-seconds reached, with at
  // least kMinChunks chunks, or four times its length gone by regardless.
  bool long_enough() const {
    std::lock_guard lock(mu_);
    if (!started_) return false;
    const double ran = std::chrono::duration<double>(SteadyClock::now() - *started_).count();
    const bool reached = (rows_ > 0 && result_.rows >= rows_) || (seconds_ > 0 && ran >= seconds_);
    const double cap = seconds_ > 0 ? 4 * seconds_ : 600;
    return (reached && result_.chunks >= kMinChunks) || ran >= cap;
  }

  TrialResult result() const {
    std::lock_guard lock(mu_);
    TrialResult r = result_;
    if (started_) {
      const auto end = ended_.value_or(SteadyClock::now());
      r.seconds = std::chrono::duration<double>(end - *started_).count();
    }
    r.chunk_p50 = percentile(chunk_seconds_, 0.50);
    r.chunk_p95 = percentile(chunk_seconds_, 0.95);
    for (const auto& [name, s] : signals_) {
      r.signals[name] = SignalStat{s.sum / static_cast<double>(s.n), s.max, s.limit, s.unit};
    }
    return r;
  }

 private:
  struct Sum {
    double sum = 0, max = 0, limit = kNoLimit;
    std::int64_t n = 0;
    std::string unit;
  };
  void sample(const ThrottleSnapshot& t) {
    for (const Reading& r : t.readings) {
      if (!r.value) continue;
      Sum& s = signals_[r.name()];
      s.sum += *r.value;
      s.max = s.n == 0 ? *r.value : std::max(s.max, *r.value);
      ++s.n;
      s.limit = r.limit;
      s.unit = r.unit;
    }
  }

  JobObserver* next_;
  const double seconds_;
  const std::int64_t rows_;
  mutable std::mutex mu_;
  const ChunkThrottle* throttle_ = nullptr;
  std::optional<SteadyClock::time_point> started_, ended_;
  TrialResult result_;
  std::vector<double> chunk_seconds_;
  std::map<std::string, Sum> signals_;
};

// Sets `stop` once the trial is long enough or the user interrupts; ends with the trial.
class TrialTimer {
 public:
  TrialTimer(const TrialObserver& trial, const std::atomic<bool>* interrupt,
             std::atomic<bool>* stop)
      : thread_([this, &trial, interrupt, stop] {
          std::unique_lock lock(mu_);
          while (!done_) {
            if ((interrupt && interrupt->load()) || trial.long_enough()) stop->store(true);
            cv_.wait_for(lock, std::chrono::milliseconds(50));
          }
        }) {}
  ~TrialTimer() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

Result<std::vector<std::int64_t>> parse_values(const std::string& key, const std::string& list,
                                               std::int64_t lo, std::int64_t hi) {
  std::vector<std::int64_t> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t used = 0;
    std::int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v < lo || v > hi) {
      return Status::invalid("--grid: " + key + "=" + list + ": '" + item +
                             "' is not a whole number from " + std::to_string(lo) + " to " +
                             std::to_string(hi));
    }
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  if (out.empty()) return Status::invalid("--grid: " + key + " has no values");
  std::sort(out.begin(), out.end());
  return out;
}

// Powers of two up to twice the cores (at least 1, 2 and 4; at most five of them).
std::vector<std::int64_t> default_jobs() {
  const auto cores = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::int64_t> out;
  for (std::int64_t j = 1; j <= std::max<std::int64_t>(4, 2 * cores) && out.size() < 5; j *= 2)
    out.push_back(j);
  return out;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_-.,/:=@") == std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// What the user runs: their command with the recommended settings, connection strings
// without a password.
std::string command_line(const TuneOptions& t, const TrialSetting& s) {
  const CopyOptions& o = t.table;
  std::vector<std::string> a = {"backfill", t.verify ? "verify" : "copy"};
  auto add = [&](const std::string& opt, const std::string& v) {
    if (!v.empty()) a.insert(a.end(), {opt, shell_quote(v)});
  };
  add("--source", pg::describe_dsn(o.source));
  add("--target", pg::describe_dsn(o.target));
  if (!o.state.empty()) add("--state", pg::describe_dsn(o.state));
  add("--table", o.request.table);
  add("--tables", o.tables);
  add("--exclude", o.exclude);
  add("--to-schema", o.to_schema);
  add("--to", o.request.to);
  add("--key", o.request.key);
  add("--columns", o.request.columns);
  for (const auto& m : o.request.maps) add("--map", m);
  for (const auto& e : o.request.source_exprs) add("--source-expr", e);
  add("--where", o.request.where);
  if (!t.verify && o.request.on_conflict != "error") add("--on-conflict", o.request.on_conflict);
  if (!t.verify && o.disable_triggers) a.push_back("--disable-triggers");
  for (const auto& p : o.plugins) add("--plugin", p);
  // What was measured under: the throttle's limits and the timeouts where they are not the
  // defaults.
  const ThrottleCliOptions d;
  const ThrottleCliOptions& th = o.throttle;
  auto number = [](double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  };
  if (th.off) a.push_back("--no-throttle");
  if (th.max_active != d.max_active) add("--max-active", number(th.max_active));
  if (th.max_lag != d.max_lag) add("--max-lag", th.max_lag);
  if (th.max_wal_rate != d.max_wal_rate) add("--max-wal-rate", number(th.max_wal_rate));
  if (th.max_latency_factor != d.max_latency_factor) {
    add("--max-latency-factor", number(th.max_latency_factor));
  }
  if (th.critical_factor != d.critical_factor) add("--critical-factor", number(th.critical_factor));
  if (th.max_rate != d.max_rate) add("--max-rate", number(th.max_rate));
  add("--throttle-query", th.throttle_query);
  if (!th.throttle_query.empty()) {
    add("--throttle-query-on", th.throttle_query_on);
    add("--throttle-query-max", number(th.throttle_query_max));
  }
  add("--pause-file", th.pause_file);
  const CopyOptions defaults;
  if (o.lock_timeout_ms != defaults.lock_timeout_ms) {
    add("--lock-timeout", std::to_string(o.lock_timeout_ms));
  }
  if (o.statement_timeout_ms != defaults.statement_timeout_ms) {
    add("--statement-timeout", std::to_string(o.statement_timeout_ms));
  }
  add("--jobs", std::to_string(s.jobs));
  if (s.chunk_time_ms > 0) add("--chunk-time", std::to_string(s.chunk_time_ms));
  if (s.chunk_rows > 0) add("--chunk-rows", std::to_string(s.chunk_rows));
  std::string out;
  for (const auto& x : a) out += (out.empty() ? "" : " ") + x;
  return out;
}

std::string job_file_section(const TuneOptions& t, const TrialSetting& s) {
  std::string out = std::string("[") + (t.verify ? "verify" : "copy") + "]\n";
  out += "jobs = " + std::to_string(s.jobs) + "\n";
  if (s.chunk_time_ms > 0) out += "chunk-time = " + std::to_string(s.chunk_time_ms) + "\n";
  if (s.chunk_rows > 0) out += "chunk-rows = " + std::to_string(s.chunk_rows) + "\n";
  return out;
}

// The scratch schema and the tune's ledger rows, removed by cleanup() on every way out.
// Named by the process and a random tag: two tunes on two machines may share a pid.
class Scratch {
 public:
  Scratch(std::string target_dsn, std::string state_dsn, pg::SessionSettings settings)
      : target_dsn_(std::move(target_dsn)),
        state_dsn_(std::move(state_dsn)),
        settings_(std::move(settings)),
        tag_(std::to_string(getpid()) + "_" + random_tag()) {}
  ~Scratch() { (void)cleanup(); }

  std::string schema() const { return "backfill_tune_" + tag_; }
  std::string job_prefix() const { return "tune:" + tag_ + ":"; }

  // Notes whether the ledger's schema exists before the first trial creates it: tune drops
  // only a schema it made.
  Status remember_ledger() {
    BACKFILL_RETURN_IF_ERROR(connect());
    BACKFILL_ASSIGN_OR_RETURN(auto r,
                              state_->query("SELECT to_regnamespace('backfill') IS NOT NULL"));
    ledger_schema_existed_ = r.text(0, 0) == "t";
    return Status::ok();
  }
  // CREATE SCHEMA and CREATE TABLE ... (LIKE target INCLUDING ALL): the target's columns,
  // types, defaults, identity, generated columns, checks, indexes and their constraints.
  // Foreign keys are not copied (LIKE never copies them, and adding one would lock the
  // table it references). A default drawing on one of the user's sequences (serial) is
  // pointed at a sequence of the scratch schema: a trial must not move theirs.
  Result<std::string> create_table(const std::string& like, const std::string& name) {
    BACKFILL_RETURN_IF_ERROR(connect());
    pg::PgConnection& target = *target_;
    const std::string ns = pg::quote_ident(schema());
    const std::string table = ns + "." + pg::quote_ident(name);
    Status st = target.transaction([&]() -> Status {
      if (!schema_created_) BACKFILL_RETURN_IF_ERROR(target.exec("CREATE SCHEMA " + ns));
      BACKFILL_RETURN_IF_ERROR(
          target.exec("CREATE TABLE " + table + " (LIKE " + like + " INCLUDING ALL)"));
      BACKFILL_ASSIGN_OR_RETURN(
          auto serial,
          target.query("SELECT a.attname, a.attnum FROM pg_attrdef d JOIN pg_attribute a ON "
                       "a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE d.adrelid = "
                       "$1::regclass AND pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%'",
                       {table}));
      for (int i = 0; i < serial.rows(); ++i) {
        const std::string seq = ns + "." + pg::quote_ident("seq_" + serial.text(i, 1));
        const std::string column = pg::quote_ident(serial.text(i, 0));
        BACKFILL_RETURN_IF_ERROR(
            target.exec("CREATE SEQUENCE " + seq + " OWNED BY " + table + "." + column));
        BACKFILL_RETURN_IF_ERROR(target.exec("ALTER TABLE " + table + " ALTER COLUMN " + column +
                                             " SET DEFAULT nextval(" + pg::quote_literal(seq) +
                                             "::regclass)"));
      }
      return Status::ok();
    });
    if (!st.is_ok()) {
      return st.with_context("tune: creating the scratch table " + schema() + "." + name);
    }
    schema_created_ = true;
    return table;
  }
  // Between trials: the scratch tables empty again, the trial's ledger rows gone (a set's
  // and its tables', "JOB/schema.name").
  Status reset(const std::vector<std::string>& tables, const std::string& job) {
    BACKFILL_RETURN_IF_ERROR(connect());
    std::string list;
    for (const auto& t : tables) list += (list.empty() ? "" : ", ") + t;
    if (!list.empty()) BACKFILL_RETURN_IF_ERROR(target_->exec("TRUNCATE " + list));
    BACKFILL_ASSIGN_OR_RETURN(const bool has_ledger, pg::ledger_exists(*state_));
    return has_ledger ? state_->exec(
                            "DELETE FROM backfill.jobs WHERE name = $1 OR starts_with(name, $1 "
                            "|| '/')",
                            {job})
                      : Status::ok();
  }
  // Drops the scratch schema, deletes the trials' jobs from the ledger, and drops the
  // ledger's schema when tune created it and no other job has used it since. Tries every
  // step; the error names what is left.
  Status cleanup() {
    if (done_) return Status::ok();
    Status dropped = connect();
    if (dropped.is_ok() && schema_created_) {
      dropped = target_->exec("DROP SCHEMA IF EXISTS " + pg::quote_ident(schema()) + " CASCADE");
    }
    if (!dropped.is_ok()) {
      dropped = dropped.with_context("the scratch schema " + schema() + " is left: DROP SCHEMA " +
                                     pg::quote_ident(schema()) + " CASCADE");
    }
    Status forgotten = state_ ? forget_jobs() : Status::failed("no session to the ledger");
    if (!forgotten.is_ok()) {
      forgotten =
          forgotten.with_context("the trials' jobs " + job_prefix() + "* are left in the ledger");
    }
    if (!dropped.is_ok()) {
      return forgotten.is_ok() ? dropped : dropped.with_context(forgotten.message());
    }
    if (!forgotten.is_ok()) return forgotten;
    done_ = true;
    return Status::ok();
  }

 private:
  static std::string random_tag() {
    std::random_device rd;
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", static_cast<unsigned>(rd()));
    return buf;
  }
  Status connect() {
    for (auto* c : {&target_, &state_}) {
      if (*c && !(*c)->healthy()) c->reset();
    }
    for (auto [c, dsn] : {std::pair{&target_, &target_dsn_}, std::pair{&state_, &state_dsn_}}) {
      if (*c) continue;
      BACKFILL_ASSIGN_OR_RETURN(*c, pg::PgConnection::connect(*dsn, settings_));
      // DROP ... CASCADE's notices name the scratch objects: nothing the user needs.
      BACKFILL_RETURN_IF_ERROR((*c)->exec("SET client_min_messages = warning"));
    }
    return Status::ok();
  }
  // The trials' jobs, and the ledger's schema if tune made it and it holds no other job, in
  // one transaction that locks the jobs table: a job opening meanwhile waits, then finds no
  // ledger and makes its own.
  Status forget_jobs() {
    return state_->transaction([&]() -> Status {
      BACKFILL_ASSIGN_OR_RETURN(const bool has_ledger, pg::ledger_exists(*state_));
      if (!has_ledger) return Status::ok();
      BACKFILL_RETURN_IF_ERROR(
          state_->exec("DELETE FROM backfill.jobs WHERE starts_with(name, $1)", {job_prefix()}));
      if (ledger_schema_existed_) return Status::ok();
      BACKFILL_RETURN_IF_ERROR(state_->exec("LOCK TABLE backfill.jobs IN ACCESS EXCLUSIVE MODE"));
      BACKFILL_ASSIGN_OR_RETURN(auto left, state_->query("SELECT count(*) FROM backfill.jobs"));
      if (left.int64(0, 0) != 0) return Status::ok();
      return state_->exec("DROP SCHEMA backfill CASCADE");
    });
  }

  std::string target_dsn_, state_dsn_;
  pg::SessionSettings settings_;
  std::string tag_;
  std::unique_ptr<pg::PgConnection> target_, state_;
  bool ledger_schema_existed_ = true;  // until known: never drop a ledger tune did not make
  bool schema_created_ = false;
  bool done_ = false;
};

bool interrupted(const RunContext& ctx) { return ctx.interrupt && ctx.interrupt->load(); }

// Scratch schemas an earlier tune killed before its cleanup left behind.
Status warn_left_behind(pg::PgConnection& target, Log* log) {
  BACKFILL_ASSIGN_OR_RETURN(auto res,
                            target.query("SELECT nspname FROM pg_namespace WHERE nspname ~ "
                                         "'^backfill_tune_[0-9]+_[0-9a-f]{8}$' ORDER BY nspname"));
  for (int i = 0; i < res.rows(); ++i) {
    log->warning("warning", "backfill: warning: schema " + res.text(i, 0) +
                                " was left by a tune that did not finish; once no tune runs, "
                                "DROP SCHEMA " +
                                pg::quote_ident(res.text(i, 0)) + " CASCADE");
  }
  return Status::ok();
}

// The average bytes of a source row over `tables` (heap size over rows, a partitioned
// table's partitions included), for MB/s where the pipeline counts no bytes (verify); 0 when
// none was analysed.
double row_bytes(pg::PgConnection& source, const std::vector<std::string>& tables) {
  double bytes = 0, rows = 0;
  for (const auto& table : tables) {
    auto res = source.query(
        "SELECT coalesce(sum(pg_relation_size(c.oid)), 0)::float8, "
        "coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 FROM pg_class c WHERE c.oid IN "
        "(SELECT relid FROM pg_partition_tree($1::regclass)) AND c.reltuples > 0",
        {table});
    if (!res.ok() || res.value().rows() == 0) continue;
    bytes += std::stod(res.value().text(0, 0));
    rows += std::stod(res.value().text(0, 1));
  }
  return rows > 0 ? bytes / rows : 0;
}

}  // namespace

Result<TuneGrid> parse_tune_grid(const std::vector<std::string>& specs) {
  TuneGrid g;
  std::vector<std::string> items;
  for (const auto& spec : specs) {
    std::stringstream in(spec);
    std::string item;
    while (in >> item) items.push_back(item);
  }
  bool jobs = false;
  for (const auto& item : items) {
    const auto eq = item.find('=');
    const std::string key = eq == std::string::npos ? item : item.substr(0, eq);
    const std::string list = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "jobs") {
      BACKFILL_ASSIGN_OR_RETURN(g.jobs, parse_values(key, list, 1, kMaxJobs));
      jobs = true;
    } else if (key == "chunk-time") {
      BACKFILL_ASSIGN_OR_RETURN(g.chunk_time_ms, parse_values(key, list, 1, 3600000));
    } else if (key == "chunk-rows") {
      BACKFILL_ASSIGN_OR_RETURN(g.chunk_rows, parse_values(key, list, 1, 100000000));
    } else {
      return Status::invalid("--grid: '" + item +
                             "': give jobs=N,N,... and chunk-time=MS,MS,... or "
                             "chunk-rows=N,N,...");
    }
  }
  if (!g.chunk_time_ms.empty() && !g.chunk_rows.empty()) {
    return Status::invalid(
        "--grid: chunk-time and chunk-rows are two ways to size chunks; give one");
  }
  if (!jobs) g.jobs = default_jobs();
  if (g.chunk_time_ms.empty() && g.chunk_rows.empty()) g.chunk_time_ms = {250, 500, 1000};
  return g;
}

std::vector<TrialSetting> tune_order(const TuneGrid& g, int rounds) {
  std::vector<TrialSetting> points;
  for (std::int64_t j : g.jobs) {
    if (!g.chunk_rows.empty()) {
      for (std::int64_t r : g.chunk_rows) points.push_back({static_cast<int>(j), 0, r});
    } else {
      for (std::int64_t t : g.chunk_time_ms) points.push_back({static_cast<int>(j), t, 0});
    }
  }
  std::vector<TrialSetting> out;
  for (int r = 0; r < rounds; ++r) {
    // Every other round backwards: a server warming up or filling its cache over the run
    // favours no setting.
    if (r % 2 == 0) {
      out.insert(out.end(), points.begin(), points.end());
    } else {
      out.insert(out.end(), points.rbegin(), points.rend());
    }
  }
  return out;
}

std::optional<std::size_t> recommend(const std::vector<SettingSummary>& settings) {
  std::optional<std::size_t> fastest;
  auto faster = [&](std::size_t i) {
    return !fastest ||
           settings[i].median_rows_per_second > settings[*fastest].median_rows_per_second;
  };
  for (std::size_t i = 0; i < settings.size(); ++i) {
    if (settings[i].within_limits && faster(i)) fastest = i;
  }
  if (!fastest) return std::nullopt;
  const double best = settings[*fastest].median_rows_per_second;
  // The lightest setting as fast as the fastest: settings are in grid order, fewest jobs
  // and smallest chunks first.
  for (std::size_t i = 0; i < settings.size(); ++i) {
    if (settings[i].within_limits && settings[i].median_rows_per_second >= best * (1 - kSameSpeed))
      return i;
  }
  return fastest;
}

std::vector<SettingSummary> summarize(const std::vector<TrialSetting>& grid_order,
                                      const std::vector<TrialResult>& trials) {
  std::vector<SettingSummary> out;
  for (const TrialSetting& s : grid_order) {
    if (std::any_of(out.begin(), out.end(), [&](const auto& x) { return x.setting == s; }))
      continue;
    SettingSummary sum;
    sum.setting = s;
    std::vector<double> rates, p50, p95, mbs;
    double throttled = 0, seconds = 0;
    for (const TrialResult& t : trials) {
      if (!(t.setting == s)) continue;
      rates.push_back(t.rows_per_second());
      mbs.push_back(t.mb_per_second());
      p50.push_back(t.chunk_p50);
      p95.push_back(t.chunk_p95);
      throttled += t.throttled_seconds;
      seconds += t.seconds;
      sum.retries += t.retries;
      sum.chunk_rows = t.chunk_rows_end;
      ++sum.trials;
    }
    if (sum.trials == 0) continue;
    sum.median_rows_per_second = percentile(rates, 0.5);
    sum.min_rows_per_second = *std::min_element(rates.begin(), rates.end());
    sum.max_rows_per_second = *std::max_element(rates.begin(), rates.end());
    sum.median_mb_per_second = percentile(mbs, 0.5);
    sum.chunk_p50 = percentile(p50, 0.5);
    sum.chunk_p95 = percentile(p95, 0.5);
    sum.throttled_seconds = throttled;
    sum.within_limits = seconds > 0 && throttled <= kThrottledShare * seconds;
    out.push_back(sum);
  }
  return out;
}

void add_tune_options(CLI::App* app, TuneOptions* o) {
  add_copy_options(app, &o->table);
  app->add_flag("--verify", o->verify,
                "Tune a verify (read-only trials against the target) instead of a copy");
  app->add_option("--grid", o->grid,
                  "The settings tried: \"jobs=1,2,4 chunk-time=250,500,1000\" or "
                  "\"jobs=1,2 chunk-rows=10000,50000\" (default: jobs from the cores, "
                  "chunk-time 250,500,1000)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option(
         "--trial-seconds", o->trial_seconds,
         "Each trial runs this long, and at least 4 chunks (default 5, or none with --trial-rows)")
      ->check(CLI::Range(0.1, 3600.0));
  app->add_option("--trial-rows", o->trial_rows,
                  "Each trial stops after this many rows (and at least 4 chunks), or at "
                  "--trial-seconds if that comes first")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000000000}));
  app->add_option("--repeat", o->repeat, "Rounds over the grid, every other one backwards")
      ->check(CLI::Range(1, 20))
      ->capture_default_str();
  app->add_option("--out", o->out,
                  "Write trials.csv, trials.json and throughput.svg (and throughput.png where "
                  "gnuplot is installed) into DIR");
}

Status run_tune(const TuneOptions& given, const RunContext& ctx) {
  TuneOptions t = given;
  CopyOptions& o = t.table;
  BACKFILL_RETURN_IF_ERROR(check_table_choice(o));
  const bool set = !o.tables.empty();
  if (o.restart || o.defer_indexes) {
    return Status::invalid(std::string(o.restart ? "--restart" : "--defer-indexes") +
                           " is for a copy; tune's trials are jobs of their own, each into an "
                           "empty scratch table");
  }
  BACKFILL_ASSIGN_OR_RETURN(const TuneGrid grid, parse_tune_grid(t.grid));
  if (!t.out.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(t.out, ec);
    if (ec || !std::filesystem::is_directory(t.out)) {
      return Status::invalid("--out " + t.out + ": cannot create the directory" +
                             (ec ? ": " + ec.message() : ""));
    }
  }
  BACKFILL_RETURN_IF_ERROR(check_copy_connections(o));
  // --trial-rows alone: trials end by rows; by default, after 5 s.
  const double trial_seconds = t.trial_seconds.value_or(t.trial_rows > 0 ? 0 : 5);

  // Preflight: what a copy (or verify) of this table, or of the set, would check, before
  // anything is made. Each target is the shape of a scratch table (a copy's).
  struct Shape {
    std::string like, name;  // the target, quoted; the scratch table's name
  };
  std::vector<Shape> shapes;
  std::vector<std::string> source_tables;
  std::string source_name;
  double bytes_per_row = 0;
  {
    BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
    if (set) {
      BACKFILL_ASSIGN_OR_RETURN(auto tables, preflight_set_for_tune(o, t.verify));
      std::map<std::string, std::string> by_name;  // scratch name -> its source
      for (const SetTableNames& m : tables) {
        // The set is copied into one scratch schema (--to-schema), where names must differ.
        auto [at, fresh] = by_name.emplace(m.target.name, m.source.display());
        if (!t.verify && !fresh) {
          return Status::invalid("tune --tables copies the set into one scratch schema, where " +
                                 at->second + " and " + m.source.display() +
                                 " would share the name " + m.target.name +
                                 ": tune them apart (--exclude one of them)");
        }
        const pg::QualifiedName target{m.target.schema, m.target.name};
        shapes.push_back({target.quoted(), m.target.name});
        source_tables.push_back(pg::QualifiedName{m.source.schema, m.source.name}.quoted());
      }
      source_name = std::to_string(tables.size()) + " tables (--tables " + o.tables +
                    (o.exclude.empty() ? "" : " --exclude " + o.exclude) + ")";
    } else {
      BACKFILL_ASSIGN_OR_RETURN(CopyRequest request, full_request(o));
      request.for_verify = t.verify;
      BACKFILL_ASSIGN_OR_RETURN(pg::CopySpec spec, pg::plan_copy(*c.source, *c.target, request));
      print_warnings(o.log, spec.warnings);
      shapes.push_back({spec.target.quoted(), spec.target.name});
      source_tables.push_back(spec.source.quoted());
      source_name = spec.source.display();
    }
    bytes_per_row = row_bytes(*c.source, source_tables);
    BACKFILL_RETURN_IF_ERROR(warn_left_behind(*c.target, o.log));
  }
  const std::string state_dsn = o.state.empty() ? o.target : o.state;
  Scratch scratch(o.target, state_dsn, session_settings(o));
  BACKFILL_RETURN_IF_ERROR(scratch.remember_ledger());
  std::vector<std::string> scratch_tables;
  if (!t.verify) {
    for (const Shape& shape : shapes) {
      if (interrupted(ctx)) break;  // cleanup below drops what was made
      auto made = scratch.create_table(shape.like, shape.name);
      if (!made.ok()) {
        (void)scratch.cleanup();
        return made.status();
      }
      scratch_tables.push_back(std::move(made).value());
    }
  }
  if (interrupted(ctx)) {
    BACKFILL_RETURN_IF_ERROR(scratch.cleanup());
    return Status(ErrorKind::kInterrupted, "interrupted");
  }

  const std::vector<TrialSetting> order = tune_order(grid, t.repeat);
  const std::string what = std::string(t.verify ? "verify " : "copy ") + source_name;
  ctx.name_job(o.log, "tune", scratch.job_prefix() + "*");
  o.log->info(
      "start",
      strprintf("tune %s: %zu settings x %d round%s, %s each%s", what.c_str(),
                order.size() / static_cast<std::size_t>(t.repeat), t.repeat,
                t.repeat == 1 ? "" : "s",
                trial_seconds > 0
                    ? (format_duration(trial_seconds) +
                       (t.trial_rows > 0 ? " or " + with_thousands(t.trial_rows) + " rows" : ""))
                          .c_str()
                    : (with_thousands(t.trial_rows) + " rows").c_str(),
                t.verify ? "" : (", into " + scratch.schema()).c_str()));

  // The trials run quietly: their start lines and retries would drown tune's own lines;
  // their retries are counted, their failures end tune with the error.
  Log quiet(LogFormat::kText, nullptr);
  std::vector<TrialResult> trials;
  Status failure;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (interrupted(ctx)) {
      failure = Status(ErrorKind::kInterrupted, "interrupted");
      break;
    }
    const TrialSetting& s = order[i];
    CopyOptions trial = o;
    trial.job = scratch.job_prefix() + std::to_string(i + 1);
    // A trial's job is new (its name is this run's), and started afresh whatever a ledger
    // elsewhere (--state) holds.
    trial.restart = true;
    trial.jobs = s.jobs;
    trial.jobs_given = true;
    if (s.chunk_rows > 0) {
      trial.chunk_rows = s.chunk_rows;
      trial.chunk_rows_given = true;
      trial.throttle.chunk_time_ms = 0;
    } else {
      trial.chunk_rows_given = false;
      trial.throttle.chunk_time_ms = static_cast<int>(s.chunk_time_ms);
    }
    if (!t.verify) {
      if (set) {
        trial.to_schema = scratch.schema();
        // The scratch tables' own sequences: nothing the user needs moved, nor timed.
        trial.sync_sequences = false;
      } else {
        trial.request.to = scratch_tables.front();
      }
    }
    trial.report.clear();
    trial.progress = "none";
    trial.log = &quiet;

    TrialObserver observer(observer_of(ctx.metrics, scratch.job_prefix() + "*", source_name),
                           trial_seconds, t.trial_rows);
    std::atomic<bool> stop{false};
    RunContext trial_ctx;
    trial_ctx.interrupt = &stop;
    trial_ctx.metrics = ctx.metrics;
    trial_ctx.trial = &observer;
    JsonObject report;
    Status st;
    {
      TrialTimer timer(observer, ctx.interrupt, &stop);
      if (t.verify) {
        VerifyOptions vo;
        vo.table = trial;
        st = set ? run_verify_tables(vo, trial_ctx, SteadyClock::now(), &report)
                 : verify_table(vo, trial_ctx, SteadyClock::now(), &report);
      } else {
        st = set ? run_copy_tables(trial, trial_ctx, &report)
                 : copy_table(trial, trial_ctx, &report);
      }
    }
    const bool user_stop = interrupted(ctx);
    if (!st.is_ok() && st.kind() != ErrorKind::kInterrupted &&
        st.kind() != ErrorKind::kDifferences) {
      failure = st.with_context(strprintf("tune: trial %zu (--jobs %d)", i + 1, s.jobs));
      break;
    }
    if (user_stop) {
      failure = Status(ErrorKind::kInterrupted, "interrupted");
      break;
    }
    TrialResult r = observer.result();
    r.index = static_cast<int>(i + 1);
    r.round = static_cast<int>(i / (order.size() / static_cast<std::size_t>(t.repeat))) + 1;
    r.setting = s;
    r.bytes_per_row = bytes_per_row;
    const Json& j = report.json();
    // Held back by the load, not by the user's own --max-rate: pacing under a cap is the
    // setting the user chose, not a load limit the trial ran into.
    r.throttled_seconds = j.value("throttled_seconds", 0.0);
    if (auto by = j.find("throttled_by"); by != j.end() && by->is_object()) {
      r.throttled_seconds = std::max(0.0, r.throttled_seconds - by->value("max rate", 0.0));
    }
    r.chunk_rows_end = j.value("chunk_rows", std::int64_t{0});
    trials.push_back(r);
    o.log->info("trial",
                strprintf("trial %zu of %zu: %s: %s rows/s, %.1f MB/s, chunk p50 %.0f ms p95 "
                          "%.0f ms, %lld retries, throttled %.1f s",
                          i + 1, order.size(), setting_text(s).c_str(),
                          with_thousands(static_cast<std::int64_t>(r.rows_per_second())).c_str(),
                          r.mb_per_second(), r.chunk_p50 * 1000, r.chunk_p95 * 1000,
                          static_cast<long long>(r.retries), r.throttled_seconds),
                trial_json(r));
    if (Status reset = scratch.reset(scratch_tables, trial.job); !reset.is_ok()) {
      failure = reset.with_context("tune: emptying the scratch table");
      break;
    }
  }
  // The scratch schema goes whatever happened; its failure is reported after the trials'.
  Status cleaned = scratch.cleanup();
  if (!cleaned.is_ok()) cleaned = cleaned.with_context("tune");
  if (!failure.is_ok()) {
    if (!cleaned.is_ok()) o.log->error("error", "backfill: error: " + cleaned.message());
    return failure;
  }
  BACKFILL_RETURN_IF_ERROR(cleaned);

  TuneResult result;
  result.command = t.verify ? "verify" : "copy";
  result.table = source_name;
  result.trials = trials;
  result.settings = summarize(order, trials);
  result.pick = recommend(result.settings);
  if (result.pick) {
    result.command_line = command_line(t, result.settings[*result.pick].setting);
    result.job_file = job_file_section(t, result.settings[*result.pick].setting);
  }
  std::printf("%s", tune_table_text(result).c_str());
  if (!t.out.empty()) BACKFILL_RETURN_IF_ERROR(write_tune_files(result, t.out, o.log));
  JsonObject summary;
  summary.add("command", "tune").add("status", "ok").add("tune", tune_json(result));
  return finish_report(o, summary);
}

}  // namespace backfill::cli
