// The load probe against a real PostgreSQL: what it reads for sessions waiting on our table,
// for other sessions running statements, for a throttle query, and for a server it cannot
// reach.
#include "drivers/postgres/load_probe.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "tests/support/pg_fixture.hpp"

namespace backfill::pg {
namespace {

using backfill::testing::TestDatabase;
using backfill::testing::wait_until;

// Another application's session that runs one statement in the background.
class AppSession {
 public:
  AppSession(const std::string& dsn, const std::string& sql) {
    conn_ = PQconnectdb((dsn + " application_name=app").c_str());
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
    EXPECT_EQ(PQsendQuery(conn_, sql.c_str()), 1) << PQerrorMessage(conn_);
  }
  ~AppSession() {
    PQrequestCancel(conn_);
    while (PGresult* r = PQgetResult(conn_)) PQclear(r);
    PQfinish(conn_);
  }

 private:
  PGconn* conn_ = nullptr;
};

std::optional<double> value_of(const std::vector<Reading>& readings, const std::string& signal) {
  for (const auto& r : readings) {
    if (r.signal == signal) return r.value;
  }
  return std::nullopt;
}

std::vector<Reading> sample(PgLoadProbe& probe) {
  std::vector<Reading> out;
  probe.sample(&out);
  return out;
}

TEST(PgLoadProbe, CountsSessionsWaitingOnATableWeTouch) {
  TestDatabase db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY)");
  PgLoadProbe probe(db.dsn(), "target", {"\"public\".\"t\""}, ProbeLimits{});
  EXPECT_EQ(value_of(sample(probe), "lock waiters"), 0.0);
  auto locker = PgConnection::connect(db.dsn(), {});
  ASSERT_TRUE(locker.ok());
  ASSERT_TRUE((*locker)->exec("BEGIN").is_ok());
  ASSERT_TRUE((*locker)->exec("LOCK TABLE t IN ACCESS EXCLUSIVE MODE").is_ok());
  AppSession waiting(db.dsn(), "SELECT count(*) FROM t");
  std::vector<Reading> got;
  EXPECT_TRUE(wait_until([&] { return value_of(got = sample(probe), "lock waiters") == 1.0; }));
  for (const auto& r : got) {
    if (r.signal == "lock waiters") {
      EXPECT_TRUE(r.over_limit());  // any waiter is over the limit
      EXPECT_EQ(r.where, "target");
    }
  }
  ASSERT_TRUE((*locker)->exec("COMMIT").is_ok());
}

// A row lock: another application holds a row of our table, and a third session's update
// of that row waits on the holder's transaction (a lock with no relation). Our table's
// queue is growing: it counts.
TEST(PgLoadProbe, CountsSessionsWaitingOnARowOfATableWeTouch) {
  TestDatabase db;
  db.exec("CREATE TABLE t (id int PRIMARY KEY, v int)");
  db.exec("INSERT INTO t VALUES (1, 0), (2, 0)");
  db.exec("CREATE TABLE other (id int PRIMARY KEY, v int)");
  db.exec("INSERT INTO other VALUES (1, 0)");
  PgLoadProbe probe(db.dsn(), "target", {"\"public\".\"t\""}, ProbeLimits{});
  PGconn* holder = PQconnectdb((db.dsn() + " application_name=app").c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK) << PQerrorMessage(holder);
  for (const char* sql :
       {"BEGIN", "UPDATE t SET v = 1 WHERE id = 1", "UPDATE other SET v = 1 WHERE id = 1"}) {
    PGresult* r = PQexec(holder, sql);
    EXPECT_EQ(PQresultStatus(r), PGRES_COMMAND_OK) << PQerrorMessage(holder);
    PQclear(r);
  }
  {
    // A row of another table is not our queue.
    AppSession elsewhere(db.dsn(), "UPDATE other SET v = 2 WHERE id = 1");
    ASSERT_TRUE(wait_until([&] {
      return db.value(
                 "SELECT count(*) FROM pg_stat_activity WHERE wait_event = "
                 "'transactionid' AND datname = current_database()") == "1";
    }));
    EXPECT_EQ(value_of(sample(probe), "lock waiters"), 0.0);
  }
  AppSession waiting(db.dsn(), "UPDATE t SET v = 2 WHERE id = 1");
  std::vector<Reading> got;
  EXPECT_TRUE(wait_until([&] { return value_of(got = sample(probe), "lock waiters") == 1.0; }))
      << value_of(got, "lock waiters").value_or(-1);
  PQfinish(holder);
}

TEST(PgLoadProbe, SeesOtherSessionsRunningAndReadsTheThrottleQuery) {
  TestDatabase db;
  db.exec("CREATE TABLE knob (v numeric)");
  db.exec("INSERT INTO knob VALUES (2.5)");
  ProbeLimits limits;
  limits.throttle_query = "SELECT v FROM knob";
  limits.throttle_query_max = 1;
  PgLoadProbe probe(db.dsn(), "source", {}, limits);
  // The cluster is shared with other tests, so other sessions may run at any moment: what
  // is asserted holds whatever they do.
  auto first = sample(probe);
  EXPECT_EQ(value_of(first, "throttle query"), 2.5);
  for (const auto& r : first) {
    if (r.signal == "throttle query") {
      EXPECT_TRUE(r.over_critical());  // it holds the job
    }
  }
  AppSession busy(db.dsn(), "SELECT pg_sleep(30)");
  std::vector<Reading> got;
  EXPECT_TRUE(wait_until([&] {
    auto v = value_of(got = sample(probe), "active backends");
    return v && *v > 0;
  }));
  // Another session is active: the latency counts (named without "no other sessions").
  EXPECT_TRUE(value_of(got, "probe latency").has_value());
  EXPECT_GE(*value_of(got, "WAL rate"), 0.0);
  EXPECT_EQ(value_of(got, "replication lag"), 0.0);  // no standbys
}

TEST(PgLoadProbe, AServerItCannotReachLeavesEverySignalUnreadableWithTheReason) {
  PgLoadProbe probe("host=/nonexistent port=1 user=postgres connect_timeout=1", "source", {},
                    ProbeLimits{});
  auto got = sample(probe);
  ASSERT_FALSE(got.empty());
  for (const auto& r : got) {
    EXPECT_FALSE(r.value.has_value()) << r.signal;
    EXPECT_NE(r.error.find("cannot connect"), std::string::npos) << r.error;
  }
}

}  // namespace
}  // namespace backfill::pg
