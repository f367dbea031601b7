// PostgreSQL's LoadProbe: the load signals of one server, sampled on a connection of its own
// (application_name "backfill probe"):
//   active backends     client sessions running a statement, other than backfill's own,
//                       averaged over the last second (a load average: one sample
//                       catches a session mid-statement or not, by chance)
//   replication lag     of the standbys as the primary sees them (replay_lag), and in bytes
//   WAL rate            MB/s of WAL written since the previous sample
//   autovacuum          vacuums in progress on the tables we touch (shown, not a limit: a
//                       big copy sets off autovacuum on its own target)
//   lock waiters        sessions waiting on a lock that a backfill session holds, or on a
//                       table we touch
//   probe latency       the 90th percentile of the last two seconds' `SELECT 1` round trips
//                       (three per sample), as a multiple of the median of 15 taken before
//                       the job starts (floored at 0.5 ms, so microsecond noise is not load).
//                       A queueing server shows in the tail of round trips long before
//                       their median moves. With no other
//                       session active in the last second it limits nothing: a slow server
//                       hurts only those who use it, and the latency is then ours alone.
//   throttle query      the user's SQL returning one number, when given for this server
// A sample that fails leaves its signals unreadable (the controller fails closed after a
// few seconds) and reconnects on the next sample.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "drivers/postgres/connection.hpp"
#include "engine/throttle/throttle.hpp"

namespace backfill::pg {

struct ProbeLimits {
  double max_active = 32;
  double max_lag_seconds = 5;
  double max_wal_mb_per_second = 0;  // 0: no limit
  double max_latency_factor = 3;
  double critical_factor = 4;  // critical level = limit x this
  std::string throttle_query;  // empty: none on this server
  double throttle_query_max = 0;
};

class PgLoadProbe final : public LoadProbe {
 public:
  // `where` names the server in readings ("source", "target"); `tables` are the qualified,
  // quoted names of the tables the job touches on it; `pool`, where its session comes from
  // and goes back to (none: its own).
  PgLoadProbe(std::string dsn, std::string where, std::vector<std::string> tables,
              ProbeLimits limits, std::shared_ptr<SessionPool> pool = nullptr);
  void sample(std::vector<Reading>* out) override;

 private:
  Reading reading(const std::string& signal, std::optional<double> value, double limit,
                  const std::string& unit, double critical = kNoLimit) const;
  Status ensure_connected();

  std::string dsn_, where_, tables_;
  std::string table_oids_;  // tables_ resolved on the probe's session
  ProbeLimits limits_;
  std::shared_ptr<SessionPool> pool_;
  std::unique_ptr<PgConnection> conn_;
  std::optional<double> last_wal_bytes_;
  Clock::time_point last_wal_at_;
  double baseline_seconds_ = 0;  // 0: not learned yet
  std::deque<std::pair<Clock::time_point, double>> recent_latency_, recent_active_;
};

}  // namespace backfill::pg
