// `--tables`: a set of tables as one job. The set is resolved from the source's catalog
// (engine/table/table_set.hpp), ordered by the target's foreign keys
// (engine/plan/table_order.hpp), and checked table by table before anything is written.
// Each table is then a sub-job of the set in the same ledger ("SET/schema.table"), run in
// that order, so that the same command resumes the set where it stopped: finished tables
// are found done, the interrupted one resumes, the rest start.
//
// --jobs tables run at once, each through the chunk pipeline with one lane of its own, a
// table once the tables it references are done (engine/jobs/ordered_runner.hpp). Each table
// still opens its own sessions and commits its own ledger rows; tables that share one
// pipeline and its sessions are the next step (README, "A schema in one job").
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "cli/options.hpp"
#include "drivers/postgres/table_set.hpp"
#include "drivers/postgres/verify_spec.hpp"
#include "engine/jobs/ordered_runner.hpp"
#include "engine/jobs/progress.hpp"
#include "engine/util/hash.hpp"

namespace backfill::cli {
namespace {

struct SetMember {
  TableName source, target;
};

struct ResolvedSet {
  std::string job;                  // the set's job: each table's is job + "/" + schema.name
  std::vector<SetMember> tables;    // in foreign-key order
  std::vector<std::string> cycles;  // "a <-> b", "c references itself"
  // For each table (in `tables`' order), the positions of the tables it waits for.
  std::vector<std::vector<std::size_t>> waits_for;
};

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
      print_warnings({"--exclude '" + p.as_typed + "' matches no table of the source" +
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
    set.tables.push_back(SetMember{sources[i], targets[i]});
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
  return set;
}

// The target tables table `i` of the set waits for, as the terminal shows them.
std::string waits_text(const ResolvedSet& set, std::size_t i) {
  std::vector<std::string> names;
  for (std::size_t w : set.waits_for[i]) names.push_back(set.tables[w].target.display());
  return join(names, ", ");
}

// A table's request: the set's (its functions loaded once, its now()) with the table's names.
CopyRequest member_request(const CopyRequest& base, const CopyOptions& member) {
  CopyRequest r = base;
  r.table = member.request.table;
  r.to = member.request.to;
  return r;
}

CopyOptions member_options(const CopyOptions& o, const ResolvedSet& set, const SetMember& m) {
  CopyOptions t = o;
  t.tables.clear();
  t.exclude.clear();
  t.to_schema.clear();
  t.request.table = qualified(m.source).quoted();
  t.request.to = qualified(m.target).quoted();
  t.job = set.job + "/" + m.source.display();
  t.report.clear();
  return t;
}

std::int64_t field(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}
double field_seconds(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0;
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

void print_set(const ResolvedSet& set) {
  std::fprintf(
      stderr, "job %s: %zu tables, in foreign-key order%s\n", set.job.c_str(), set.tables.size(),
      set.cycles.empty() ? ""
                         : (" (cycles, triggers off: " + join(set.cycles, "; ") + ")").c_str());
}

}  // namespace

Status check_table_choice(const CopyOptions& o) {
  if (o.tables.empty()) {
    if (o.request.table.empty()) return Status::invalid("--table or --tables is required");
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
                             " is one table's option and is not taken with --tables yet: copy "
                             "that table in a job of its own (--table), and leave it out of the "
                             "set with --exclude");
    }
  }
  return Status::ok();
}

Result<Json> sync_table_sequences(const CopyOptions& o) {
  BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
  return sync_table_sequences(o, c);
}

Result<Json> sync_table_sequences(const CopyOptions& o, Connections& c) {
  BACKFILL_ASSIGN_OR_RETURN(pg::QualifiedName src, pg::parse_qualified_name(o.request.table));
  BACKFILL_ASSIGN_OR_RETURN(
      pg::QualifiedName dst,
      pg::parse_qualified_name(o.request.to.empty() ? o.request.table : o.request.to));
  BACKFILL_ASSIGN_OR_RETURN(auto source_owned, pg::owned_sequences(*c.source, src));
  BACKFILL_ASSIGN_OR_RETURN(auto target_owned, pg::owned_sequences(*c.target, dst));
  Json out = Json::array();
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
      std::fprintf(stderr, "sequence %s (%s.%s) set to %lld\n", t.sequence.display().c_str(),
                   dst.display().c_str(), t.column.c_str(), static_cast<long long>(*set.value()));
    }
    Json one = Json::object();
    one["sequence"] = t.sequence.display();
    one["column"] = t.column;
    one["value"] = set.value() ? Json(*set.value()) : Json(nullptr);
    out.push_back(std::move(one));
  }
  return out;
}

