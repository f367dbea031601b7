#include "drivers/postgres/load_probe.hpp"

#include <algorithm>
#include <thread>

#include "drivers/postgres/sql.hpp"
#include "engine/util/numbers.hpp"

namespace backfill::pg {
namespace {

// The baseline: this many round trips in the first sample, taken before the job's first
// chunk (the monitor samples once before the job starts), so our own load is not in it.
constexpr int kBaselineProbes = 15;
constexpr double kLatencyFloorSeconds = 0.0005;
constexpr int kLatencyProbesPerSample = 5;
// Round trips taken back to back find a backend that is still running and miss the
// scheduling delays a client that comes back later meets (measured: p90 0.3 ms back to
// back against 1.7 ms spaced 25 ms apart, next to the same copy). So they are spaced.
constexpr auto kLatencyProbeSpacing = std::chrono::milliseconds(25);
constexpr Seconds kWindow{2.0};

// Adds (now, v) to a window of the last kWindow and returns the window's values.
std::vector<double> windowed(std::deque<std::pair<Clock::time_point, double>>* w,
                             Clock::time_point now, double v) {
  w->emplace_back(now, v);
  while (!w->empty() && now - w->front().first > kWindow) w->pop_front();
  std::vector<double> out;
  for (const auto& [t, x] : *w) out.push_back(x);
  return out;
}

// One round trip for the catalog signals. $1: the tables we touch, as oid[] (resolved
// once: names cast to regclass in the probe cost 65 ms a probe for a set of 500 tables).
constexpr const char* kSampleSql = R"(SELECT
  (SELECT count(*) FROM pg_stat_activity
    WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND application_name NOT LIKE 'backfill%'),
  (SELECT coalesce(max(extract(epoch FROM replay_lag)), 0) FROM pg_stat_replication),
  (SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)
     FROM pg_stat_replication WHERE NOT pg_is_in_recovery()),
  pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                       ELSE pg_current_wal_lsn() END, '0/0'),
  (SELECT count(*) FROM pg_stat_progress_vacuum WHERE relid = ANY($1::oid[])),
  (SELECT count(*) FROM pg_stat_activity a
    WHERE a.wait_event_type = 'Lock' AND a.application_name NOT LIKE 'backfill%'
      AND (EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted
                     AND l.relation = ANY($1::oid[]))
           OR EXISTS (SELECT 1 FROM pg_stat_activity b
                       WHERE b.pid = ANY(pg_blocking_pids(a.pid))
                         AND b.application_name LIKE 'backfill%')
           -- A row lock: the waiter waits on the holder's transaction, a lock with no
           -- relation. It counts when both have our table open (the waiter's statement
           -- is on it, the holder wrote to it).
           OR (a.wait_event IN ('transactionid', 'tuple')
               AND EXISTS (SELECT 1 FROM pg_locks w WHERE w.pid = a.pid AND w.granted
                             AND w.relation = ANY($1::oid[])
                             AND w.database = (SELECT oid FROM pg_database
                                                WHERE datname = current_database()))
               AND EXISTS (SELECT 1 FROM pg_locks h
                            WHERE h.pid = ANY(pg_blocking_pids(a.pid)) AND h.granted
                              AND h.mode <> 'AccessShareLock'
                              AND h.relation = ANY($1::oid[])
                              AND h.database = (SELECT oid FROM pg_database
                                                 WHERE datname = current_database()))))),
  (SELECT count(*) FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
      AND application_name NOT LIKE 'backfill%'
      AND (state = 'active' OR state_change > now() - interval '1 second')))";

std::optional<double> as_number(const PgResult& r, int col) {
  if (r.rows() < 1 || r.columns() <= col || r.is_null(0, col)) return std::nullopt;
  return parse_number<double>(r.text(0, col));
}

double or_none(double limit) { return limit > 0 ? limit : kNoLimit; }

}  // namespace

PgLoadProbe::PgLoadProbe(std::string dsn, std::string where, std::vector<std::string> tables,
                         ProbeLimits limits, std::shared_ptr<SessionPool> pool)
    : dsn_(std::move(dsn)),
      where_(std::move(where)),
      tables_(encode_text_array(tables)),
      limits_(std::move(limits)),
      pool_(std::move(pool)) {}

Status PgLoadProbe::ensure_connected() {
  if (conn_ && conn_->healthy()) return Status::ok();
  SessionSettings s;
  s.application_name = "backfill probe";
  s.lock_timeout_ms = 1000;
  s.statement_timeout_ms = 2000;  // a probe that hangs is an unreadable signal, not a hang
  s.pool = pool_;
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn_, s));
  // The session is the probe's only once the oids are read: a probe without them would
  // fail every sample on a session that looks healthy.
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r, conn->query("SELECT coalesce(array_agg(c::oid), '{}')::text FROM "
                              "unnest($1::text[]) t, to_regclass(t) c WHERE c IS NOT NULL",
                              {tables_}));
  table_oids_ = r.text(0, 0);
  conn_ = std::move(conn);
  return Status::ok();
}

