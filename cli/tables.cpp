// `--tables`: a set of tables as one job. The set is resolved from the source's catalog
// (engine/table/table_set.hpp), ordered by the target's foreign keys
// (engine/plan/table_order.hpp), and checked table by table before anything is written.
// Each table is then a sub-job of the set in the same ledger ("SET/schema.table"), run in
// that order, so that the same command resumes the set where it stopped: finished tables
// are found done, the interrupted one resumes, the rest start.
//
// --jobs tables run at once, each through the chunk pipeline with one lane of its own, a
// table once the tables it references are done (engine/jobs/ordered_runner.hpp). The tables
// share the set's pool of sessions, its throttle, its row in the ledger and its progress
// line (SetRun); each still claims and commits its own chunks, and one pipeline whose lanes
// take chunks of any table is the next step (README, "A schema in one job").
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>
#include <type_traits>

#include "cli/options.hpp"
#include "drivers/postgres/table_set.hpp"
#include "drivers/postgres/verify_spec.hpp"
#include "engine/jobs/ordered_runner.hpp"
#include "engine/jobs/progress.hpp"
#include "engine/util/hash.hpp"

namespace backfill::cli {
namespace {

struct SetTable {
  TableName source, target;
};

struct ResolvedSet {
  std::string job;                  // the set's job: each table's is job + "/" + schema.name
  std::vector<SetTable> tables;     // in foreign-key order
  std::vector<std::string> cycles;  // "a <-> b", "c references itself"
  // For each table (in `tables`' order), the positions of the tables it waits for.
  std::vector<std::vector<std::size_t>> waits_for;
  // For each table, its section of the job file, if it has one.
  std::vector<const TableSection*> sections;
};

// Each table's section of the job file: a section names at least one table of the set, and
// a table is named by one section at most.
Status match_sections(const CopyOptions& o, ResolvedSet* set) {
  set->sections.assign(set->tables.size(), nullptr);
  for (const TableSection& section : o.table_sections) {
    const std::string where = "job file section [table.\"" + section.table + "\"]";
    BACKFILL_ASSIGN_OR_RETURN(auto patterns, parse_table_patterns(section.table, where));
    if (patterns.size() != 1)
      return Status::invalid(where + ": one table (or pattern) per section");
    bool any = false;
    for (std::size_t i = 0; i < set->tables.size(); ++i) {
      if (!patterns[0].matches(set->tables[i].source)) continue;
      if (set->sections[i] != nullptr) {
        return Status::invalid(where + " and [table.\"" + set->sections[i]->table +
                               "\"] both name " + set->tables[i].source.display() +
                               "; give each table one section");
      }
      set->sections[i] = &section;
      any = true;
    }
    if (!any) {
      return Status::invalid(where + " names no table of the set (--tables " + o.tables +
                             (o.exclude.empty() ? "" : ", --exclude " + o.exclude) + ")");
    }
  }
  return Status::ok();
}

pg::QualifiedName qualified(const TableName& t) { return pg::QualifiedName{t.schema, t.name}; }

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string set_job_name(const CopyOptions& o, const char* command) {
  if (!o.job.empty()) return o.job;
  return std::string(command) + ":" + o.tables + (o.exclude.empty() ? "" : " -" + o.exclude) +
         (o.to_schema.empty() ? "" : ":" + o.to_schema);
}

Result<ResolvedSet> resolve_set(const CopyOptions& o, const char* command, bool for_copy) {
  BACKFILL_ASSIGN_OR_RETURN(auto include, parse_table_patterns(o.tables, "--tables"));
  std::vector<TablePattern> exclude;
  if (!o.exclude.empty()) {
    BACKFILL_ASSIGN_OR_RETURN(exclude, parse_table_patterns(o.exclude, "--exclude"));
  }
  std::string to_schema;
  if (!o.to_schema.empty()) {
    auto parsed = pg::parse_identifier(o.to_schema);
    if (!parsed.ok()) return parsed.status().with_context("--to-schema");
    to_schema = std::move(parsed).value();
  }
  BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
  BACKFILL_ASSIGN_OR_RETURN(auto candidates, pg::list_tables(*c.source));
  BACKFILL_ASSIGN_OR_RETURN(auto sources, select_tables(candidates, include, exclude));

  for (const TablePattern& p : exclude) {
    if (!matches_any(p, candidates)) {
      print_warnings(o.log,
                     {"--exclude '" + p.as_typed + "' matches no table of the source" +
                      (p.has_schema ? "" : " on its search_path (give the schema: s.name)")});
    }
  }

  std::vector<TableName> targets;
  for (const TableName& s : sources) {
    TableName t{to_schema.empty() ? s.schema : to_schema, s.name};
    for (std::size_t i = 0; i < targets.size(); ++i) {
      if (targets[i] == t) {
        return Status::invalid("--to-schema: " + sources[i].display() + " and " + s.display() +
                               " would both be copied into " + t.display() +
                               "; leave one out with --exclude");
      }
    }
    targets.push_back(std::move(t));
  }
  BACKFILL_ASSIGN_OR_RETURN(auto missing, pg::missing_tables(*c.target, targets));
  if (!missing.empty()) {
    return Status::invalid("--tables: the target has no table " + join(missing, ", ") +
                           "; create the target's tables first (pg_dump --schema-only, or your "
                           "migrations), or leave these out with --exclude");
  }
  BACKFILL_ASSIGN_OR_RETURN(auto references, pg::references_among(*c.target, targets));
  const TableOrder order = order_by_references(targets.size(), references);

  ResolvedSet set;
  set.job = set_job_name(o, command);
  o.log->set_job(command, set.job);
  for (const auto& cycle : order.cycles) {
    std::vector<std::string> names;
    for (std::size_t i : cycle) names.push_back(targets[i].display());
    set.cycles.push_back(names.size() == 1 ? names[0] + " references itself"
                                           : join(names, " <-> "));
  }
  std::vector<std::size_t> position(targets.size());
  for (std::size_t p = 0; p < order.order.size(); ++p) position[order.order[p]] = p;
  for (std::size_t i : order.order) {
    std::vector<std::size_t> waits;
    for (std::size_t w : order.waits_for[i]) waits.push_back(position[w]);
    set.tables.push_back(SetTable{sources[i], targets[i]});
    set.waits_for.push_back(std::move(waits));
  }
  if (for_copy && !set.cycles.empty() && !o.disable_triggers) {
    {
      return Status::invalid(
          "--tables: the target's foreign keys form a cycle (" + join(set.cycles, "; ") +
          "): no order of tables, or of chunks, is sure to satisfy them. Add --disable-triggers "
          "(the copy writes with session_replication_role = replica: no foreign-key checks or "
          "triggers fire for its rows; verify afterwards), or leave these tables out with "
          "--exclude");
    }
  }
  if (for_copy && o.disable_triggers) {
    BACKFILL_RETURN_IF_ERROR(pg::check_may_disable_triggers(*c.target));
  }
  BACKFILL_RETURN_IF_ERROR(match_sections(o, &set));
  return set;
}

// A session to --state for preflight's reads of the ledger; none when it is the target.
Result<std::unique_ptr<pg::PgConnection>> state_session(const CopyOptions& o) {
  if (o.state.empty()) return std::unique_ptr<pg::PgConnection>{};
  auto s = pg::PgConnection::connect(o.state, session_settings(o), true);
  if (!s.ok()) return s.status().with_context("--state");
  return std::move(s).value();
}

// A table's job left in the ledger by other arguments would stop the set half-way: refuse
// it at preflight (--restart starts the set over).
Status check_recorded(const CopyOptions& o, pg::PgConnection& ledger, const std::string& job,
                      const pg::CopySpec& spec) {
  if (o.restart) return Status::ok();
  BACKFILL_ASSIGN_OR_RETURN(auto recorded, pg::job_fingerprint(ledger, job));
  if (recorded && *recorded != hex64(hash64(spec.fingerprint_text()))) {
    return Status::invalid("job '" + job +
                           "' exists in the ledger with different arguments; run with "
                           "--restart to start the set over, or give another --job name");
  }
  return Status::ok();
}

// The target tables table `i` of the set waits for, as the terminal shows them.
std::string waits_text(const ResolvedSet& set, std::size_t i) {
  std::vector<std::string> names;
  for (std::size_t w : set.waits_for[i]) names.push_back(set.tables[w].target.display());
  return join(names, ", ");
}

// A table's request: the set's (its functions loaded once, its now()) with the table's names
// and the options of its section in the job file.
CopyRequest member_request(const CopyRequest& base, const CopyOptions& member) {
  CopyRequest r = base;
  r.table = member.request.table;
  r.to = member.request.to;
  r.key = member.request.key;
  r.columns = member.request.columns;
  r.where = member.request.where;
  r.maps = member.request.maps;
  r.source_exprs = member.request.source_exprs;
  return r;
}

// Table `i` of the set as a job of its own.
CopyOptions member_options(const CopyOptions& o, const ResolvedSet& set, std::size_t i) {
  const SetTable& m = set.tables[i];
  CopyOptions t = o;
  t.tables.clear();
  t.exclude.clear();
  t.to_schema.clear();
  t.table_sections.clear();
  t.request.table = qualified(m.source).quoted();
  t.request.to = qualified(m.target).quoted();
  t.job = set.job + "/" + m.source.display();
  t.report.clear();
  if (const TableSection* s = set.sections[i]) {
    t.request.key = s->key;
    t.request.columns = s->columns;
    t.request.where = s->where;
    t.request.maps = s->maps;
    t.request.source_exprs = s->source_exprs;
  }
  return t;
}

std::int64_t field(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The set's error: an interrupt when a table was interrupted (what failed after it is its
// doing), else the first failure; ok when every table that ran succeeded.
Status set_error(const std::vector<std::optional<Status>>& statuses) {
  Status error;
  for (const auto& st : statuses) {
    if (!st || st->is_ok()) continue;
    if (st->kind() == ErrorKind::kInterrupted) return *st;
    if (error.is_ok()) error = *st;
  }
  return error;
}

const char* failure_name(const Status& st) {
  return st.kind() == ErrorKind::kInterrupted ? "interrupted" : "failed";
}

// The set's options, with one pool of sessions for all its tables: a table opens its
// sessions (reader, writer, walker, ledger, probe, control) from the pool and gives them
// back, so that a set of small tables does not pay a new session for each.
CopyOptions with_shared_sessions(const CopyOptions& o) {
  CopyOptions shared = o;
  shared.sessions = std::make_shared<pg::SessionPool>();
  return shared;
}

void print_set(const ResolvedSet& set, Log* log) {
  log->info(
      "start",
      strprintf("job %s: %zu tables, in foreign-key order%s", set.job.c_str(), set.tables.size(),
                set.cycles.empty()
                    ? ""
                    : (" (cycles, triggers off: " + join(set.cycles, "; ") + ")").c_str()));
}

// A run of a set: its own row in the ledger (its name, arguments and `backfill control`),
// one throttle for all of its tables (one load probe per server, one heartbeat, one pause),
// and one progress line for the set, with the tables in flight. Not thread-safe but for
// started(), ended() and done(), which the tables' threads call.
class SetRun {
 public:
  // `total_rows`: the tables' estimates. A copy's line counts the rows earlier runs did too
  // (read from the ledger), a verify's only this pass's.
  static Result<std::unique_ptr<SetRun>> start(const CopyOptions& o, const ResolvedSet& set,
                                               const std::string& command,
                                               ThrottleSetup throttle_setup,
                                               std::optional<std::int64_t> total_rows,
                                               const RunContext& ctx) {
    std::unique_ptr<SetRun> r(new SetRun(set, ctx, o.log));
    ctx.name_job(o.log, command, set.job);
    const std::string state_dsn = o.state.empty() ? o.target : o.state;
    auto ledger = pg::PgLedger::connect(state_dsn, session_settings(o));
    if (!ledger.ok()) return ledger.status().with_context("--state");
    r->ledger_ = std::move(ledger).value();
    JobSpec spec;
    spec.name = set.job;
    spec.command = command + " --tables";
    // What each table copies is its own job's fingerprint, checked at preflight; the set's
    // only says what it does, so that a set resumed with another --exclude goes on.
    spec.fingerprint = hex64(hash64(command + " --tables"));
    spec.description = command + " tables " + o.tables +
                       (o.exclude.empty() ? "" : " except " + o.exclude) +
                       (o.to_schema.empty() ? "" : " into schema " + o.to_schema) + " (" +
                       pg::describe_dsn(o.source) + ") -> (" + pg::describe_dsn(o.target) + ")";
    spec.chunk_rows = o.chunk_rows;
    BACKFILL_ASSIGN_OR_RETURN(JobOpen opened, r->ledger_->open_set(spec, o.restart));
    if (opened == JobOpen::kAlreadyDone) {  // its tables say so each, or verify a new pass
      BACKFILL_ASSIGN_OR_RETURN(opened, r->ledger_->open_set(spec, true));
    }
    r->resumed_ = opened == JobOpen::kResumed;
    if (r->resumed_) {
      BACKFILL_ASSIGN_OR_RETURN(r->this_pass_,
                                pg::jobs_since_set(r->ledger_->connection(), set.job));
    }
    if (command == "copy" && !o.restart) {  // --restart starts every table over
      BACKFILL_ASSIGN_OR_RETURN(auto jobs, pg::job_statuses(r->ledger_->connection(), set.job));
      for (const auto& j : jobs) {
        r->rows_before_ += j.rows_done;
        r->chunks_before_ += j.chunks_done;
      }
    }
    BACKFILL_ASSIGN_OR_RETURN(r->throttle_,
                              JobThrottle::start(std::move(throttle_setup), state_dsn, set.job));
    r->total_rows_ = total_rows;
    r->state_ = command == "copy" ? "copying" : "verifying";
    r->printer_.emplace(parse_progress_mode(o.progress), stderr, o.log);
    r->printer_->start([p = r.get()] { return p->snapshot(); });
    return r;
  }

  Throttle* throttle() { return throttle_->get(); }
  // The set's last run did not finish it: verify goes on with the same pass.
  bool resumed() const { return resumed_; }
  // Table job `job` started in the set's pass going on (its verdict belongs to it).
  bool in_this_pass(const std::string& job) const { return this_pass_.count(job) > 0; }
  void started(std::size_t i) {
    std::lock_guard lock(mu_);
    running_.insert(i);
  }
  void ended(std::size_t i, bool ok) {
    std::lock_guard lock(mu_);
    running_.erase(i);
    if (ok) ++done_;
  }
  std::size_t done() const {
    std::lock_guard lock(mu_);
    return done_;
  }
  // Stops the line and the throttle and records how the set's run ended (`complete`: every
  // table's work is done; a verify stopped by --run-time is not); what the throttle did.
  ThrottleSnapshot finish(const Status& error, bool complete = true) {
    printer_->stop();
    const JobOutcome outcome = !error.is_ok() && error.kind() != ErrorKind::kInterrupted
                                   ? JobOutcome::kFailed
                               : !error.is_ok() || !complete ? JobOutcome::kInterrupted
                                                             : JobOutcome::kOk;
    const ThrottleSnapshot t = throttle_->finish(outcome_name(outcome));
    const std::string message = error.is_ok() && !complete
                                    ? "--run-time reached; the same command goes on"
                                    : error.message();
    if (Status st = ledger_->finish(outcome, message); !st.is_ok()) {
      print_warnings(log_, {"recording the end of the set: " + st.message()});
    }
    return t;
  }

  // What each table of the set runs with: the caller's context, counting its waits for a lost
  // server into the set's line.
  const RunContext& context() const { return member_ctx_; }

  ~SetRun() {
    if (printer_) printer_->stop();  // its last line reads the members below
  }
  SetRun(const SetRun&) = delete;
  SetRun& operator=(const SetRun&) = delete;

 private:
  SetRun(const ResolvedSet& set, const RunContext& ctx, Log* log)
      : set_(set),
        log_(log),
        ctx_(ctx),
        member_ctx_(ctx),
        started_at_(std::chrono::steady_clock::now()) {
    member_ctx_.waiting_on_server = &waiting_;
  }

  ProgressSnapshot snapshot() const {
    const ThrottleSnapshot t = throttle_->get()->snapshot();
    ProgressSnapshot s;
    s.rows_this_run = t.rows_finished;
    s.rows = rows_before_ + t.rows_finished;
    s.total_rows = total_rows_;
    s.chunks_done = s.chunks_planned = chunks_before_ + t.chunks_finished;
    s.in_flight = t.in_flight;
    s.seconds = seconds_since(started_at_);
    s.state = ctx_.interrupt && ctx_.interrupt->load() ? "stopping" : state_;
    describe_throttle(*throttle_->get(), waiting_.load(), &s);
    s.chunk_rows = 0;  // each table sizes its own
    std::lock_guard lock(mu_);
    s.tables = "tables " + std::to_string(done_) + "/" + std::to_string(set_.tables.size());
    std::string names;
    for (std::size_t i : running_) {
      names += (names.empty() ? "" : ", ") + set_.tables[i].source.display();
    }
    if (!names.empty()) s.tables += ", in flight: " + names;
    return s;
  }

  const ResolvedSet& set_;
  Log* log_;
  const RunContext& ctx_;
  std::atomic<int> waiting_{0};  // the tables' callers waiting out a lost server
  RunContext member_ctx_;        // ctx_, and waiting_ for the tables to count in
  std::chrono::steady_clock::time_point started_at_;
  std::unique_ptr<pg::PgLedger> ledger_;
  std::unique_ptr<JobThrottle> throttle_;
  std::optional<ProgressPrinter> printer_;
  std::int64_t rows_before_ = 0, chunks_before_ = 0;
  std::optional<std::int64_t> total_rows_;
  std::string state_;
  bool resumed_ = false;
  std::set<std::string> this_pass_;
  mutable std::mutex mu_;
  std::set<std::size_t> running_;
  std::size_t done_ = 0;
};

// The throttle's scope for a whole set: every table of it, on both sides.
ThrottleScope set_scope(const ResolvedSet& set, const pg::CopySpec& any) {
  ThrottleScope scope{any.source.database, any.target.database, {}, {}};
  for (const SetTable& t : set.tables) {
    scope.source_tables.push_back(qualified(t.source).quoted());
    scope.target_tables.push_back(qualified(t.target).quoted());
  }
  return scope;
}

void add_estimate(std::optional<std::int64_t>* total, const std::optional<std::int64_t>& rows) {
  if (rows) *total = total->value_or(0) + *rows;
}

// What the set's preflight found: each table's spec (in the set's order), the sum of the
// tables' row estimates, and the set's throttle over all of them.
template <typename Spec>
struct PlannedSet {
  std::vector<std::shared_ptr<const Spec>> specs;
  std::optional<std::int64_t> total_rows;
  ThrottleSetup throttle;
};

// Preflight of every table before the first is read or written, on one pair of sessions:
// each planned by `plan` (pg::plan_copy, pg::plan_verify) and its warnings printed, its job
// in the ledger checked against what it will do, and the set's throttle prepared. A table
// that cannot be taken stops the set here, with nothing written. `copy_of` is the spec's
// CopySpec (tables, estimate, fingerprint).
//
// `ledger_checks` false (tune's preflight, whose trials are jobs of their own into empty
// scratch tables): the tables' jobs in the ledger and a keyless target's rows are not looked
// at.
template <typename Spec, typename Plan, typename CopyOf>
Result<PlannedSet<Spec>> plan_set(const CopyOptions& o, const ResolvedSet& set, const Plan& plan,
                                  const CopyOf& copy_of, bool ledger_checks = true) {
  BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
  BACKFILL_ASSIGN_OR_RETURN(auto state, state_session(o));
  BACKFILL_ASSIGN_OR_RETURN(const CopyRequest base, full_request(o));
  PlannedSet<Spec> out;
  bool ledger_in_target = true;  // only a copy writes, so only a copy needs to know
  if (std::is_same_v<Spec, pg::CopySpec> && state) {
    BACKFILL_ASSIGN_OR_RETURN(std::string state_db, pg::database_identity(*state));
    BACKFILL_ASSIGN_OR_RETURN(std::string target_db, pg::database_identity(*c.target));
    ledger_in_target = state_db == target_db;
  }
  // Each table planned on one of --jobs pairs of sessions at once (a plan is a dozen catalog
  // round trips: 1.2 s for 500 tables on one pair), then checked with its warnings printed in
  // the set's order, so that the table named is the first that cannot be taken.
  const std::size_t n = set.tables.size();
  std::vector<std::optional<Result<Spec>>> plans(n);
  std::atomic<std::size_t> next{0};
  auto plan_some = [&](Connections& pair) {
    for (std::size_t i = next++; i < n; i = next++) {
      plans[i].emplace(
          plan(*pair.source, *pair.target, member_request(base, member_options(o, set, i))));
    }
  };
  {
    std::vector<Connections> pairs;
    for (int k = 1; k < o.jobs && static_cast<std::size_t>(k) < n; ++k) {
      auto pair = connect_both(o);
      if (!pair.ok()) break;  // planned on the sessions there are
      pairs.push_back(std::move(pair).value());
    }
    std::vector<std::thread> helpers;
    for (Connections& pair : pairs) helpers.emplace_back([&plan_some, &pair] { plan_some(pair); });
    plan_some(c);
    for (std::thread& h : helpers) h.join();
  }
  for (std::size_t i = 0; i < n; ++i) {
    const CopyOptions t = member_options(o, set, i);
    Result<Spec> spec = std::move(*plans[i]);
    if (!spec.ok()) return spec.status().with_context(set.tables[i].source.display());
    const pg::CopySpec& copy = copy_of(spec.value());
    print_warnings(o.log, copy.warnings);
    add_estimate(&out.total_rows, copy.source.estimated_rows);
    if (std::is_same_v<Spec, pg::CopySpec>) {
      BACKFILL_RETURN_IF_ERROR(check_keyless_ledger(copy, ledger_in_target));
      if (ledger_checks) {
        BACKFILL_RETURN_IF_ERROR(
            check_keyless_target(o, copy, state ? *state : *c.target, *c.target, t.job));
      }
    }
    if (ledger_checks) {
      BACKFILL_RETURN_IF_ERROR(check_recorded(o, state ? *state : *c.target, t.job, copy));
    }
    out.specs.push_back(std::make_shared<const Spec>(std::move(spec).value()));
  }
  BACKFILL_ASSIGN_OR_RETURN(
      out.throttle,
      prepare_throttle(o, set_scope(set, copy_of(*out.specs.front())), *c.source, *c.target));
  return out;
}

}  // namespace

Status check_table_choice(const CopyOptions& o) {
  if (o.tables.empty()) {
    if (o.request.table.empty()) return Status::invalid("--table or --tables is required");
    if (!o.table_sections.empty()) {
      return Status::invalid("the job file's section [table.\"" + o.table_sections[0].table +
                             "\"] is for a table of a set (--tables); for --table, give its "
                             "options in the command's own section");
    }
    if (!o.exclude.empty() || !o.to_schema.empty()) {
      return Status::invalid(
          "--exclude and --to-schema go with --tables; for one table, --to names its target");
    }
    return Status::ok();
  }
  if (!o.request.table.empty()) {
    return Status::invalid("--table and --tables exclude each other: give one table, or a set");
  }
  const std::pair<const char*, bool> per_table[] = {
      {"--to", !o.request.to.empty()},
      {"--key", !o.request.key.empty()},
      {"--columns", !o.request.columns.empty()},
      {"--map", !o.request.maps.empty()},
      {"--source-expr", !o.request.source_exprs.empty()},
      {"--where", !o.request.where.empty()},
      {"--defer-indexes", o.defer_indexes},
  };
  for (const auto& [name, given] : per_table) {
    if (given) {
      return Status::invalid(std::string(name) +
                             " is one table's option and is not taken with --tables on the "
                             "command line: give it to that table in a job file section "
                             "[copy.table.\"schema.name\"] (key, columns, where, map, "
                             "source-expr), or copy the table in a job of its own (--table) "
                             "and leave it out of the set with --exclude");
    }
  }
  return Status::ok();
}

Result<Json> sync_sequences_once(const CopyOptions& o);

Result<Json> sync_table_sequences(const CopyOptions& o) {
  // After the copy: a lost session is tried once more on new ones.
  Result<Json> synced = sync_sequences_once(o);
  if (!synced.ok() && synced.status().kind() == ErrorKind::kTransient)
    synced = sync_sequences_once(o);
  return synced;
}

Result<Json> sync_sequences_once(const CopyOptions& o) {
  BACKFILL_ASSIGN_OR_RETURN(pg::QualifiedName src, pg::parse_qualified_name(o.request.table));
  BACKFILL_ASSIGN_OR_RETURN(
      pg::QualifiedName dst,
      pg::parse_qualified_name(o.request.to.empty() ? o.request.table : o.request.to));
  // The target's sequences first: a table without one (most of a set's) needs no source
  // session at all.
  Connections c;
  auto target = pg::PgConnection::connect(o.target, session_settings(o), false);
  if (!target.ok()) return target.status().with_context("--target");
  c.target = std::move(target).value();
  BACKFILL_ASSIGN_OR_RETURN(auto target_owned, pg::owned_sequences(*c.target, dst));
  Json out = Json::array();
  if (target_owned.empty()) return out;
  auto source = pg::PgConnection::connect(o.source, session_settings(o), false);
  if (!source.ok()) return source.status().with_context("--source");
  c.source = std::move(source).value();
  BACKFILL_ASSIGN_OR_RETURN(auto source_owned, pg::owned_sequences(*c.source, src));
  for (const pg::OwnedSequence& t : target_owned) {
    // The source's sequence of the column of the same name, when it has one.
    std::optional<std::int64_t> source_last;
    for (const pg::OwnedSequence& s : source_owned) {
      if (s.column != t.column) continue;
      BACKFILL_ASSIGN_OR_RETURN(source_last, pg::sequence_last_value(*c.source, s.sequence));
    }
    auto set = pg::sync_sequence(*c.target, dst, t, source_last);
    if (!set.ok()) return set.status().with_context("--sync-sequences: " + t.sequence.display());
    if (set.value()) {
      o.log->info("sequence", strprintf("sequence %s (%s.%s) set to %lld",
                                        t.sequence.display().c_str(), dst.display().c_str(),
                                        t.column.c_str(), static_cast<long long>(*set.value())));
    }
    Json one = Json::object();
    one["sequence"] = t.sequence.display();
    one["column"] = t.column;
    one["value"] = set.value() ? Json(*set.value()) : Json(nullptr);
    out.push_back(std::move(one));
  }
  return out;
}

Status run_copy_tables(const CopyOptions& given, const RunContext& ctx, JsonObject* report_out) {
  const auto t0 = std::chrono::steady_clock::now();
  const CopyOptions o = with_shared_sessions(given);
  BACKFILL_ASSIGN_OR_RETURN(ResolvedSet set, resolve_set(o, "copy", true));
  BACKFILL_ASSIGN_OR_RETURN(
      PlannedSet<pg::CopySpec> planned,
      plan_set<pg::CopySpec>(
          o, set, pg::plan_copy, [](const pg::CopySpec& c) -> const auto& { return c; }));
  // --jobs tables at once, each with one lane: most tables want one lane anyway (a target
  // whose key has a btree index is filled in key order), and small tables cost their
  // start-up and commits more than their rows.
  const int at_once = std::max(1, o.jobs);
  print_set(set, o.log);
  o.log->info("start", strprintf("%d table%s at once, one lane each (--jobs)", at_once,
                                 at_once == 1 ? "" : "s"));
  const bool sync = o.sync_sequences.value_or(true);
  BACKFILL_ASSIGN_OR_RETURN(
      std::unique_ptr<SetRun> run,
      SetRun::start(o, set, "copy", std::move(planned.throttle), planned.total_rows, ctx));

  std::mutex mu;  // the tables' results, and the lines below
  std::vector<Json> results(set.tables.size());
  auto run_one = [&](std::size_t i) -> Status {
    const SetTable& m = set.tables[i];
    CopyOptions t = member_options(o, set, i);
    t.jobs = 1;
    t.jobs_given = true;
    t.progress = "none";  // the set's line shows every table
    {
      std::lock_guard lock(mu);
      o.log->info(
          "table_start",
          strprintf("table %zu of %zu: %s -> %s%s%s", i + 1, set.tables.size(),
                    m.source.display().c_str(), m.target.display().c_str(),
                    set.waits_for[i].empty() ? "" : ", after ", waits_text(set, i).c_str()));
    }
    run->started(i);
    JsonObject report;
    const auto started = std::chrono::steady_clock::now();
    SetMember member;
    member.spec = planned.specs[i];
    member.throttle = run->throttle();
    member.set_job = set.job;
    Status st = copy_table(t, run->context(), &report, &member);
    Json j = report.json();
    if (st.is_ok() && sync) {
      // On sessions from the set's pool: the table's own, given back by its copy.
      auto synced = sync_table_sequences(t);
      if (synced.ok()) {
        j["sequences"] = std::move(synced).value();
      } else {
        st = synced.status();
      }
    }
    j["table"] = m.source.display();
    run->ended(i, st.is_ok());
    std::lock_guard lock(mu);
    results[i] = std::move(j);
    if (st.is_ok()) {
      o.log->info(
          "table_done",
          strprintf("tables done: %zu of %zu (%s: %s rows in %.1f s)", run->done(),
                    set.tables.size(), m.source.display().c_str(),
                    with_thousands(field(results[i], "rows")).c_str(), seconds_since(started)));
    }
    return st.with_context(m.source.display());
  };
  const auto statuses = run_in_dependency_order(set.tables.size(), set.waits_for, at_once, run_one);
  const Status error = set_error(statuses);
  const ThrottleSnapshot throttled = run->finish(error);
  const std::size_t done = run->done();
  Json tables = Json::array();
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i]) tables.push_back(std::move(results[i]));
  }

  std::int64_t rows = 0, rows_written = 0, chunks = 0, retries = 0;
  for (const Json& j : tables) {
    rows += field(j, "rows");
    rows_written += field(j, "rows_written");
    chunks += field(j, "chunks");
    retries += field(j, "retries");
  }
  const double seconds = seconds_since(t0);
  const char* status = error.is_ok() ? "ok" : failure_name(error);
  {
    JsonObject r;
    r.add("command", "copy")
        .add("job", set.job)
        .add("status", status)
        .add("job_done", error.is_ok())
        .add("tables_total", static_cast<std::int64_t>(set.tables.size()))
        .add("tables_done", static_cast<std::int64_t>(done))
        .add("rows", rows)
        .add("rows_written", rows_written)
        .add("chunks", chunks)
        .add("seconds", seconds)
        .add("rows_per_second", seconds > 0 ? static_cast<double>(rows) / seconds : 0.0)
        .add("throttled_seconds", std::min(throttled.throttled_seconds, seconds))
        .add("throttled_by", throttled_by(throttled))
        .add("retries", retries)
        .add("tables", std::move(tables));
    if (!error.is_ok()) r.add("error", error.message());
    BACKFILL_RETURN_IF_ERROR(finish_report(o, r));
    if (report_out != nullptr) *report_out = std::move(r);
  }
  if (ctx.trial != nullptr) return error;  // tune prints its own lines
  std::printf("%s: %zu of %zu tables, %s rows (%s written) in %s chunks, %.1f s%s\n", status, done,
              set.tables.size(), with_thousands(rows).c_str(), with_thousands(rows_written).c_str(),
              with_thousands(chunks).c_str(), seconds, error.is_ok() ? "; job done" : "");
  if (!error.is_ok()) {
    o.log->info("resume_hint",
                strprintf("%zu of %zu tables are done; the same command resumes job %s", done,
                          set.tables.size(), set.job.c_str()));
  }
  return error;
}

