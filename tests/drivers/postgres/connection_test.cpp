#include "drivers/postgres/connection.hpp"

#include <gtest/gtest.h>

#include "engine/format/copy_format.hpp"
#include "tests/support/pg_fixture.hpp"

namespace backfill::pg {
namespace {

using backfill::testing::TestDatabase;

TEST(PgConnection, AnUnreachableServerIsAPreflightError) {
  auto c = PgConnection::connect("host=/nonexistent port=1 dbname=x password=s3cret", {}, true);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(c.status().message().find("s3cret"), std::string::npos);
}

TEST(PgConnection, PinsTheSessionFormats) {
  TestDatabase db;
  EXPECT_EQ(db.value("SHOW TimeZone"), "UTC");
  EXPECT_EQ(db.value("SHOW DateStyle"), "ISO, YMD");
  EXPECT_EQ(db.value("SELECT '2024-03-01 12:00:00+02'::timestamptz::text"),
            "2024-03-01 10:00:00+00");
}

TEST(PgConnection, ATerminatedBackendIsTransientAndReconnectRecovers) {
  TestDatabase db;
  auto c = PgConnection::connect(db.dsn(), {});
  ASSERT_TRUE(c.ok());
  db.exec("SELECT pg_terminate_backend(" + std::to_string((*c)->backend_pid()) + ")");
  auto r = (*c)->query("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kTransient) << r.status().message();
  ASSERT_TRUE((*c)->reconnect().is_ok());
  EXPECT_TRUE((*c)->query("SELECT 1").ok());
}

// The tables of a set open their sessions from one pool: a closed session is handed to the
// next connect with the same DSN and settings, reset to what a new one is.
TEST(SessionPool, AClosedSessionIsReusedResetAndOnlyForTheSameSettings) {
  TestDatabase db;
  SessionSettings s;
  s.pool = std::make_shared<SessionPool>();
  int pid = 0;
  {
    auto c = PgConnection::connect(db.dsn(), s);
    ASSERT_TRUE(c.ok());
    pid = (*c)->backend_pid();
    // What a table's job leaves in its session: a staging table, a setting, a session
    // advisory lock, and a statement it prepared.
    ASSERT_TRUE((*c)->exec("CREATE TEMP TABLE backfill_stage (x int)").is_ok());
    ASSERT_TRUE((*c)->exec("SET work_mem = '77MB'").is_ok());
    ASSERT_TRUE((*c)->exec("SELECT pg_advisory_lock(77)").is_ok());
    auto prepared = (*c)->query_cached("SELECT $1::int + 1", {"41"});
    ASSERT_TRUE(prepared.ok());
    EXPECT_EQ(prepared.value().text(0, 0), "42");
  }
  auto again = PgConnection::connect(db.dsn(), s);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->backend_pid(), pid);
  EXPECT_EQ(s.pool->reused(), 1);
  auto stage = (*again)->query("SELECT to_regclass('pg_temp.backfill_stage') IS NULL");
  ASSERT_TRUE(stage.ok());
  EXPECT_EQ(stage.value().text(0, 0), "t");
  auto mem = (*again)->query("SHOW work_mem");
  ASSERT_TRUE(mem.ok());
  EXPECT_NE(mem.value().text(0, 0), "77MB");
  auto tz = (*again)->query("SHOW TimeZone");  // our settings, applied again
  ASSERT_TRUE(tz.ok());
  EXPECT_EQ(tz.value().text(0, 0), "UTC");
  EXPECT_EQ(db.value("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 77"),
            "0");
  // The statement stays prepared, planned once for the session's next users.
  auto statements = (*again)->query("SELECT count(*) FROM pg_prepared_statements");
  ASSERT_TRUE(statements.ok());
  EXPECT_EQ(statements.value().text(0, 0), "1");
  auto reused = (*again)->query_cached("SELECT $1::int + 1", {"1"});
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(reused.value().text(0, 0), "2");
  statements = (*again)->query("SELECT count(*) FROM pg_prepared_statements");
  ASSERT_TRUE(statements.ok());
  EXPECT_EQ(statements.value().text(0, 0), "1");

  // Other settings are another session.
  SessionSettings replica = s;
  replica.replica_role = true;
  auto other = PgConnection::connect(db.dsn(), replica);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)->backend_pid(), pid);
  auto role = (*other)->query("SHOW session_replication_role");
  ASSERT_TRUE(role.ok());
  EXPECT_EQ(role.value().text(0, 0), "replica");
}

