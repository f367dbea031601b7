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