Status run_verify_tables(const VerifyOptions& given, const RunContext& ctx,
                         std::chrono::steady_clock::time_point started, JsonObject* report_out) {
  VerifyOptions vo = given;
  vo.table = with_shared_sessions(given.table);
  const CopyOptions& o = vo.table;
  // --run-time spans the set: each table's verify stops at the same deadline, and a table
  // not started by then waits for the next run, which goes on with the same pass.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (!vo.run_time.empty()) {
    BACKFILL_ASSIGN_OR_RETURN(auto run_time, parse_duration(vo.run_time, "--run-time"));
    if (run_time.count() > 0) deadline = started + run_time;
  }
  BACKFILL_ASSIGN_OR_RETURN(ResolvedSet set, resolve_set(o, "verify", false));
  BACKFILL_ASSIGN_OR_RETURN(
      PlannedSet<pg::VerifySpec> planned,
      plan_set<pg::VerifySpec>(
          o, set, pg::plan_verify, [](const pg::VerifySpec& v) -> const auto& { return v.copy; }));
  for (const auto& spec : planned.specs) BACKFILL_RETURN_IF_ERROR(check_keyless_repair(*spec, vo));
  std::vector<VerifyOptions> members(set.tables.size(), vo);
  for (std::size_t i = 0; i < members.size(); ++i) members[i].table = member_options(o, set, i);
  // Verify reads only: no order between tables, --jobs of them at once.
  const int at_once = std::max(1, o.jobs);
  print_set(set, o.log);
  BACKFILL_ASSIGN_OR_RETURN(
      std::unique_ptr<SetRun> run,
      SetRun::start(o, set, "verify", std::move(planned.throttle), planned.total_rows, ctx));
  if (run->resumed()) {
    o.log->info("start", strprintf("continuing the verify pass of set %s", set.job.c_str()));
  }

  std::mutex mu;
  std::vector<Json> results(members.size());
  std::vector<bool> differs(members.size(), false), complete(members.size(), false);
  auto run_one = [&](std::size_t i) -> Status {
    VerifyOptions& v = members[i];
    v.table.jobs = 1;
    v.table.jobs_given = true;
    v.table.progress = "none";  // the set's line shows every table
    v.run_time.clear();         // the set's deadline, below
    // Past the deadline a table whose job belongs to this pass still reports what the pass
    // found in it (its verify claims nothing more); the others wait for the next run.
    if (deadline && std::chrono::steady_clock::now() >= *deadline &&
        !run->in_this_pass(v.table.job)) {
      std::lock_guard lock(mu);
      results[i] = Json{{"table", set.tables[i].source.display()}, {"status", "not started"}};
      return Status::ok();  // the next run starts it
    }
    {
      std::lock_guard lock(mu);
      o.log->info("table_start", strprintf("table %zu of %zu: %s", i + 1, members.size(),
                                           set.tables[i].source.display().c_str()));
    }
    run->started(i);
    SetMember member;
    member.verify_spec = planned.specs[i];
    member.throttle = run->throttle();
    member.set_job = set.job;
    member.continue_pass = run->in_this_pass(v.table.job);
    member.deadline = deadline;
    JsonObject report;
    Status st = verify_table(v, run->context(), started, &report, &member);
    run->ended(i, st.is_ok() || st.kind() == ErrorKind::kDifferences);
    Json j = report.json();
    j["table"] = set.tables[i].source.display();
    std::lock_guard lock(mu);
    complete[i] = j.value("pass_complete", false);
    results[i] = std::move(j);
    if (st.kind() == ErrorKind::kDifferences) {
      differs[i] = true;
      return Status::ok();  // a verdict, not a failure: the other tables go on
    }
    return st.with_context(set.tables[i].source.display());
  };
  const auto statuses = run_in_dependency_order(
      members.size(), std::vector<std::vector<std::size_t>>(members.size()), at_once, run_one);

  const Status error = set_error(statuses);
  const bool pass_complete =
      std::all_of(complete.begin(), complete.end(), [](bool b) { return b; });
  const ThrottleSnapshot throttled = run->finish(error, pass_complete);
  Json tables = Json::array();
  std::size_t differing = 0, passes_done = 0;
  std::int64_t rows = 0, missing = 0, extra = 0, different = 0, repaired = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (!statuses[i]) continue;
    if (differs[i]) ++differing;
    if (complete[i]) ++passes_done;
    const Json& j = results[i];
    rows += field(j, "rows");
    missing += field(j, "rows_missing");
    extra += field(j, "rows_extra");
    different += field(j, "rows_different");
    repaired += field(j, "repaired");
    tables.push_back(j);
  }
  const double seconds = seconds_since(started);
  const char* status = !error.is_ok() ? failure_name(error) : differing > 0 ? "differences" : "ok";
  {
    JsonObject r;
    r.add("command", "verify")
        .add("job", set.job)
        .add("status", status)
        .add("pass_complete", pass_complete)
        .add("tables_total", static_cast<std::int64_t>(set.tables.size()))
        .add("tables_complete", static_cast<std::int64_t>(passes_done))
        .add("tables_differing", static_cast<std::int64_t>(differing))
        .add("rows", rows)
        .add("rows_missing", missing)
        .add("rows_extra", extra)
        .add("rows_different", different)
        .add("repaired", repaired)
        .add("seconds", seconds)
        .add("throttled_seconds", std::min(throttled.throttled_seconds, seconds))
        .add("throttled_by", throttled_by(throttled))
        .add("tables", std::move(tables));
    if (!error.is_ok()) r.add("error", error.message());
    BACKFILL_RETURN_IF_ERROR(finish_report(o, r));
    if (report_out != nullptr) *report_out = std::move(r);
  }
  if (!error.is_ok()) return error;
  if (ctx.trial != nullptr) {  // tune prints its own lines
    return differing > 0 ? Status(ErrorKind::kDifferences, "tables differ") : Status::ok();
  }
  const std::string left =
      std::to_string(passes_done) + " of " + std::to_string(set.tables.size()) +
      " tables verified to the end (--run-time reached): the same command continues the pass";
  if (differing > 0) {
    std::printf("DIFFERENT%s: %zu of %zu tables: %s missing, %s extra, %s different rows%s\n",
                pass_complete ? "" : " so far", differing, set.tables.size(),
                with_thousands(missing).c_str(), with_thousands(extra).c_str(),
                with_thousands(different).c_str(), pass_complete ? "" : ("; " + left).c_str());
    return Status(ErrorKind::kDifferences, "tables differ");
  }
  if (pass_complete) {
    std::printf("match: %zu tables, %s rows, %.1f s\n", set.tables.size(),
                with_thousands(rows).c_str(), seconds);
  } else {
    std::printf("match so far: %s rows, %.1f s; %s\n", with_thousands(rows).c_str(), seconds,
                left.c_str());
  }
  return Status::ok();
}

