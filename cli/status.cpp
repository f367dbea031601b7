// `backfill status`: every job in a ledger, with its state, progress, rate and ETA. Safe to
// run from another terminal while jobs run; it only reads.
#include <cstdio>

#include "cli/options.hpp"
#include "drivers/postgres/connection.hpp"
#include "engine/jobs/progress.hpp"

namespace backfill::cli {

namespace {

// Each worker's last heartbeat: its throttle state and why, chunk size, chunks in flight.
Status print_workers(pg::PgConnection& conn, const std::string& job) {
  BACKFILL_ASSIGN_OR_RETURN(pg::PgResult has,
                            conn.query("SELECT to_regclass('backfill.workers') IS NOT NULL"));
  if (!has.boolean(0, 0)) return Status::ok();
  BACKFILL_ASSIGN_OR_RETURN(
      pg::PgResult w,
      conn.query("SELECT worker, state, coalesce(reason, ''), coalesce(chunk_rows, 0), "
                 "coalesce(in_flight, 0), coalesce(allowed, 0), "
                 "round(coalesce(throttled_seconds, 0))::bigint, "
                 "heartbeat_at > now() - interval '5 seconds', "
                 "round(extract(epoch FROM now() - heartbeat_at))::bigint "
                 "FROM backfill.workers WHERE job = $1 ORDER BY heartbeat_at DESC LIMIT 20",
                 {job}));
  for (int i = 0; i < w.rows(); ++i) {
    const bool live = w.boolean(i, 7);
    std::string state = w.text(i, 1);
    if (!w.text(i, 2).empty()) state += ": " + w.text(i, 2);
    std::printf("  worker %s  %s  chunk %s rows  in flight %s/%s  throttled %s s%s\n",
                w.text(i, 0).c_str(), state.c_str(), with_thousands(w.int64(i, 3)).c_str(),
                w.text(i, 4).c_str(), w.text(i, 5).c_str(), w.text(i, 6).c_str(),
                live ? "" : ("  (last heard " + w.text(i, 8) + " s ago)").c_str());
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<pg::PgConnection>> connect_state(const std::string& state,
                                                        bool* has_ledger) {
  BACKFILL_RETURN_IF_ERROR(pg::check_dsn(state).with_context("--state"));
  auto conn = pg::PgConnection::connect(state, pg::SessionSettings{}, true);
  if (!conn.ok()) return conn.status().with_context("--state");
  BACKFILL_ASSIGN_OR_RETURN(pg::PgResult has,
                            conn.value()->query("SELECT to_regclass('backfill.jobs') IS NOT NULL"));
  *has_ledger = has.boolean(0, 0);
  return conn;
}

Status run_status(const StatusOptions& o) {
  bool has_ledger = false;
  BACKFILL_ASSIGN_OR_RETURN(auto conn_ptr, connect_state(o.state, &has_ledger));
  auto& conn = *conn_ptr;
  if (!has_ledger) {
    std::printf("no backfill ledger in %s\n", conn.where().c_str());
    return Status::ok();
  }
  // Rate: rows of the chunks finished in the last minute.
  BACKFILL_ASSIGN_OR_RETURN(
      pg::PgResult r,
      conn.query("SELECT j.name, j.status, j.description, coalesce(j.estimated_rows, -1),"
                 " count(c.id) FILTER (WHERE c.status = 'done'), count(c.id),"
                 " count(c.id) FILTER (WHERE c.status = 'running'),"
                 " coalesce(sum(c.rows) FILTER (WHERE c.status = 'done'), 0),"
                 // Running: the rate of the last minute. Done: the job's average.
                 " CASE WHEN j.status = 'done' THEN coalesce(sum(c.rows) / nullif(extract(epoch"
                 " FROM max(c.finished_at) - min(c.started_at)), 0), 0) ELSE coalesce(sum(c.rows)"
                 " FILTER (WHERE c.finished_at > now() - interval '60 seconds'), 0) / 60.0 END,"
                 // Chunk size: the latest finished chunk's rows (sizes adapt), else the
                 // size the job started with.
                 " j.plan_done, coalesce((SELECT l.rows FROM backfill.chunks l WHERE l.job ="
                 " j.name AND l.status = 'done' ORDER BY l.finished_at DESC LIMIT 1),"
                 " j.chunk_rows), to_char(j.updated_at, 'YYYY-MM-DD HH24:MI:SS'), "
                 "coalesce(j.message, '')"
                 " FROM backfill.jobs j LEFT JOIN backfill.chunks c ON c.job = j.name"
                 " WHERE $1 = '' OR j.name = $1 GROUP BY j.name ORDER BY j.updated_at DESC",
                 {o.job}));
  if (r.rows() == 0) {
    std::printf(o.job.empty() ? "no jobs\n" : "no job named %s\n", o.job.c_str());
    return o.job.empty() ? Status::ok() : Status::invalid("no job named '" + o.job + "'");
  }
  for (int i = 0; i < r.rows(); ++i) {
    std::int64_t est = r.int64(i, 3), rows = r.int64(i, 7);
    double rate = std::stod(r.text(i, 8));
    std::printf("%s  [%s]  updated %s UTC\n  %s\n", r.text(i, 0).c_str(), r.text(i, 1).c_str(),
                r.text(i, 11).c_str(), r.text(i, 2).c_str());
    std::printf("  rows %s", with_thousands(rows).c_str());
    if (est > 0)
      std::printf(" of ~%s (%.1f%%)", with_thousands(est).c_str(),
                  100.0 * static_cast<double>(rows) / static_cast<double>(std::max(est, rows)));
    std::printf("  chunks %s/%s%s done, %s in flight, of ~%s rows  rate %s rows/s",
                with_thousands(r.int64(i, 4)).c_str(), with_thousands(r.int64(i, 5)).c_str(),
                r.boolean(i, 9) ? "" : "+", with_thousands(r.int64(i, 6)).c_str(),
                with_thousands(r.int64(i, 10)).c_str(),
                with_thousands(static_cast<std::int64_t>(rate)).c_str());
    if (est > rows && rate > 0) {
      std::printf("  ETA %s", format_duration(static_cast<double>(est - rows) / rate).c_str());
    }
    std::printf("\n");
    if (!r.text(i, 12).empty()) std::printf("  last message: %s\n", r.text(i, 12).c_str());
    BACKFILL_RETURN_IF_ERROR(print_workers(conn, r.text(i, 0)));
  }
  return Status::ok();
}

}  // namespace backfill::cli
