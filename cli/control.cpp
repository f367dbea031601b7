// `backfill control`: changes a running job through its ledger row; every worker of the job
// reads it back with its next heartbeat (about once a second).
#include <cmath>
#include <cstdio>
#include <string>

#include "cli/options.hpp"
#include "drivers/postgres/connection.hpp"
#include "drivers/postgres/ledger.hpp"

namespace backfill::cli {

Status run_control(const ControlOptions& o) {
  if (o.pause && o.resume) return Status::invalid("--pause and --resume exclude each other");
  if (!o.pause && !o.resume && !o.as_started && !o.max_rate && !o.jobs && !o.chunk_time_ms) {
    return Status::invalid(
        "nothing to change: give --pause, --resume, --max-rate, --jobs, --chunk-time or "
        "--as-started");
  }
  bool has_ledger = false;
  BACKFILL_ASSIGN_OR_RETURN(auto conn_ptr, connect_state(o.state, &has_ledger));
  auto& conn = *conn_ptr;
  if (!has_ledger) {
    return Status::invalid("no backfill ledger in " + conn.where() + " (--state)");
  }
  // A table of a set runs under the set's one throttle, which reads the set's row only.
  BACKFILL_ASSIGN_OR_RETURN(std::optional<std::string> set, pg::set_of(conn, o.job));
  if (set) {
    return Status::invalid("job '" + o.job + "' is a table of the set '" + *set +
                           "', whose tables share one throttle: give --job '" + *set + "'");
  }
  pg::ControlChange change{o.pause, o.resume, o.as_started, o.max_rate, o.jobs, o.chunk_time_ms};
  BACKFILL_ASSIGN_OR_RETURN(std::optional<pg::ControlState> now,
                            pg::change_control(conn, o.job, change));
  if (!now) return Status::invalid("no job named '" + o.job + "' in the ledger");
  // Plain words: a setting control never gave is the command line's ("as started").
  auto said = [](const std::string& v, const std::string& unit) {
    return v.empty() ? std::string("as started")
                     : with_thousands(static_cast<std::int64_t>(std::llround(std::stod(v)))) + unit;
  };
  const std::string rate = now->max_rate.empty()  ? "as started"
                           : now->max_rate == "0" ? "off"
                                                  : said(now->max_rate, " rows/s");
  std::printf("job %s: %s; max rate: %s; jobs: %s; chunk time: %s\n", o.job.c_str(),
              now->paused ? "paused" : "running", rate.c_str(), said(now->jobs, "").c_str(),
              said(now->chunk_time_ms, " ms").c_str());
  return Status::ok();
}

}  // namespace backfill::cli