Reading PgLoadProbe::reading(const std::string& signal, std::optional<double> value, double limit,
                             const std::string& unit, double critical) const {
  Reading r;
  r.where = where_;
  r.signal = signal;
  r.value = value;
  r.limit = limit;
  r.critical = critical;
  r.unit = unit;
  return r;
}

void PgLoadProbe::sample(std::vector<Reading>* out) {
  const double f = limits_.critical_factor;
  const double active_max = or_none(limits_.max_active);
  const double lag_max = or_none(limits_.max_lag_seconds);
  const double wal_max = or_none(limits_.max_wal_mb_per_second);
  const double latency_max = or_none(limits_.max_latency_factor);
  std::vector<Reading> got{
      reading("active backends", std::nullopt, active_max, "", active_max * f),
      reading("replication lag", std::nullopt, lag_max, " s", lag_max * f),
      reading("replication lag bytes", std::nullopt, kNoLimit, " B"),
      reading("WAL rate", std::nullopt, wal_max, " MB/s", wal_max * f),
      reading("autovacuum", std::nullopt, kNoLimit, ""),
      reading("lock waiters", std::nullopt, 0, ""),
      reading("probe latency", std::nullopt, latency_max, "x", latency_max * f)};
  if (!limits_.throttle_query.empty()) {
    // Over its maximum it holds the job, as gh-ost's --throttle-query does.
    got.push_back(reading("throttle query", std::nullopt, limits_.throttle_query_max, "",
                          limits_.throttle_query_max));
  }
  auto fail_all = [&](const Status& st) {
    for (auto& r : got) {
      if (r.value) continue;
      r.error = st.message();
      r.server_lost = st.server_lost();
    }
  };
  Status st = ensure_connected();
  if (st.is_ok()) {
    std::vector<double> latencies;
    Status probe;
    const int probes = baseline_seconds_ > 0 ? kLatencyProbesPerSample : kBaselineProbes;
    for (int i = 0; i < probes && probe.is_ok(); ++i) {
      // The baseline's round trips are taken back to back: the job has not started, there
      // is no queue to catch, and the job waits for them.
      if (i > 0 && baseline_seconds_ > 0) std::this_thread::sleep_for(kLatencyProbeSpacing);
      const auto t0 = Clock::steady().now();
      auto one = conn_->query("SELECT 1");
      latencies.push_back(Seconds(Clock::steady().now() - t0).count());
      if (!one.ok()) probe = one.status();
    }
    auto r =
        probe.is_ok() ? conn_->query_cached(kSampleSql, {table_oids_}) : Result<PgResult>(probe);
    if (r.ok()) {
      const PgResult& res = r.value();
      const auto now = Clock::steady().now();
      if (auto active = as_number(res, 0)) {
        auto w = windowed(&recent_active_, now, *active);
        double sum = 0;
        for (double x : w) sum += x;
        got[0].value = sum / static_cast<double>(w.size());
      }
      got[1].value = as_number(res, 1);
      got[2].value = as_number(res, 2);
      if (auto wal = as_number(res, 3)) {
        const double dt = Seconds(now - last_wal_at_).count();
        got[3].value = last_wal_bytes_ && dt > 0 ? (*wal - *last_wal_bytes_) / dt / 1e6 : 0.0;
        last_wal_bytes_ = wal;
        last_wal_at_ = now;
      }
      got[4].value = as_number(res, 4);
      got[5].value = as_number(res, 5);
      if (baseline_seconds_ == 0) {
        std::vector<double> sorted = latencies;
        std::sort(sorted.begin(), sorted.end());
        baseline_seconds_ = std::max(kLatencyFloorSeconds, sorted[sorted.size() / 2]);
      }
      // The 90th percentile of the window's round trips: 24 of them in two seconds.
      for (std::size_t i = 0; i + 1 < latencies.size(); ++i)
        recent_latency_.emplace_back(now, latencies[i]);
      std::vector<double> w = windowed(&recent_latency_, now, latencies.back());
      std::sort(w.begin(), w.end());
      got[6].value = w[w.size() * 9 / 10] / baseline_seconds_;
      // A slow server hurts only those who use it: with no other session active in the
      // last second, the latency is ours alone and limits nothing.
      if (as_number(res, 6).value_or(1) == 0) {
        got[6].signal = "probe latency (no other sessions)";
        got[6].limit = got[6].critical = kNoLimit;
      }
    } else {
      st = r.status();
    }
    if (st.is_ok() && !limits_.throttle_query.empty()) {
      auto q = conn_->query(limits_.throttle_query);
      if (!q.ok()) {
        got[7].error = "throttle query failed: " + q.status().message();
      } else if (auto v = as_number(q.value(), 0)) {
        got[7].value = v;
      } else {
        got[7].error = "throttle query returned no number";
      }
    }
  }
  if (!st.is_ok()) {
    fail_all(st);
    conn_.reset();  // reconnect on the next sample
  }
  for (auto& r : got) out->push_back(std::move(r));
}

}  // namespace backfill::pg
