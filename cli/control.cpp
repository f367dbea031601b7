// `backfill control`: changes a running job through its ledger row; every worker of the job
// reads it back with its next heartbeat (about once a second).
#include <cstdio>

#include "cli/options.hpp"
#include "drivers/postgres/connection.hpp"

namespace backfill::cli {

Status run_control(const ControlOptions& o) {
  if (o.pause && o.resume) return Status::invalid("--pause and --resume exclude each other");
  if (!o.pause && !o.resume && !o.max_rate && !o.jobs && !o.chunk_time_ms) {
    return Status::invalid(
        "nothing to change: give --pause, --resume, --max-rate, --jobs or --chunk-time");
  }
  bool has_ledger = false;
  BACKFILL_ASSIGN_OR_RETURN(auto conn_ptr, connect_state(o.state, &has_ledger));
  auto& conn = *conn_ptr;
  if (!has_ledger) {
    return Status::invalid("no backfill ledger in " + conn.where() + " (--state)");
  }
  auto opt = [](const auto& v) -> std::optional<std::string> {
    if (!v) return std::nullopt;
    return std::to_string(*v);
  };
  // A NULL parameter leaves that setting as it is; --max-rate 0 clears the limit.
  BACKFILL_ASSIGN_OR_RETURN(
      pg::PgResult r,
      conn.query("UPDATE backfill.jobs SET paused = CASE WHEN $2 THEN true WHEN $3 THEN false "
                 "ELSE paused END, max_rate = CASE WHEN $4::double precision IS NULL THEN "
                 "max_rate ELSE nullif($4::double precision, 0) END, max_jobs = "
                 "coalesce($5::int, max_jobs), chunk_time_ms = coalesce($6::int, chunk_time_ms), "
                 "updated_at = now() WHERE name = $1 RETURNING paused, coalesce(max_rate::text, "
                 "'none'), coalesce(max_jobs::text, 'as started'), coalesce(chunk_time_ms::text, "
                 "'as started')",
                 {o.job, o.pause ? "true" : "false", o.resume ? "true" : "false", opt(o.max_rate),
                  opt(o.jobs), opt(o.chunk_time_ms)}));
  if (r.rows() == 0) return Status::invalid("no job named '" + o.job + "' in the ledger");
  std::printf("job %s: %s, max rate %s rows/s, jobs %s, chunk time %s ms\n", o.job.c_str(),
              r.boolean(0, 0) ? "paused" : "running", r.text(0, 1).c_str(), r.text(0, 2).c_str(),
              r.text(0, 3).c_str());
  return Status::ok();
}

}  // namespace backfill::cli
