// `backfill update`: a column of a live table filled in place, chunk by chunk (the
// "backfill" step of expand/contract). Reads options, runs preflight, hands the job to the
// engine, reports. `plan update` shows the same without writing.
#include <algorithm>
#include <cstdio>

#include "cli/drivers.hpp"
#include "cli/options.hpp"
#include "drivers/postgres/ledger.hpp"
#include "engine/jobs/report.hpp"
#include "engine/util/hash.hpp"

namespace backfill::cli {
namespace {

struct PreparedUpdate {
  std::unique_ptr<pg::PgConnection> conn;
  std::shared_ptr<const pg::UpdateSpec> spec;
};

Status check_update_connections(const UpdateOptions& o) {
  return check_connections({{o.common.target, "--target", DsnRole::kTarget},
                            {o.common.state, "--state", DsnRole::kState}});
}

Result<PreparedUpdate> prepare_update(const UpdateOptions& o) {
  BACKFILL_RETURN_IF_ERROR(check_dsn(o.common.target, "--target", DsnRole::kTarget));
  if (!o.common.state.empty()) {
    BACKFILL_RETURN_IF_ERROR(check_dsn(o.common.state, "--state", DsnRole::kState));
  }
  PreparedUpdate p;
  auto conn = pg::PgConnection::connect(o.common.target, session_settings(o.common), true);
  if (!conn.ok()) return conn.status().with_context("--target");
  p.conn = std::move(conn).value();
  UpdateRequest request = o.request;
  BACKFILL_ASSIGN_OR_RETURN(request.functions, load_functions(o.common));
  request.context = job_context();
  BACKFILL_ASSIGN_OR_RETURN(pg::UpdateSpec spec, pg::plan_update(*p.conn, request));
  print_warnings(o.common.log, spec.warnings);
  p.spec = std::make_shared<const pg::UpdateSpec>(std::move(spec));
  return p;
}

}  // namespace

void add_update_options(CLI::App* app, UpdateOptions* o, bool required) {
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app->add_option("--target", o->common.target, "The database (libpq connection string or URI)")
      ->required(required);
  app->add_option("--table", o->request.table, "The table: name or schema.name")
      ->required(required);
  app->add_option("--set", o->request.sets, "\"column = SQL expression\" (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option("--map", o->request.maps,
                  "\"column = expression\" computed here, not by the server (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option("--key", o->request.key,
                  "Key columns, comma-separated: NOT NULL with a unique index (default: primary "
                  "key)");
  app->add_option("--where", o->request.where, "SQL condition: only these rows");
  add_chunk_options(app, &o->common);
  app->add_option("--state", o->common.state, "Ledger database (default: the target)");
  app->add_option("--job", o->common.job, "Job name (default: derived from the table)");
  app->add_flag("--restart", o->common.restart, "Forget the job's progress and start over");
  add_throttle_options(app, &o->common.throttle);
}

Status run_plan_update(const UpdateOptions& o) {
  BACKFILL_RETURN_IF_ERROR(check_update_connections(o));
  BACKFILL_ASSIGN_OR_RETURN(PreparedUpdate p, prepare_update(o));
  const pg::UpdateSpec& spec = *p.spec;
  std::printf("update %s\n  key:         (%s)\n", spec.keys.source.display().c_str(),
              pg::join_quoted(spec.keys.key).c_str());
  for (const auto& s : spec.sets) {
    std::printf("  set:         %s (%s) = %s\n", s.column.c_str(), s.type.c_str(), s.expr.c_str());
  }
  for (const auto& m : spec.mapped) {
    std::printf("  map:         %s (%s) = %s  (computed here)\n", m.column.c_str(), m.type.c_str(),
                m.expr.c_str());
  }
  if (spec.keys.source.estimated_rows) {
    std::printf("  rows:        ~%s\n", with_thousands(*spec.keys.source.estimated_rows).c_str());
  }
  const ChunkRange example{{Key{"<lo>"}}, {Key{"<hi>"}}};
  if (spec.map) {
    std::printf("  per chunk:   %s\n               then %s\n", spec.map_read_sql(example).c_str(),
                spec.update_from_stage_sql(example).c_str());
  } else {
    std::printf("  per chunk:   %s\n", spec.update_sql(example).c_str());
  }
  std::printf("plan only: nothing was written\n");
  return Status::ok();
}

Status run_update(const UpdateOptions& o, const RunContext& ctx) {
  BACKFILL_RETURN_IF_ERROR(check_update_connections(o));
  BACKFILL_ASSIGN_OR_RETURN(PreparedUpdate prepared, prepare_update(o));
  const pg::UpdateSpec& spec = *prepared.spec;
  CopyOptions common = o.common;
  common.source = common.target;
  BACKFILL_ASSIGN_OR_RETURN(
      ThrottleSetup throttle_setup,
      prepare_throttle(common, ThrottleScope::of(spec.keys), *prepared.conn, *prepared.conn));
  auto settings = session_settings(o.common);
  const std::string state_dsn = o.common.state.empty() ? o.common.target : o.common.state;
  auto ledger_or = pg::PgLedger::connect(state_dsn, settings);
  if (!ledger_or.ok()) return ledger_or.status().with_context("--state");
  std::unique_ptr<pg::PgLedger> ledger = std::move(ledger_or).value();

  JobSpec job;
  job.command = "update";
  job.name = o.common.job.empty() ? "update:" + spec.keys.source.display() : o.common.job;
  ctx.name_job(o.common.log, "update", job.name);
  job.fingerprint = hex64(hash64(spec.fingerprint_text()));
  job.description =
      "update " + spec.keys.source.display() + " (" + pg::describe_dsn(o.common.target) + ")";
  for (const auto& s : spec.sets) job.description += ", set " + s.column;
  job.chunk_rows = o.common.chunk_rows;
  ledger->set_estimated_rows(spec.keys.source.estimated_rows);
  // Preflight ends here: from now on the ledger schema exists and the job is recorded.
  BACKFILL_ASSIGN_OR_RETURN(JobOpen opened, ledger->open(job, o.common.restart));
  JsonObject report;
  report.add("command", "update").add("job", job.name);
  // The report has the same fields whatever the outcome, an already-done rerun's included.
  auto add_report = [&](const UpdateJobStats& stats, const ThrottleSnapshot& throttled) {
    report.add("status", outcome_name(stats.outcome))
        .add("job_done", stats.outcome == JobOutcome::kOk && stats.ledger.complete())
        .add("rows", stats.rows)
        .add("chunks", stats.chunks)
        .add("rows_total", stats.ledger.rows_done)
        .add("chunks_total", stats.ledger.chunks_done)
        .add("low_watermark", watermark_json(stats.ledger.low_watermark))
        .add("seconds", stats.seconds)
        .add("rows_per_second",
             stats.seconds > 0 ? static_cast<double>(stats.rows) / stats.seconds : 0.0)
        .add("throttled_seconds", std::min(throttled.throttled_seconds, stats.seconds))
        .add("throttled_by", throttled_by(throttled))
        .add("retries", stats.retries)
        .add("chunks_split", stats.splits)
        .add("jobs", o.common.jobs)
        .add("chunk_rows", throttled.chunk_rows)
        .add("table", spec.keys.source.display());
    if (!stats.error.is_ok()) report.add("error", stats.error.message());
  };
  if (opened == JobOpen::kAlreadyDone) {
    UpdateJobStats done;  // this run did nothing: the ledger's totals, no time, no throttle
    BACKFILL_ASSIGN_OR_RETURN(done.ledger, ledger->progress());
    std::printf("job %s is already done (%s rows changed in %s chunks); --restart runs it again\n",
                job.name.c_str(), with_thousands(done.ledger.rows_done).c_str(),
                with_thousands(done.ledger.chunks_done).c_str());
    ThrottleSnapshot idle;
    idle.chunk_rows = o.common.chunk_rows;
    add_report(done, idle);
    BACKFILL_RETURN_IF_ERROR(finish_report(o.common, report));
    return Status::ok();
  }
  o.common.log->info("start",
                     strprintf("%s job %s: %s, key (%s), ledger in %s",
                               opened == JobOpen::kNew ? "starting" : "resuming", job.name.c_str(),
                               job.description.c_str(), pg::join_quoted(spec.keys.key).c_str(),
                               pg::describe_dsn(state_dsn).c_str()));
  prepared.conn.reset();

  pg::PgUpdatedTable table(o.common.target, settings, prepared.spec);
  ChunkJobOptions jo;
  fill_job_options(o.common, ctx, &jo);
  jo.observer = ctx.observer(job.name, spec.keys.source.display());
  BACKFILL_ASSIGN_OR_RETURN(auto throttle,
                            JobThrottle::start(std::move(throttle_setup), state_dsn, job.name));
  jo.throttle = throttle->get();
  BACKFILL_ASSIGN_OR_RETURN(UpdateJobStats stats, run_update_job(table, *ledger, jo));
  const ThrottleSnapshot throttled = throttle->finish(outcome_name(stats.outcome));

  const bool job_done = stats.outcome == JobOutcome::kOk && stats.ledger.complete();
  add_report(stats, throttled);
  BACKFILL_RETURN_IF_ERROR(finish_report(o.common, report));
  std::printf("%s: %s rows changed in %s chunks, %.1f s, %lld retries%s\n",
              outcome_name(stats.outcome), with_thousands(stats.rows).c_str(),
              with_thousands(stats.chunks).c_str(), stats.seconds,
              static_cast<long long>(stats.retries), job_done ? "; job done" : "");
  return stats.error;
}

}  // namespace backfill::cli
