// `backfill copy`: reads options, runs preflight, hands the job to the engine, reports.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/drivers.hpp"
#include "cli/options.hpp"
#include "drivers/postgres/catalog.hpp"
#include "drivers/postgres/defer_indexes.hpp"
#include "drivers/postgres/ledger.hpp"
#include "drivers/postgres/sink.hpp"
#include "drivers/postgres/source.hpp"
#include "drivers/postgres/table_set.hpp"
#include "engine/jobs/copy_job.hpp"
#include "engine/jobs/log.hpp"
#include "engine/jobs/report.hpp"
#include "engine/util/hash.hpp"

namespace backfill::cli {

Status check_copy_connections(const CopyOptions& o) {
  return check_connections({{o.source, "--source", DsnRole::kSource},
                            {o.target, "--target", DsnRole::kTarget},
                            {o.state, "--state", DsnRole::kState}});
}

Result<Connections> connect_both(const CopyOptions& o, bool preflight) {
  BACKFILL_RETURN_IF_ERROR(check_dsn(o.source, "--source", DsnRole::kSource));
  BACKFILL_RETURN_IF_ERROR(check_dsn(o.target, "--target", DsnRole::kTarget));
  if (!o.state.empty()) BACKFILL_RETURN_IF_ERROR(check_dsn(o.state, "--state", DsnRole::kState));
  Connections c;
  auto settings = session_settings(o);
  auto src = pg::PgConnection::connect(o.source, settings, preflight);
  if (!src.ok()) return src.status().with_context("--source");
  c.source = std::move(src).value();
  auto tgt = pg::PgConnection::connect(o.target, settings, preflight);
  if (!tgt.ok()) return tgt.status().with_context("--target");
  c.target = std::move(tgt).value();
  return c;
}

Result<std::shared_ptr<const FunctionRegistry>> load_functions(const CopyOptions& o) {
  auto functions = std::make_shared<FunctionRegistry>(builtin_functions());
  for (const auto& path : o.plugins) BACKFILL_RETURN_IF_ERROR(load_plugin(path, functions.get()));
  return std::shared_ptr<const FunctionRegistry>(std::move(functions));
}

CallContext job_context() {
  using namespace std::chrono;
  CallContext ctx;
  // Microseconds from the Unix epoch to PostgreSQL's, 2000-01-01.
  constexpr std::int64_t kPostgresEpochMicros = 946684800LL * 1000000;
  ctx.now = duration_cast<microseconds>(system_clock::now().time_since_epoch()).count() -
            kPostgresEpochMicros;
  return ctx;
}

Result<CopyRequest> full_request(const CopyOptions& o) {
  CopyRequest r = o.request;
  BACKFILL_ASSIGN_OR_RETURN(r.functions, load_functions(o));
  r.context = job_context();
  return r;
}

// Lanes write chunks at once; --jobs decides when given. Otherwise one lane when
// - the target has a btree index led by the key's first column: one lane writes the chunks
//   one after another in key order, at the index's right edge, where PostgreSQL fills pages
//   to the fillfactor and skips the descent from the root; lanes writing at once insert
//   below each other's keys and split pages 50:50 (measured on the 5M-row users table: its
//   primary key 145 MB after two lanes, 107 MB after one);
// - source and target are one server: a lane is already a reader and a writer at work on
//   it at once, and a second adds two more to the same cores (measured on 2 cores, into the
//   bare heap: two lanes 15.6-18.4 s, one 14.5-14.8 s, the writers' CPU time up 25%).
// Two lanes otherwise: a bare heap on a server of its own.
void pick_lanes(const CopyOptions& o, PreparedCopy* p) {
  const pg::CopySpec& spec = *p->spec;
  p->lanes = o.jobs;
  if (o.jobs_given) {
    p->lanes_why = "--jobs";
    return;
  }
  const bool key_ordered = !o.defer_indexes && !spec.target_key.empty() &&
                           spec.target.has_btree_led_by(spec.target_key[0]);
  if (key_ordered) {
    p->lanes = 1;
    p->lanes_why = "the target's btree index on \"" + spec.target_key[0] +
                   "\" is filled in key order; --jobs N writes N chunks at once";
    return;
  }
  if (pg::same_server(spec.source.database, spec.target.database)) {
    p->lanes = 1;
    p->lanes_why = "source and target share one server's cores; --jobs N writes N chunks at once";
    return;
  }
  p->lanes_why = "default";
}

Result<PreparedCopy> prepare_copy(const CopyOptions& o) {
  BACKFILL_ASSIGN_OR_RETURN(CopyRequest request, full_request(o));
  BACKFILL_ASSIGN_OR_RETURN(Connections c, connect_both(o));
  PreparedCopy p;
  p.source = std::move(c.source);
  p.target = std::move(c.target);
  BACKFILL_ASSIGN_OR_RETURN(pg::CopySpec spec, pg::plan_copy(*p.source, *p.target, request));
  print_warnings(o.log, spec.warnings);
  p.spec = std::make_shared<const pg::CopySpec>(std::move(spec));
  pick_lanes(o, &p);
  return p;
}

namespace {

// --defer-indexes across runs: the objects the job dropped (saved in the ledger by an earlier
// run, which this one finishes), or the ones it is about to drop.
struct Deferral {
  std::vector<pg::DeferredObject> objects;
  bool saved = false;
};

std::size_t not_rebuilt(const std::vector<pg::DeferredObject>& objects) {
  return static_cast<std::size_t>(
      std::count_if(objects.begin(), objects.end(), [](const auto& d) { return !d.created; }));
}

// Preflight: nothing is written here. A job that dropped objects is finished (and its objects
// rebuilt) whatever its flags say; a new one needs an empty target, the error policy, and
// the ledger in the target's database, whose transactions then make every chunk
// exactly-once while the table has no key to catch a second write.
Result<std::optional<Deferral>> prepare_deferral(const CopyOptions& o, const PreparedCopy& p,
                                                 pg::PgLedger& ledger, bool ledger_in_target,
                                                 const std::string& job) {
  const pg::CopySpec& spec = *p.spec;
  BACKFILL_ASSIGN_OR_RETURN(auto saved, ledger.saved_deferred(job));
  // All rebuilt and no --restart: the job is done, and this run says so.
  if (saved && (not_rebuilt(*saved) > 0 || !o.restart)) {
    if (o.restart) {
      return Status::invalid(
          "--restart: job " + job + " dropped " + std::to_string(not_rebuilt(*saved)) +
          " indexes and constraints of " + spec.target.display() +
          " that are not rebuilt yet; run the same command without --restart to finish the "
          "copy and rebuild them, then empty the table to start over");
    }
    return std::optional<Deferral>(Deferral{std::move(*saved), true});
  }
  if (!o.defer_indexes) return std::optional<Deferral>{};
  if (spec.policy != ConflictPolicy::kError) {
    return Status::invalid(std::string("--defer-indexes needs --on-conflict error, not ") +
                           policy_name(spec.policy) +
                           ": it fills a table that nothing else writes yet, so there is "
                           "nothing to conflict with, and the conflicts need the indexes");
  }
  if (!ledger_in_target) {
    return Status::invalid(
        "--defer-indexes needs the ledger in the target database (leave --state out): "
        "each chunk is then recorded in the transaction that writes it, the only guard "
        "against writing it twice while the table has no key");
  }
  BACKFILL_ASSIGN_OR_RETURN(bool has_rows, pg::table_has_rows(*p.target, spec.target));
  if (has_rows) {
    return Status::invalid("--defer-indexes fills an empty table, and " + spec.target.display() +
                           " has rows; copy without --defer-indexes, or empty it first");
  }
  BACKFILL_ASSIGN_OR_RETURN(auto objects, pg::describe_deferred(*p.target, spec.target));
  return std::optional<Deferral>(Deferral{std::move(objects), false});
}

// Drops what the deferral names and saves how to rebuild it, in one transaction of the
// target database (which holds the ledger). When another worker of the job got there first,
// drops nothing and takes on what that worker saved.
Status drop_deferred(pg::PgLedger& ledger, Deferral& d, const std::string& table, Log* log) {
  pg::PgConnection& conn = ledger.connection();
  std::optional<std::vector<pg::DeferredObject>> theirs;
  const Status dropped = conn.transaction([&]() -> Status {
    BACKFILL_ASSIGN_OR_RETURN(theirs, ledger.save_deferred(d.objects));
    if (theirs) return Status::ok();
    // Foreign keys first: they depend on the indexes before them in the list.
    for (auto it = d.objects.rbegin(); it != d.objects.rend(); ++it) {
      for (const auto& sql : it->drop_sql) BACKFILL_RETURN_IF_ERROR(conn.exec(sql));
    }
    return Status::ok();
  });
  BACKFILL_RETURN_IF_ERROR(
      dropped.with_context("--defer-indexes: dropping the indexes and constraints of " + table));
  d.saved = true;
  if (theirs) {
    d.objects = std::move(*theirs);
    return Status::ok();
  }
  std::string names;
  for (const auto& o : d.objects) names += (names.empty() ? "" : ", ") + o.kind + " " + o.name;
  log->info("deferred",
            strprintf("deferred %zu indexes and constraints of %s until the rows are in%s%s",
                      d.objects.size(), table.c_str(), names.empty() ? "" : ": ", names.c_str()));
  return Status::ok();
}

// Builds every saved object not built yet, each in a transaction of its own that first
// marks it built, so that a run stopped anywhere goes on with the next one and two workers
// of the job never build one object twice. The list is read again from the ledger, which
// knows what every worker saved and built. A lock timeout or a lost connection is retried
// as a chunk's would be.
Status rebuild_deferred(pg::PgLedger& ledger, const std::string& job, Deferral& d,
                        const RetryPolicy& retry, const std::atomic<bool>* interrupt, Log* log,
                        double* seconds) {
  const auto started = std::chrono::steady_clock::now();
  pg::PgConnection& conn = ledger.connection();
  BACKFILL_ASSIGN_OR_RETURN(auto saved, ledger.saved_deferred(job));
  d.objects = saved ? std::move(*saved) : std::vector<pg::DeferredObject>{};
  for (auto& o : d.objects) {
    if (o.created) continue;
    const auto t0 = std::chrono::steady_clock::now();
    bool ours = false;
    const Status built = run_with_retry(
        retry, interrupt,
        [&] {
          return conn.transaction([&]() -> Status {
            BACKFILL_ASSIGN_OR_RETURN(ours, ledger.claim_rebuild(o));
            return ours ? pg::create_deferred(conn, o) : Status::ok();
          });
        },
        [&] { return conn.healthy() ? Status::ok() : conn.reconnect(); },
        [&](const RetryEvent& e) { log_retry(log, e, retry); });
    BACKFILL_RETURN_IF_ERROR(built);
    o.created = true;
    if (!ours) continue;  // another worker of the job rebuilt it
    log->info(
        "rebuilt",
        strprintf("rebuilt %s %s in %.1f s", o.kind.c_str(), o.name.c_str(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
  }
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return Status::ok();
}

}  // namespace

Status check_keyless_ledger(const pg::CopySpec& spec, bool ledger_in_target) {
  if (!spec.keyless || ledger_in_target) return Status::ok();
  return Status::invalid("table " + spec.source.display() +
                         " has no key, and --state puts the ledger in another database: each "
                         "chunk of a table without a key must be recorded in the transaction "
                         "that writes it, the only guard against writing it twice. Leave --state "
                         "out (or point it at the target's database), or give --key");
}

Status check_keyless_target(const CopyOptions& o, const pg::CopySpec& spec,
                            pg::PgConnection& ledger, pg::PgConnection& target,
                            const std::string& job) {
  if (!spec.keyless) return Status::ok();
  BACKFILL_ASSIGN_OR_RETURN(auto recorded, pg::job_fingerprint(ledger, job));
  if (recorded && !o.restart) return Status::ok();  // the job that wrote them resumes
  BACKFILL_ASSIGN_OR_RETURN(bool has_rows, pg::table_has_rows(target, spec.target));
  if (!has_rows) return Status::ok();
  return Status::invalid("table " + spec.source.display() + " has no key, and its target " +
                         spec.target.display() + " has rows that " +
                         (recorded ? "the job's earlier runs wrote (--restart)"
                                   : "no run of job '" + job + "' wrote") +
                         ": nothing can tell them from the rows this copy would write again. "
                         "Empty the target first (TRUNCATE " +
                         spec.target.display() + "), or resume the job that filled it");
}

Status copy_table(const CopyOptions& options, const RunContext& ctx, JsonObject* report_out,
                  const SetMember* member) {
  PreparedCopy prepared;
  std::optional<ThrottleSetup> throttle_setup;
  if (member) {  // planned and checked by the set's preflight; throttled by the set
    prepared.spec = member->spec;
    pick_lanes(options, &prepared);
  } else {
    BACKFILL_ASSIGN_OR_RETURN(prepared, prepare_copy(options));
    if (options.disable_triggers) {
      BACKFILL_RETURN_IF_ERROR(pg::check_may_disable_triggers(*prepared.target));
    }
    BACKFILL_ASSIGN_OR_RETURN(throttle_setup,
                              prepare_throttle(options, ThrottleScope::of(*prepared.spec),
                                               *prepared.source, *prepared.target));
  }
  CopyOptions o = options;
  o.jobs = prepared.lanes;
  const pg::CopySpec& spec = *prepared.spec;
  auto settings = session_settings(o);

  const std::string state_dsn = o.state.empty() ? o.target : o.state;
  auto ledger_or = pg::PgLedger::connect(state_dsn, settings, member == nullptr);
  if (!ledger_or.ok()) return ledger_or.status().with_context("--state");
  std::unique_ptr<pg::PgLedger> ledger = std::move(ledger_or).value();
  BACKFILL_ASSIGN_OR_RETURN(std::string state_db, pg::database_identity(ledger->connection()));
  const bool ledger_in_target = state_db == spec.target.database;
  BACKFILL_RETURN_IF_ERROR(check_keyless_ledger(spec, ledger_in_target));

  JobSpec job;
  job.command = "copy";
  job.name = o.job.empty() ? default_job_name("copy", spec.source.display(), spec.target.display())
                           : o.job;
  job.fingerprint = hex64(hash64(spec.fingerprint_text()));
  job.description = "copy " + spec.source.display() + " (" + pg::describe_dsn(o.source) + ") -> " +
                    spec.target.display() + " (" + pg::describe_dsn(o.target) + ")";
  job.chunk_rows = o.chunk_rows;
  if (!member) ctx.name_job(o.log, "copy", job.name);
  ledger->set_estimated_rows(spec.source.estimated_rows);
  // A set's preflight checked its tables already. The ledger is in the target's database
  // for a keyless table: its session reads both.
  if (!member) {
    BACKFILL_RETURN_IF_ERROR(
        check_keyless_target(o, spec, ledger->connection(), ledger->connection(), job.name));
  }
  BACKFILL_ASSIGN_OR_RETURN(std::optional<Deferral> deferral,
                            prepare_deferral(o, prepared, *ledger, ledger_in_target, job.name));
  // Preflight ends here: from now on the ledger schema exists and the job is recorded.
  BACKFILL_ASSIGN_OR_RETURN(JobOpen opened, ledger->open(job, o.restart));
  if (deferral && !deferral->saved) {
    BACKFILL_RETURN_IF_ERROR(drop_deferred(*ledger, *deferral, spec.target.display(), o.log));
  }
  CopyJobOptions jo;
  fill_job_options(o, ctx, &jo);
  jo.observer = ctx.observer(member ? member->set_job : job.name, spec.source.display());
  // The objects come back once every row is in: at the end of this run, or of the run that
  // finds the job done.
  double rebuild_seconds = 0;
  auto rebuild = [&]() -> Status {
    if (!deferral) return Status::ok();
    Status st = rebuild_deferred(*ledger, job.name, *deferral, jo.retry, ctx.interrupt, o.log,
                                 &rebuild_seconds);
    if (!st.is_ok()) {
      (void)ledger->finish(JobOutcome::kFailed, st.message());
      o.log->info("rebuild_pending",
                  strprintf("the rows are in; the same command rebuilds what is left of %s",
                            spec.target.display().c_str()));
    }
    return st;
  };

  JsonObject& report = *report_out;
  report.add("command", "copy").add("job", job.name);
  // The report has the same fields whatever the outcome, an already-done rerun's included.
  auto add_report = [&](const CopyJobStats& stats, const ThrottleSnapshot& throttled) {
    const double rate = stats.seconds > 0 ? static_cast<double>(stats.rows) / stats.seconds : 0;
    report.add("status", outcome_name(stats.outcome))
        .add("job_done", stats.outcome == JobOutcome::kOk && stats.ledger.complete())
        .add("rows", stats.rows)
        .add("rows_written", stats.rows_written)
        .add("chunks", stats.chunks)
        .add("rows_total", stats.ledger.rows_done)
        .add("chunks_total", stats.ledger.chunks_done)
        .add("low_watermark", watermark_json(stats.ledger.low_watermark))
        .add("seconds", stats.seconds)
        .add("rows_per_second", rate)
        .add("retries", stats.retries)
        .add("chunks_split", stats.splits)
        .add("jobs", o.jobs)
        .add("chunk_rows", throttled.chunk_rows)
        .add("deferred_objects", static_cast<std::int64_t>(deferral ? deferral->objects.size() : 0))
        .add("rebuild_seconds", rebuild_seconds)
        .add("on_conflict", std::string(policy_name(spec.policy)))
        .add("source", spec.source.display())
        .add("target", spec.target.display());
    if (!member) {  // a set reports its throttle once, for all of its tables
      report.add("throttled_seconds", std::min(throttled.throttled_seconds, stats.seconds))
          .add("throttled_by", throttled_by(throttled));
    }
    if (!stats.error.is_ok()) report.add("error", stats.error.message());
  };
  if (opened == JobOpen::kAlreadyDone) {
    BACKFILL_RETURN_IF_ERROR(rebuild());
    CopyJobStats done;  // this run did nothing: the ledger's totals, no time, no throttle
    BACKFILL_ASSIGN_OR_RETURN(done.ledger, ledger->progress());
    if (!ctx.trial) {
      std::printf("job %s is already done (%s rows in %s chunks); --restart runs it again\n",
                  job.name.c_str(), with_thousands(done.ledger.rows_done).c_str(),
                  with_thousands(done.ledger.chunks_done).c_str());
    }
    ThrottleSnapshot idle;
    idle.chunk_rows = o.chunk_rows;
    add_report(done, idle);
    return Status::ok();
  }
  o.log->info("start",
              strprintf("%s job %s: %s, %s, %zu columns, on conflict %s, %d lane%s, ledger in %s%s",
                        opened == JobOpen::kNew ? "starting" : "resuming", job.name.c_str(),
                        job.description.c_str(),
                        spec.keyless ? "no key (TID ranges)"
                                     : ("key (" + pg::join_quoted(spec.key) + ")").c_str(),
                        spec.columns.size(), policy_name(spec.policy), o.jobs,
                        o.jobs == 1 ? "" : "s", pg::describe_dsn(state_dsn).c_str(),
                        ledger_in_target ? " (same transaction as the rows)" : ""));

  pg::PgSource source(o.source, settings, prepared.spec);
  pg::SessionSettings write_settings = settings;
  // --disable-triggers: foreign keys and triggers of the target are not fired for our rows.
  write_settings.replica_role = o.disable_triggers;
  pg::PgSink sink(o.target, write_settings, prepared.spec,
                  ledger_in_target ? std::optional<std::string>(job.name) : std::nullopt);
  IdentityTransform identity;
  std::optional<MapTransform> mapped;
  if (spec.map) mapped.emplace(spec.map);
  const Transform& transform = mapped ? static_cast<const Transform&>(*mapped) : identity;
  // Our sessions are no longer needed; the job opens its own.
  prepared.source.reset();
  prepared.target.reset();
  MemberThrottle throttle;
  BACKFILL_RETURN_IF_ERROR(
      throttle.start(member, std::move(throttle_setup), state_dsn, job.name, o.chunk_rows, &jo));
  BACKFILL_ASSIGN_OR_RETURN(CopyJobStats stats, run_copy_job(source, sink, *ledger, transform, jo));
  const ThrottleSnapshot throttled = throttle.finish(outcome_name(stats.outcome));
  if (stats.outcome == JobOutcome::kOk && stats.ledger.complete()) {
    if (Status st = rebuild(); !st.is_ok()) {
      stats.outcome = JobOutcome::kFailed;
      stats.error = st.with_context("--defer-indexes");
    }
  } else if (deferral && not_rebuilt(deferral->objects) > 0 && stats.outcome != JobOutcome::kOk) {
    o.log->info("rebuild_pending",
                strprintf("the indexes and constraints of %s are rebuilt once every chunk is in",
                          spec.target.display().c_str()));
  }

  add_report(stats, throttled);
  const double rate = stats.seconds > 0 ? static_cast<double>(stats.rows) / stats.seconds : 0;
  const bool job_done = stats.outcome == JobOutcome::kOk && stats.ledger.complete();

  if (!ctx.trial) {  // a trial of tune prints its own line
    std::printf("%s: %s rows (%s written) in %s chunks, %.1f s, %s rows/s, %lld retries%s\n",
                outcome_name(stats.outcome), with_thousands(stats.rows).c_str(),
                with_thousands(stats.rows_written).c_str(), with_thousands(stats.chunks).c_str(),
                stats.seconds, with_thousands(static_cast<std::int64_t>(rate)).c_str(),
                static_cast<long long>(stats.retries),
                job_done ? "; job done"
                         : (stats.ledger.chunks_running > 0 && stats.outcome == JobOutcome::kOk
                                ? "; other workers still hold chunks"
                                : ""));
  }
  if (stats.outcome == JobOutcome::kInterrupted) {
    o.log->info("resume_hint",
                strprintf("interrupted: progress is kept; the same command resumes job %s",
                          job.name.c_str()));
  } else if (stats.outcome == JobOutcome::kFailed) {
    o.log->info("resume_hint",
                strprintf("progress is kept; the same command resumes job %s", job.name.c_str()));
  }
  return stats.error;
}

Status run_copy(const CopyOptions& o, const RunContext& ctx) {
  BACKFILL_RETURN_IF_ERROR(check_table_choice(o));
  BACKFILL_RETURN_IF_ERROR(check_copy_connections(o));
  if (!o.tables.empty()) return run_copy_tables(o, ctx);
  JsonObject report;
  Status st = copy_table(o, ctx, &report);
  if (st.is_ok() && o.sync_sequences.value_or(false)) {
    auto synced = sync_table_sequences(o);
    if (synced.ok()) {
      report.add("sequences", std::move(synced).value());
    } else {
      st = synced.status().with_context("--sync-sequences");
      report.add("status", "failed").add("error", st.message());
    }
  }
  BACKFILL_RETURN_IF_ERROR(finish_report(o, report));
  return st;
}

}  // namespace backfill::cli
