// `backfill status`: every job in a ledger, with its state, progress, rate and ETA. Safe to
// run from another terminal while jobs run; it only reads.
#include <algorithm>
#include <cstdio>
#include <map>

#include "cli/drivers.hpp"
#include "cli/options.hpp"
#include "drivers/postgres/connection.hpp"
#include "drivers/postgres/ledger.hpp"
#include "engine/jobs/progress.hpp"

namespace backfill::cli {

namespace {

// Each worker's last heartbeat: its throttle state and why, chunk size, chunks in flight.
Status print_workers(pg::PgConnection& conn, const std::string& job) {
  BACKFILL_ASSIGN_OR_RETURN(std::vector<pg::WorkerStatusRow> workers,
                            pg::worker_statuses(conn, job));
  for (const auto& w : workers) {
    if (!w.last_state.empty()) {
      std::printf("  worker %s  dead: its session is gone (last heard %lld s ago, %s)\n",
                  w.worker.c_str(), static_cast<long long>(w.seconds_since), w.last_state.c_str());
      continue;
    }
    std::string state = w.state;
    if (!w.reason.empty()) state += ": " + w.reason;
    std::printf(
        "  worker %s  %s  chunk %s rows  in flight %lld/%lld  throttled %lld s%s\n",
        w.worker.c_str(), state.c_str(), with_thousands(w.chunk_rows).c_str(),
        static_cast<long long>(w.in_flight), static_cast<long long>(w.allowed),
        static_cast<long long>(w.throttled_seconds),
        w.live ? "" : ("  (last heard " + std::to_string(w.seconds_since) + " s ago)").c_str());
  }
  return Status::ok();
}

// The jobs as `status --json` prints them: one object a job, a set's with its tables counted
// by state, each with its workers' last heartbeats. Numbers a job does not know are null.
Result<Json> status_json(pg::PgConnection& conn, const std::vector<pg::JobStatusRow>& jobs) {
  Json out = Json::array();
  for (const auto& j : jobs) {
    Json job = {{"job", j.name},
                {"kind", j.is_set() ? "set" : "table"},
                {"command", j.command},
                {"status", j.shown_status()},
                {"live_workers", j.live_workers},
                {"updated_at", j.updated_at + " UTC"},
                {"description", j.description},
                {"message", j.message.empty() ? Json(nullptr) : Json(j.message)}};
    if (j.is_set()) {
      const std::string prefix = j.name + "/";
      Json by_status = Json::object();
      std::int64_t rows = 0, tables = 0;
      for (const auto& t : jobs) {
        if (!t.name.starts_with(prefix)) continue;
        ++tables;
        by_status[t.shown_status()] = by_status.value(t.shown_status(), 0) + 1;
        rows += t.rows_done;
      }
      job["tables_started"] = tables;
      job["tables_by_status"] = std::move(by_status);
      job["rows_done"] = rows;
    } else {
      const bool known = j.estimated_rows > 0;
      job["rows_done"] = j.rows_done;
      job["rows_estimated"] = known ? Json(j.estimated_rows) : Json(nullptr);
      job["chunks_done"] = j.chunks_done;
      job["chunks_planned"] = j.chunks;
      job["plan_done"] = j.plan_done;
      job["chunks_in_flight"] = j.chunks_running;
      job["chunk_rows"] = j.chunk_rows;
      job["rows_per_second"] = j.rate;
      job["eta_seconds"] = j.running() && known && j.estimated_rows > j.rows_done && j.rate > 0
                               ? Json(static_cast<double>(j.estimated_rows - j.rows_done) / j.rate)
                               : Json(nullptr);
      job["low_watermark"] = watermark_json(j.low_watermark);
    }
    BACKFILL_ASSIGN_OR_RETURN(std::vector<pg::WorkerStatusRow> workers,
                              pg::worker_statuses(conn, j.name));
    Json ws = Json::array();
    for (const auto& w : workers) {
      ws.push_back({{"worker", w.worker},
                    {"state", w.state},
                    {"last_state", w.last_state.empty() ? Json(nullptr) : Json(w.last_state)},
                    {"reason", w.reason.empty() ? Json(nullptr) : Json(w.reason)},
                    {"chunk_rows", w.chunk_rows},
                    {"in_flight", w.in_flight},
                    {"in_flight_allowed", w.allowed},
                    {"throttled_seconds", w.throttled_seconds},
                    {"live", w.live},
                    {"seconds_since_heartbeat", w.seconds_since}});
    }
    job["workers"] = std::move(ws);
    out.push_back(std::move(job));
  }
  return out;
}

// A job the ledger calls running with no worker alive: what happened and the way out.
void print_stalled(const pg::JobStatusRow& j) {
  if (!j.stalled) return;
  std::printf(
      "  stalled: no worker is alive (their sessions are gone: killed, or the host lost); run "
      "the same command to resume\n");
}

void print_json(const Json& j) { std::printf("%s\n", json_text(j).c_str()); }

}  // namespace

Result<std::unique_ptr<pg::PgConnection>> connect_state(const std::string& state,
                                                        bool* has_ledger) {
  BACKFILL_RETURN_IF_ERROR(check_dsn(state, "--state", DsnRole::kState));
  auto conn = pg::PgConnection::connect(state, pg::SessionSettings{}, true);
  if (!conn.ok()) return conn.status().with_context("--state");
  BACKFILL_ASSIGN_OR_RETURN(*has_ledger, pg::ledger_exists(*conn.value()));
  return conn;
}

Status run_status(const StatusOptions& o) {
  bool has_ledger = false;
  BACKFILL_ASSIGN_OR_RETURN(auto conn_ptr, connect_state(o.state, &has_ledger));
  auto& conn = *conn_ptr;
  if (!has_ledger) {
    if (o.json) {
      print_json({{"ledger", false}, {"jobs", Json::array()}});
    } else {
      std::printf("no backfill ledger in %s\n", conn.where().c_str());
    }
    return Status::ok();
  }
  BACKFILL_ASSIGN_OR_RETURN(std::vector<pg::JobStatusRow> jobs, pg::job_statuses(conn, o.job));
  // A set before its tables, which follow it as jobs of their own.
  std::stable_partition(jobs.begin(), jobs.end(), [](const auto& j) { return j.is_set(); });
  if (o.json) {
    if (jobs.empty() && !o.job.empty()) return Status::invalid("no job named '" + o.job + "'");
    BACKFILL_ASSIGN_OR_RETURN(Json list, status_json(conn, jobs));
    print_json({{"ledger", true}, {"jobs", std::move(list)}});
    return Status::ok();
  }
  if (jobs.empty()) {
    std::printf(o.job.empty() ? "no jobs\n" : "no job named %s\n", o.job.c_str());
    return o.job.empty() ? Status::ok() : Status::invalid("no job named '" + o.job + "'");
  }
  for (const auto& j : jobs) {
    if (j.is_set()) {
      // A set of tables (--tables): its tables by state, then its throttle's heartbeat; its
      // tables follow as jobs of their own.
      const std::string prefix = j.name + "/";
      std::map<std::string, int> by_status;
      std::int64_t rows = 0, tables = 0;
      for (const auto& t : jobs) {
        if (!t.name.starts_with(prefix)) continue;
        ++tables;
        ++by_status[t.shown_status()];
        rows += t.rows_done;
      }
      std::string states;
      for (const auto& [status, n] : by_status) {
        states += (states.empty() ? "" : ", ") + std::to_string(n) + " " + status;
      }
      std::printf("%s  [%s]  updated %s UTC\n  %s\n  set of %lld tables started: %s; %s rows\n",
                  j.name.c_str(), j.shown_status().c_str(), j.updated_at.c_str(),
                  j.description.c_str(), static_cast<long long>(tables),
                  states.empty() ? "none yet" : states.c_str(), with_thousands(rows).c_str());
      if (!j.message.empty()) std::printf("  last message: %s\n", j.message.c_str());
      print_stalled(j);
      BACKFILL_RETURN_IF_ERROR(print_workers(conn, j.name));
      continue;
    }
    const std::int64_t est = j.estimated_rows, rows = j.rows_done;
    std::printf("%s  [%s]  updated %s UTC\n  %s\n", j.name.c_str(), j.shown_status().c_str(),
                j.updated_at.c_str(), j.description.c_str());
    std::printf("  rows %s", with_thousands(rows).c_str());
    if (est > 0)
      std::printf(" of ~%s (%.1f%%)", with_thousands(est).c_str(),
                  100.0 * static_cast<double>(rows) / static_cast<double>(std::max(est, rows)));
    std::printf("  chunks %s/%s%s done, %s in flight, of ~%s rows  rate %s rows/s",
                with_thousands(j.chunks_done).c_str(), with_thousands(j.chunks).c_str(),
                j.plan_done ? "" : "+", with_thousands(j.chunks_running).c_str(),
                with_thousands(j.chunk_rows).c_str(),
                with_thousands(static_cast<std::int64_t>(j.rate)).c_str());
    if (j.running() && est > rows && j.rate > 0) {
      std::printf("  ETA %s", format_duration(static_cast<double>(est - rows) / j.rate).c_str());
    }
    std::printf("\n");
    if (j.low_watermark) std::printf("  done up to key %s\n", key_text(*j.low_watermark).c_str());
    if (!j.message.empty()) std::printf("  last message: %s\n", j.message.c_str());
    if (j.name.find('/') == std::string::npos)
      print_stalled(j);  // a set's table: said once, by the set
    BACKFILL_RETURN_IF_ERROR(print_workers(conn, j.name));
  }
  return Status::ok();
}

}  // namespace backfill::cli