Status run_copy_tables(const CopyOptions& o, const RunContext& ctx) {
  const auto t0 = std::chrono::steady_clock::now();
  BACKFILL_ASSIGN_OR_RETURN(ResolvedSet set, resolve_set(o, "copy", true));
  {
    // Preflight every table before the first is written: a table the copy cannot take stops
    // the set here, with nothing written. One pair of sessions for all of them.
    BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
    std::unique_ptr<pg::PgConnection> state;
    if (!o.state.empty()) {
      auto s = pg::PgConnection::connect(o.state, session_settings(o), true);
      if (!s.ok()) return s.status().with_context("--state");
      state = std::move(s).value();
    }
    BACKFILL_ASSIGN_OR_RETURN(const CopyRequest base, full_request(o));
    for (const SetMember& m : set.tables) {
      const CopyOptions t = member_options(o, set, m);
      auto spec = pg::plan_copy(*c.source, *c.target, member_request(base, t));
      if (!spec.ok()) return spec.status().with_context(m.source.display());
      // A table's job left by other arguments would stop the set half-way: refuse it now.
      if (o.restart) continue;
      BACKFILL_ASSIGN_OR_RETURN(auto recorded,
                                pg::job_fingerprint(state ? *state : *c.target, t.job));
      if (recorded && *recorded != hex64(hash64(spec.value().fingerprint_text()))) {
        return Status::invalid("job '" + t.job +
                               "' exists in the ledger with different arguments; run with "
                               "--restart to start the set over, or give another --job name");
      }
    }
  }
  // --jobs tables at once, each with one lane: most tables want one lane anyway (a target
  // whose key has a btree index is filled in key order), and small tables cost their
  // start-up and commits more than their rows.
  const int at_once = std::max(1, o.jobs);
  print_set(set);
  std::fprintf(stderr, "%d table%s at once, one lane each (--jobs)\n", at_once,
               at_once == 1 ? "" : "s");
  const bool sync = o.sync_sequences.value_or(true);

  std::mutex mu;  // the tables' results, and the lines below
  std::vector<Json> results(set.tables.size());
  // The sequences of every table are moved on one pair of sessions, reconnected when a long
  // copy left them to time out.
  std::mutex sessions_mu;
  BACKFILL_ASSIGN_OR_RETURN(Connections sessions, connect_both(o));
  std::size_t done = 0;
  auto run_one = [&](std::size_t i) -> Status {
    const SetMember& m = set.tables[i];
    CopyOptions t = member_options(o, set, m);
    t.jobs = 1;
    t.jobs_given = true;
    // Several live progress lines would overwrite each other: the set logs its tables.
    if (at_once > 1 && t.progress != "log") t.progress = "none";
    {
      std::lock_guard lock(mu);
      std::fprintf(stderr, "table %zu of %zu: %s -> %s%s%s\n", i + 1, set.tables.size(),
                   m.source.display().c_str(), m.target.display().c_str(),
                   set.waits_for[i].empty() ? "" : ", after ", waits_text(set, i).c_str());
    }
    JsonObject report;
    const auto started = std::chrono::steady_clock::now();
    Status st = copy_table(t, ctx, &report);
    Json j = report.json();
    if (st.is_ok() && sync) {
      std::lock_guard lock(sessions_mu);
      auto synced = sync_table_sequences(t, sessions);
      if (!synced.ok() && synced.status().kind() == ErrorKind::kTransient) {
        // Idle through a long copy, a session may have been cut: once more on new ones.
        if (Status re = sessions.source->reconnect();
            re.is_ok() && sessions.target->reconnect().is_ok()) {
          synced = sync_table_sequences(t, sessions);
        }
      }
      if (synced.ok()) {
        j["sequences"] = std::move(synced).value();
      } else {
        st = synced.status();
      }
    }
    j["table"] = m.source.display();
    std::lock_guard lock(mu);
    results[i] = std::move(j);
    if (st.is_ok()) {
      ++done;
      std::fprintf(stderr, "tables done: %zu of %zu (%s: %s rows in %.1f s)\n", done,
                   set.tables.size(), m.source.display().c_str(),
                   with_thousands(field(results[i], "rows")).c_str(), seconds_since(started));
    }
    return st.with_context(m.source.display());
  };
  const auto statuses = run_in_dependency_order(set.tables.size(), set.waits_for, at_once, run_one);
  const Status error = set_error(statuses);
  Json tables = Json::array();
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i]) tables.push_back(std::move(results[i]));
  }

  std::int64_t rows = 0, rows_written = 0, chunks = 0, retries = 0;
  double throttled = 0;
  for (const Json& j : tables) {
    rows += field(j, "rows");
    rows_written += field(j, "rows_written");
    chunks += field(j, "chunks");
    retries += field(j, "retries");
    throttled += field_seconds(j, "throttled_seconds");
  }
  const double seconds = seconds_since(t0);
  const char* status = error.is_ok() ? "ok" : failure_name(error);
  if (!o.report.empty()) {
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
        .add("throttled_seconds", throttled)
        .add("retries", retries)
        .add("tables", std::move(tables));
    if (!error.is_ok()) r.add("error", error.message());
    BACKFILL_RETURN_IF_ERROR(write_report(o.report, r.str()));
  }
  std::printf("%s: %zu of %zu tables, %s rows (%s written) in %s chunks, %.1f s%s\n", status, done,
              set.tables.size(), with_thousands(rows).c_str(), with_thousands(rows_written).c_str(),
              with_thousands(chunks).c_str(), seconds, error.is_ok() ? "; job done" : "");
  if (!error.is_ok()) {
    std::fprintf(stderr, "%zu of %zu tables are done; the same command resumes job %s\n", done,
                 set.tables.size(), set.job.c_str());
  }
  return error;
}