TEST(SessionPool, ASessionConstantIsReadOncePerSessionAndTravelsWithIt) {
  TestDatabase db;
  SessionSettings s;
  s.pool = std::make_shared<SessionPool>();
  // clock_timestamp() differs from call to call: equal values mean it was not read again.
  const std::string sql = "SELECT clock_timestamp()::text";
  std::string first;
  {
    auto c = PgConnection::connect(db.dsn(), s);
    ASSERT_TRUE(c.ok());
    auto v = (*c)->session_constant(sql);
    ASSERT_TRUE(v.ok());
    first = v.value();
    auto again = (*c)->session_constant(sql);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again.value(), first);
    auto many = (*c)->session_constant("SELECT generate_series(1, 2)::text");
    ASSERT_FALSE(many.ok());
    EXPECT_NE(many.status().message().find("expected one value"), std::string::npos);
  }
  auto pooled = PgConnection::connect(db.dsn(), s);
  ASSERT_TRUE(pooled.ok());
  EXPECT_EQ(s.pool->reused(), 1);
  auto kept = (*pooled)->session_constant(sql);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept.value(), first);
  // A new session is read again.
  ASSERT_TRUE((*pooled)->reconnect().is_ok());
  auto fresh = (*pooled)->session_constant(sql);
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(fresh.value(), first);
}

TEST(SessionPool, ASessionInATransactionOrCutWhileIdleIsNeverHandedOut) {
  TestDatabase db;
  SessionSettings s;
  s.pool = std::make_shared<SessionPool>();
  int in_transaction = 0, cut = 0;
  {
    auto c = PgConnection::connect(db.dsn(), s);
    ASSERT_TRUE(c.ok());
    in_transaction = (*c)->backend_pid();
    ASSERT_TRUE((*c)->exec("BEGIN").is_ok());
  }
  {
    auto c = PgConnection::connect(db.dsn(), s);
    ASSERT_TRUE(c.ok());
    EXPECT_NE((*c)->backend_pid(), in_transaction);  // closed, not pooled
    cut = (*c)->backend_pid();
  }
  db.exec("SELECT pg_terminate_backend(" + std::to_string(cut) + ")");
  ASSERT_TRUE(testing::wait_until([&] {
    return db.value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(cut)) ==
           "0";
  }));
  auto c = PgConnection::connect(db.dsn(), s);
  ASSERT_TRUE(c.ok());
  EXPECT_NE((*c)->backend_pid(), cut);
  EXPECT_TRUE((*c)->query("SELECT 1").ok());
}

TEST(PgConnection, ALockTimeoutIsTransient) {
  TestDatabase db;
  db.exec("CREATE TABLE t (id int)");
  db.exec("BEGIN");
  db.exec("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
  SessionSettings s;
  s.lock_timeout_ms = 50;
  auto c = PgConnection::connect(db.dsn(), s);
  ASSERT_TRUE(c.ok());
  auto r = (*c)->query("SELECT * FROM t");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kTransient);
  EXPECT_EQ(r.status().sqlstate(), "55P03");
  db.exec("ROLLBACK");
}

TEST(PgConnection, AUniqueViolationIsAConflict) {
  TestDatabase db;
  db.exec("CREATE TABLE t (id int primary key)");
  db.exec("INSERT INTO t VALUES (1)");
  Status st = db.conn().exec("INSERT INTO t VALUES (1)");
  EXPECT_EQ(st.kind(), ErrorKind::kConflict);
  EXPECT_NE(st.message().find("(id)=(1)"), std::string::npos);
}

TEST(PgConnection, OnlyOneStatementRunsPerCall) {
  TestDatabase db;
  db.exec("CREATE TABLE t (id int)");
  Status st = db.conn().exec("SELECT 1; DROP TABLE t");
  EXPECT_FALSE(st.is_ok());
  EXPECT_EQ(db.value("SELECT to_regclass('t') IS NOT NULL"), "t");
}

TEST(PgConnection, BinaryCopyOutAndInRoundTrip) {
  TestDatabase db;
  db.exec("CREATE TABLE a (id int, v text)");
  db.exec("CREATE TABLE b (id int, v text)");
  db.exec("INSERT INTO a SELECT i, repeat('x', i) FROM generate_series(1, 500) i");
  db.exec("INSERT INTO a VALUES (0, NULL)");
  std::string bytes;
  ASSERT_TRUE(db.conn().copy_out("COPY a TO STDOUT (FORMAT binary)", &bytes).is_ok());
  EXPECT_EQ(*count_copy_rows(bytes), 501);
  auto n = db.conn().copy_in("COPY b FROM STDIN (FORMAT binary)", bytes);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 501);
  EXPECT_EQ(db.value("SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b) x"), "0");
  EXPECT_EQ(db.value("SELECT count(*) FROM b WHERE v IS NULL"), "1");
}

TEST(PgConnection, ACorruptCopyStreamIsRejectedByTheServer) {
  TestDatabase db;
  db.exec("CREATE TABLE b (id int)");
  std::string bad = "PGCOPY\n\377\r\n";
  bad += std::string("\0", 1);
  bad += "garbage";
  auto n = db.conn().copy_in("COPY b FROM STDIN (FORMAT binary)", bad);
  EXPECT_FALSE(n.ok());
  EXPECT_EQ(db.value("SELECT count(*) FROM b"), "0");
}

}  // namespace
}  // namespace backfill::pg