Result<std::vector<SetTableNames>> preflight_set_for_tune(const CopyOptions& o, bool for_verify) {
  BACKFILL_ASSIGN_OR_RETURN(ResolvedSet set,
                            resolve_set(o, for_verify ? "verify" : "copy", !for_verify));
  if (for_verify) {
    BACKFILL_RETURN_IF_ERROR(plan_set<pg::VerifySpec>(
                                 o, set, pg::plan_verify,
                                 [](const pg::VerifySpec& v) -> const auto& { return v.copy; },
                                 false)
                                 .status());
  } else {
    BACKFILL_RETURN_IF_ERROR(
        plan_set<pg::CopySpec>(
            o, set, pg::plan_copy, [](const pg::CopySpec& c) -> const auto& { return c; }, false)
            .status());
  }
  std::vector<SetTableNames> out;
  for (const SetTable& t : set.tables) out.push_back({t.source, t.target});
  return out;
}

Status run_plan_tables(const CopyOptions& o, bool for_verify) {
  BACKFILL_ASSIGN_OR_RETURN(ResolvedSet set,
                            resolve_set(o, for_verify ? "verify" : "copy", !for_verify));
  std::printf(
      "%s %zu tables as job %s, in this order (a table starts once the tables it "
      "references are done):\n",
      for_verify ? "verify" : "copy", set.tables.size(), set.job.c_str());
  for (const auto& c : set.cycles) std::printf("  cycle (--disable-triggers): %s\n", c.c_str());
  const bool sync = !for_verify && o.sync_sequences.value_or(true);
  std::int64_t total_rows = 0;
  BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
  BACKFILL_ASSIGN_OR_RETURN(const CopyRequest base, full_request(o));
  for (std::size_t i = 0; i < set.tables.size(); ++i) {
    const SetTable& m = set.tables[i];
    const CopyRequest request = member_request(base, member_options(o, set, i));
    auto plan_one = [&]() -> Result<pg::CopySpec> {
      if (!for_verify) return pg::plan_copy(*c.source, *c.target, request);
      BACKFILL_ASSIGN_OR_RETURN(pg::VerifySpec v, pg::plan_verify(*c.source, *c.target, request));
      return std::move(v.copy);
    };
    Result<pg::CopySpec> spec = plan_one();
    if (!spec.ok()) return spec.status().with_context(m.source.display());
    const pg::CopySpec& s = spec.value();
    const auto rows = s.source.estimated_rows;
    if (rows) total_rows += *rows;
    const std::string chunking = !s.keyless ? "key (" + pg::join_quoted(s.key) + ")"
                                 : for_verify
                                     ? std::string("no key: compared as a multiset, in TID ranges")
                                     : std::string("no key: TID ranges");
    std::printf(
        "  %2zu. %s -> %s\n      %s, %s, %s\n", i + 1, m.source.display().c_str(),
        m.target.display().c_str(), chunking.c_str(),
        rows ? ("~" + with_thousands(*rows) + " rows").c_str() : "rows unknown (never analysed)",
        rows ? ("~" + with_thousands(*rows / o.chunk_rows + 1) + " chunks of " +
                with_thousands(o.chunk_rows) + " rows")
                   .c_str()
             : "chunks unknown");
    if (const TableSection* sec = set.sections[i]) {
      std::string given;
      auto note = [&](const char* what, const std::string& v) {
        if (!v.empty()) given += std::string(given.empty() ? "" : "; ") + what + " " + v;
      };
      note("--key", sec->key);
      note("--columns", sec->columns);
      note("--where", sec->where);
      for (const auto& m2 : sec->maps) note("--map", m2);
      for (const auto& e : sec->source_exprs) note("--source-expr", e);
      std::printf("      from the job file's [table.\"%s\"]: %s\n", sec->table.c_str(),
                  given.c_str());
    }
    if (!set.waits_for[i].empty()) std::printf("      after %s\n", waits_text(set, i).c_str());
    if (sync) {
      BACKFILL_ASSIGN_OR_RETURN(auto owned, pg::owned_sequences(*c.target, qualified(m.target)));
      for (const auto& q : owned) {
        std::printf("      sequence %s (%s) moved past the source's value at the end\n",
                    q.sequence.display().c_str(), q.column.c_str());
      }
    }
  }
  std::printf("  rows in all: ~%s\nnothing was written\n", with_thousands(total_rows).c_str());
  return Status::ok();
}

}  // namespace backfill::cli