Status run_verify_tables(const VerifyOptions& vo, const RunContext& ctx,
                         std::chrono::steady_clock::time_point started) {
  const CopyOptions& o = vo.table;
  if (!vo.run_time.empty()) {
    return Status::invalid(
        "--run-time is not taken with --tables yet: verify the set without it, or each table "
        "with its own --table job");
  }
  BACKFILL_ASSIGN_OR_RETURN(ResolvedSet set, resolve_set(o, "verify", false));
  std::vector<VerifyOptions> members;
  {
    // Preflight, as verify_table will do it again: nothing runs unless every table can.
    BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
    BACKFILL_ASSIGN_OR_RETURN(const CopyRequest base, full_request(o));
    for (const SetMember& m : set.tables) {
      VerifyOptions v = vo;
      v.table = member_options(o, set, m);
      auto spec = pg::plan_verify(*c.source, *c.target, member_request(base, v.table));
      if (!spec.ok()) return spec.status().with_context(m.source.display());
      members.push_back(std::move(v));
    }
  }
  // Verify reads only: no order between tables, --jobs of them at once.
  const int at_once = std::max(1, o.jobs);
  print_set(set);

  std::mutex mu;
  std::vector<Json> results(members.size());
  std::vector<bool> differs(members.size(), false);
  auto run_one = [&](std::size_t i) -> Status {
    VerifyOptions& v = members[i];
    v.table.jobs = 1;
    v.table.jobs_given = true;
    if (at_once > 1 && v.table.progress != "log") v.table.progress = "none";
    {
      std::lock_guard lock(mu);
      std::fprintf(stderr, "table %zu of %zu: %s\n", i + 1, members.size(),
                   set.tables[i].source.display().c_str());
    }
    JsonObject report;
    Status st = verify_table(v, ctx, started, &report);
    Json j = report.json();
    j["table"] = set.tables[i].source.display();
    std::lock_guard lock(mu);
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
  Json tables = Json::array();
  std::size_t differing = 0;
  std::int64_t rows = 0, missing = 0, extra = 0, different = 0, repaired = 0;
  for (std::size_t i = 0; i < members.size(); ++i) {
    if (!statuses[i]) continue;
    if (differs[i]) ++differing;
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
  if (!o.report.empty()) {
    JsonObject r;
    r.add("command", "verify")
        .add("job", set.job)
        .add("status", status)
        .add("tables_total", static_cast<std::int64_t>(set.tables.size()))
        .add("tables_differing", static_cast<std::int64_t>(differing))
        .add("rows", rows)
        .add("rows_missing", missing)
        .add("rows_extra", extra)
        .add("rows_different", different)
        .add("repaired", repaired)
        .add("seconds", seconds)
        .add("tables", std::move(tables));
    if (!error.is_ok()) r.add("error", error.message());
    BACKFILL_RETURN_IF_ERROR(write_report(o.report, r.str()));
  }
  if (!error.is_ok()) return error;
  if (differing > 0) {
    std::printf("DIFFERENT: %zu of %zu tables: %s missing, %s extra, %s different rows\n",
                differing, set.tables.size(), with_thousands(missing).c_str(),
                with_thousands(extra).c_str(), with_thousands(different).c_str());
    return Status(ErrorKind::kDifferences, "tables differ");
  }
  std::printf("match: %zu tables, %s rows, %.1f s\n", set.tables.size(),
              with_thousands(rows).c_str(), seconds);
  return Status::ok();
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
    const SetMember& m = set.tables[i];
    const CopyRequest request = member_request(base, member_options(o, set, m));
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
    std::printf(
        "  %2zu. %s -> %s\n      key (%s), %s, %s\n", i + 1, m.source.display().c_str(),
        m.target.display().c_str(), pg::join_quoted(s.key).c_str(),
        rows ? ("~" + with_thousands(*rows) + " rows").c_str() : "rows unknown (never analysed)",
        rows ? ("~" + with_thousands(*rows / o.chunk_rows + 1) + " chunks of " +
                with_thousands(o.chunk_rows) + " rows")
                   .c_str()
             : "chunks unknown");
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
