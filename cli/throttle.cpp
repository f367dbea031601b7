// The throttle of a chunked job from its options (one load probe per server, the pause
// file, the chunk sizer), and the running throttle: monitor thread and ledger heartbeat.
#include <algorithm>

#include "cli/options.hpp"
#include "drivers/postgres/ledger.hpp"
#include "drivers/postgres/load_probe.hpp"
#include "engine/jobs/report.hpp"

namespace backfill::cli {

const char* outcome_name(JobOutcome o) {
  switch (o) {
    case JobOutcome::kOk:
      return "ok";
    case JobOutcome::kFailed:
      return "failed";
    case JobOutcome::kInterrupted:
      return "interrupted";
  }
  return "?";
}

Json throttled_by(const ThrottleSnapshot& s) {
  JsonObject o;
  for (const auto& [reason, seconds] : s.seconds_by_reason) o.add(reason, seconds);
  return o.json();
}

ThrottleScope ThrottleScope::of(const pg::CopySpec& spec) {
  return ThrottleScope{
      spec.source.database, spec.target.database, {spec.source.quoted()}, {spec.target.quoted()}};
}

Result<ThrottleSetup> prepare_throttle(const CopyOptions& o, const ThrottleScope& scope,
                                       pg::PgConnection& source, pg::PgConnection& target) {
  const ThrottleCliOptions& t = o.throttle;
  BACKFILL_ASSIGN_OR_RETURN(auto lag, parse_duration(t.max_lag, "--max-lag"));
  if (!t.throttle_query.empty()) {  // checked now, so a typo is exit 2, not a paused job
    pg::PgConnection& on = t.throttle_query_on == "source" ? source : target;
    auto r = on.query(t.throttle_query);
    if (!r.ok()) return Status::invalid("--throttle-query: " + r.status().message());
    if (r.value().rows() < 1 || r.value().columns() < 1) {
      return Status::invalid("--throttle-query returns no value; it must return one number");
    }
  }
  ThrottleSetup setup;
  ThrottleOptions& to = setup.options;
  to.jobs = o.jobs;
  to.chunk_rows = o.chunk_rows;
  to.max_rate = t.max_rate;
  if (!o.chunk_rows_given || t.chunk_time_ms > 0) {
    ChunkSizerConfig c;
    c.target = Seconds((t.chunk_time_ms > 0 ? t.chunk_time_ms : kDefaultChunkTimeMs) / 1000.0);
    to.sizer = c;
  }
  setup.monitor.pause_file = t.pause_file;
  setup.sessions = o.sessions;
  if (t.off) return setup;
  pg::ProbeLimits limits;
  limits.max_active = t.max_active;
  limits.max_lag_seconds = static_cast<double>(lag.count()) / 1000.0;
  limits.max_wal_mb_per_second = t.max_wal_rate;
  limits.max_latency_factor = t.max_latency_factor;
  limits.critical_factor = t.critical_factor;
  auto server_of = [](const std::string& db) { return db.substr(0, db.find('/')); };
  const bool same_server = server_of(scope.source_db) == server_of(scope.target_db);
  const bool same_database = scope.source_db == scope.target_db;
  pg::ProbeLimits target_limits = limits, source_limits = limits;
  (t.throttle_query_on == "source" && !same_server ? source_limits : target_limits).throttle_query =
      t.throttle_query;
  target_limits.throttle_query_max = source_limits.throttle_query_max = t.throttle_query_max;
  std::vector<std::string> target_tables = scope.target_tables;
  if (same_database) {
    for (const auto& name : scope.source_tables) {
      if (std::find(target_tables.begin(), target_tables.end(), name) == target_tables.end()) {
        target_tables.push_back(name);
      }
    }
  }
  if (same_server && t.throttle_query_on == "source" && !t.throttle_query.empty() &&
      !same_database) {
    // One probe per server: it runs where the target is, so the query must not need the
    // source's database.
    target_limits.throttle_query = t.throttle_query;
  }
  setup.probes.push_back(std::make_unique<pg::PgLoadProbe>(
      o.target, same_server ? "server" : "target", target_tables, target_limits, o.sessions));
  if (!same_server) {
    setup.probes.push_back(std::make_unique<pg::PgLoadProbe>(
        o.source, "source", scope.source_tables, source_limits, o.sessions));
  }
  return setup;
}

Result<std::unique_ptr<JobThrottle>> JobThrottle::start(ThrottleSetup setup,
                                                        const std::string& state_dsn,
                                                        const std::string& job) {
  std::unique_ptr<JobThrottle> t(new JobThrottle(setup.options));
  BACKFILL_ASSIGN_OR_RETURN(t->control_, pg::PgJobControl::connect(state_dsn, job, setup.sessions));
  pg::PgJobControl* control = t->control_.get();
  t->monitor_ = std::make_unique<ThrottleMonitor>(
      t->throttle_, std::move(setup.probes), setup.monitor,
      [control](const ThrottleSnapshot& s) -> std::optional<RuntimeControl> {
        auto c = control->heartbeat(s);
        if (!c.ok()) return std::nullopt;  // keep the last control
        return c.value();
      });
  t->monitor_->start();
  return t;
}

JobThrottle::~JobThrottle() {
  if (monitor_) monitor_->stop();
}

ThrottleSnapshot JobThrottle::finish(const std::string& outcome) {
  monitor_->stop();
  ThrottleSnapshot s = throttle_.snapshot();
  (void)control_->heartbeat(s, outcome);
  return s;
}

Status MemberThrottle::start(const SetMember* member, std::optional<ThrottleSetup> setup,
                             const std::string& state_dsn, const std::string& job,
                             std::int64_t chunk_rows, ChunkJobOptions* jo) {
  if (member) {
    view_ = std::make_unique<TableThrottle>(*member->throttle, chunk_rows);
    jo->throttle = view_.get();
    return Status::ok();
  }
  BACKFILL_ASSIGN_OR_RETURN(own_, JobThrottle::start(std::move(*setup), state_dsn, job));
  jo->throttle = own_->get();
  return Status::ok();
}

ThrottleSnapshot MemberThrottle::finish(const std::string& outcome) {
  return own_ ? own_->finish(outcome) : view_->snapshot();
}

}  // namespace backfill::cli
