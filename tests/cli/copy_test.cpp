// backfill copy against a real PostgreSQL: columns, keys, filters and conflict policies.
#include <gtest/gtest.h>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

TEST(Copy, CopiesIntoAnotherDatabaseWithRenamedColumnsAndReports) {
  SourceAndTarget db;
  db.src.exec(
      "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, first_name text, "
      "created_at timestamptz, balance numeric(12,2), prefs jsonb)");
  db.src.exec(
      "INSERT INTO users SELECT i, 'u' || i || '@example.com', 'F' || i, '2024-01-01'::timestamptz "
      "+ i * interval '1 second', i * 1.25, jsonb_build_object('i', i) FROM generate_series(1, "
      "25000) i");
  db.src.exec("ANALYZE users");
  db.dst.exec(
      "CREATE TABLE users (id bigint PRIMARY KEY, email_address text NOT NULL, given_name text, "
      "created_at timestamptz, balance numeric(14,2), prefs jsonb)");
  std::string report = temp_path("copy_report.json");
  auto r = run_backfill(
      db.copy("users", {"--map", "email_address = email", "--map", "given_name=first_name",
                        "--chunk-rows", "1000", "--jobs", "3", "--report", report}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  db.expect_same(
      "SELECT id, email, first_name, created_at, balance, prefs FROM users ORDER BY id",
      "SELECT id, email_address, given_name, created_at, balance, prefs FROM users ORDER BY id");
  std::string json = read_text(report);
  EXPECT_NE(json.find("\"command\": \"copy\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"status\": \"ok\""), std::string::npos);
  EXPECT_NE(json.find("\"rows\": 25000"), std::string::npos);
  EXPECT_NE(json.find("\"chunks\": 26"), std::string::npos);
  EXPECT_NE(json.find("\"rows_per_second\""), std::string::npos);
  EXPECT_NE(json.find("\"retries\": 0"), std::string::npos);
  EXPECT_NE(json.find("\"job\": \"copy:public.users:public.users\""), std::string::npos);
  // Every chunk is recorded, with its rows, in the ledger in the target database.
  EXPECT_EQ(db.dst.value("SELECT sum(rows) FROM backfill.chunks WHERE status = 'done'"), "25000");
  EXPECT_EQ(db.dst.value("SELECT status FROM backfill.jobs"), "done");
}

// One lane by default into a table whose btree index leads with the key: the chunks arrive
// in key order at the index's right edge, which PostgreSQL fills to its fillfactor, so
// the primary key is as compact as one built afresh. Lanes writing at once split pages
// 50:50 below each other's keys.
TEST(Copy, IntoAKeyOrderedIndexOneLaneLeavesItAsCompactAsAFreshBuild) {
  SourceAndTarget db;
  const char* ddl = "CREATE TABLE t (id bigint PRIMARY KEY, v text)";
  db.src.exec(ddl);
  db.dst.exec(ddl);
  db.src.exec("INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, 300000) i");
  db.src.exec("ANALYZE t");
  std::string report = temp_path("lanes_report.json");
  auto r = run_backfill(db.copy("t", {"--chunk-rows", "20000", "--report", report}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(", 1 lane,"), std::string::npos) << r.err;
  EXPECT_NE(read_text(report).find("\"jobs\": 1"), std::string::npos);
  const std::string copied = db.dst.value("SELECT pg_relation_size('t_pkey')");
  db.dst.exec("REINDEX INDEX t_pkey");
  const std::string rebuilt = db.dst.value("SELECT pg_relation_size('t_pkey')");
  // Within a few pages: the right edge is filled to 90%, as CREATE INDEX fills it.
  EXPECT_LE(std::stoll(copied), std::stoll(rebuilt) * 102 / 100) << copied << " vs " << rebuilt;

  // --jobs decides when given, and three lanes at once leave the index larger.
  db.dst.exec("TRUNCATE t");
  db.dst.exec("DROP SCHEMA backfill CASCADE");
  auto three = run_backfill(db.copy("t", {"--chunk-rows", "20000", "--jobs", "3"}));
  ASSERT_EQ(three.exit_code, 0) << three.err;
  EXPECT_NE(three.err.find(", 3 lanes,"), std::string::npos) << three.err;
  db.expect_same("SELECT * FROM t ORDER BY id", "SELECT * FROM t ORDER BY id");
  EXPECT_GT(std::stoll(db.dst.value("SELECT pg_relation_size('t_pkey')")),
            std::stoll(rebuilt) * 110 / 100);
}

TEST(Copy, SecondRunFindsTheJobDoneAndWritesNothing) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  db.src.exec("INSERT INTO t SELECT i, 'v' FROM generate_series(1, 100) i");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  ASSERT_EQ(run_backfill(db.copy("t")).exit_code, 0);
  auto again = run_backfill(db.copy("t"));
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already done"), std::string::npos) << again.out;
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM t"), "100");
}

TEST(Copy, CompositeKeysAreChunkedAtRowBoundaries) {
  SourceAndTarget db;
  const char* ddl = "CREATE TABLE t (tenant int, code text, n int, PRIMARY KEY (tenant, code))";
  db.src.exec(ddl);
  db.dst.exec(ddl);
  db.src.exec("INSERT INTO t SELECT i % 7, 'c' || i, i FROM generate_series(1, 3000) i");
  auto r = run_backfill(db.copy("t", {"--chunk-rows", "13", "--jobs", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  db.expect_same("SELECT * FROM t ORDER BY tenant, code", "SELECT * FROM t ORDER BY tenant, code");
  // Full chunks hold exactly 13 rows: boundaries fall between rows, not between tenants.
  EXPECT_EQ(
      db.dst.value("SELECT count(*) FROM backfill.chunks WHERE rows <> 13 AND hi IS NOT NULL"),
      "0");
}

TEST(Copy, TextKeysWithMixedCaseAndNonAscii) {
  SourceAndTarget db;
  const char* ddl = "CREATE TABLE t (k text PRIMARY KEY, v int)";
  db.src.exec(ddl);
  db.dst.exec(ddl);
  db.src.exec(
      "INSERT INTO t VALUES ('apple',1),('Apple',2),('APPLE',3),('Äpfel',4),('ß',5),('日本',6),"
      "('',7),(' space',8),('z',9),('Zebra',10),('émile',11),('e\\u0301mile',12),('a''quote',13),"
      "('back\\slash',14),('{brace}',15),('\"dq\"',16),('NULL',17),('a,b',18)");
  auto r = run_backfill(db.copy("t", {"--chunk-rows", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  db.expect_same("SELECT * FROM t ORDER BY k", "SELECT * FROM t ORDER BY k");
}

struct KeyCase {
  const char* type;
  const char* values;  // SQL producing 500 distinct values of the type from i
};

class CopyKeyTypes : public ::testing::TestWithParam<KeyCase> {};

TEST_P(CopyKeyTypes, ChunksAndCopiesEveryRow) {
  SourceAndTarget db;
  std::string ddl = std::string("CREATE TABLE t (k ") + GetParam().type + " PRIMARY KEY, i int)";
  db.src.exec(ddl);
  db.dst.exec(ddl);
  db.src.exec(std::string("INSERT INTO t SELECT ") + GetParam().values +
              ", i FROM generate_series(1, 500) i");
  auto r = run_backfill(db.copy("t", {"--chunk-rows", "37"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  db.expect_same("SELECT * FROM t ORDER BY k", "SELECT * FROM t ORDER BY k");
  // 13 chunks of 37 rows, then the open end with the last 19.
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM backfill.chunks"), "14");
}

INSTANTIATE_TEST_SUITE_P(
    Types, CopyKeyTypes,
    ::testing::Values(
        KeyCase{"smallint", "(i * 7 - 2000)::smallint"},
        KeyCase{"integer", "i * 1000003 % 2000000011 - 1000000000"},
        KeyCase{"bigint", "i::bigint * 1000000000000"},
        KeyCase{"numeric", "(i * 1.5 - 300)::numeric(10,3)"}, KeyCase{"varchar(20)", "'k' || i"},
        KeyCase{"uuid", "md5(i::text)::uuid"}, KeyCase{"date", "'1999-12-25'::date + i * 3"},
        KeyCase{"timestamp", "'2020-02-28 23:59:59.5'::timestamp + i * interval '77 minutes'"},
        KeyCase{
            "timestamptz",
            "'2020-02-28 23:59:59.123456+05'::timestamptz + i * interval '1 hour 1 microsecond'"}),
    [](const auto& p) {
      std::string n = p.param.type;
      return n.substr(0, n.find('('));
    });

TEST(Copy, KeyGapsEmptyAndOneRowTables) {
  SourceAndTarget db;
  for (const char* t : {"gaps", "empty", "one"}) {
    std::string ddl = std::string("CREATE TABLE ") + t + " (id bigint PRIMARY KEY, v text)";
    db.src.exec(ddl);
    db.dst.exec(ddl);
  }
  db.src.exec("INSERT INTO gaps SELECT i * i * i, 'v' FROM generate_series(1, 300) i");
  db.src.exec("INSERT INTO one VALUES (42, 'only')");
  for (const char* t : {"gaps", "empty", "one"}) {
    auto r = run_backfill(db.copy(t, {"--chunk-rows", "10"}));
    ASSERT_EQ(r.exit_code, 0) << t << ": " << r.err;
    db.expect_same(std::string("SELECT * FROM ") + t + " ORDER BY id",
                   std::string("SELECT * FROM ") + t + " ORDER BY id");
  }
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM gaps"), "300");
  EXPECT_EQ(db.dst.value("SELECT v FROM one"), "only");
}

TEST(Copy, WhereFiltersTheSourceAndColumnsNarrowTheTarget) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, kind text, a text, b text)");
  db.src.exec(
      "INSERT INTO t SELECT i, CASE WHEN i % 3 = 0 THEN 'x' ELSE 'y' END, 'a' || i, 'b' || i FROM "
      "generate_series(1, 900) i");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY, kind text, a text, b text DEFAULT 'unset')");
  auto r = run_backfill(db.copy("t", {"--where", "kind = 'x' AND id > 30", "--columns",
                                      "id, kind, a", "--chunk-rows", "50"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  db.expect_same("SELECT id, kind, a, 'unset' FROM t WHERE kind = 'x' AND id > 30 ORDER BY id",
                 "SELECT id, kind, a, b FROM t ORDER BY id");
}

TEST(Copy, SchemaQualifiedAndQuotedNamesInOneDatabase) {
  TestDatabase db;
  db.exec("CREATE SCHEMA \"Old\"");
  db.exec("CREATE SCHEMA new");
  db.exec("CREATE TABLE \"Old\".\"Users\" (\"Id\" int PRIMARY KEY, \"E-mail\" text)");
  db.exec("CREATE TABLE new.users (\"Id\" int PRIMARY KEY, email text)");
  db.exec("INSERT INTO \"Old\".\"Users\" SELECT i, 'e' || i FROM generate_series(1, 77) i");
  auto r = run_backfill({"copy", "--source", db.dsn(), "--target", db.dsn(), "--table",
                         "\"Old\".\"Users\"", "--to", "new.users", "--map", "email = \"E-mail\"",
                         "--chunk-rows", "10", "--progress", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(
      db.value("SELECT count(*) FROM (SELECT \"Id\", \"E-mail\" FROM \"Old\".\"Users\" EXCEPT "
               "SELECT \"Id\", email FROM new.users) x"),
      "0");
  EXPECT_EQ(db.value("SELECT count(*) FROM new.users"), "77");
}

// Conflict policies: the target already holds rows 1..10, written by "dual writes", with
// version 5 and value 'app'; the source has rows 1..100 with version = id % 10.
struct ConflictFixture {
  ConflictFixture() {
    const char* ddl = "CREATE TABLE t (id int PRIMARY KEY, version int, v text)";
    db.src.exec(ddl);
    db.dst.exec(ddl);
    db.src.exec("INSERT INTO t SELECT i, i % 10, 'src' FROM generate_series(1, 100) i");
    db.dst.exec("INSERT INTO t SELECT i, 5, 'app' FROM generate_series(1, 10) i");
  }
  SourceAndTarget db;
};

TEST(CopyConflicts, ErrorStopsAtTheFirstExistingRowWithExit3) {
  ConflictFixture f;
  auto r = run_backfill(f.db.copy("t", {"--chunk-rows", "20"}));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("duplicate key"), std::string::npos) << r.err;
  EXPECT_EQ(f.db.dst.value("SELECT count(*) FROM t WHERE v = 'app'"), "10");
}

TEST(CopyConflicts, SkipKeepsWhatTheTargetHas) {
  ConflictFixture f;
  std::string report = temp_path("skip.json");
  auto r = run_backfill(
      f.db.copy("t", {"--on-conflict", "skip", "--chunk-rows", "20", "--report", report}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(f.db.dst.value("SELECT count(*) FROM t"), "100");
  EXPECT_EQ(f.db.dst.value("SELECT count(*) FROM t WHERE v = 'app'"), "10");
  EXPECT_NE(read_text(report).find("\"rows_written\": 90"), std::string::npos) << read_text(report);
}

TEST(CopyConflicts, OverwriteMakesTheTargetEqualTheSource) {
  ConflictFixture f;
  auto r = run_backfill(f.db.copy("t", {"--on-conflict", "overwrite", "--chunk-rows", "20"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  f.db.expect_same("SELECT * FROM t ORDER BY id", "SELECT * FROM t ORDER BY id");
}

TEST(CopyConflicts, NewerKeepsTheRowWithTheHigherVersion) {
  ConflictFixture f;
  auto r = run_backfill(f.db.copy("t", {"--on-conflict", "newer:version", "--chunk-rows", "20"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Rows 1..10: the source's version is id % 10; it wins where that is above 5 (6..9).
  EXPECT_EQ(f.db.dst.value("SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE v = 'app'"),
            "1,2,3,4,5,10");
  EXPECT_EQ(f.db.dst.value("SELECT count(*) FROM t WHERE v = 'src'"), "94");
}

// NULL versions, as the README states: a set version beats a NULL one, a NULL one never
// replaces anything, and two NULLs keep the target's row.
TEST(CopyConflicts, NewerWithNullVersions) {
  ConflictFixture f;
  f.db.src.exec("UPDATE t SET version = NULL WHERE id IN (2, 3)");
  f.db.dst.exec("UPDATE t SET version = NULL WHERE id IN (1, 3)");
  auto r = run_backfill(f.db.copy("t", {"--on-conflict", "newer:version", "--chunk-rows", "20"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 1: source 1 against target NULL: the source wins. 2: source NULL against 5: the target
  // stays. 3: NULL against NULL: the target stays.
  EXPECT_EQ(f.db.dst.value("SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM t WHERE id "
                           "<= 3"),
            "1=src,2=app,3=app");
}

TEST(CopyConflicts, SkipWithTheLedgerInAnotherDatabase) {
  ConflictFixture f;
  TestDatabase state("state");
  auto r = run_backfill(
      f.db.copy("t", {"--on-conflict", "skip", "--state", state.dsn(), "--chunk-rows", "30"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(f.db.dst.value("SELECT count(*) FROM t"), "100");
  EXPECT_FALSE(f.db.ledger_exists());
  EXPECT_EQ(state.value("SELECT sum(rows) FROM backfill.chunks"), "100");
}

TEST(Plan, ShowsKeyChunksAndSqlAndWritesNothing) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  db.src.exec("INSERT INTO t SELECT i, 'v' FROM generate_series(1, 1000) i");
  db.src.exec("ANALYZE t");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  auto args = db.copy("t", {"--chunk-rows", "100"});
  args[0] = "plan";
  auto r = run_backfill(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("key:         (\"id\")"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("~1,000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1: (start, (100)]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("COPY (SELECT"), std::string::npos);
  EXPECT_FALSE(db.ledger_exists());
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM t"), "0");
}

TEST(Status, ListsJobsWithTheirProgress) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.src.exec("INSERT INTO t SELECT generate_series(1, 250)");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY)");
  ASSERT_EQ(run_backfill(db.copy("t", {"--chunk-rows", "100"})).exit_code, 0);
  auto r = run_backfill({"status", "--state", db.dst.dsn()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("copy:public.t:public.t  [done]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rows 250"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("chunks 3/3 done"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace backfill::testing

namespace backfill::testing {
namespace {

TEST(ConfigFile, AJobFileGivesTheSameResultAsFlagsAndFlagsOverrideIt) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, old_name text)");
  db.src.exec("INSERT INTO t SELECT i, 'n' || i FROM generate_series(1, 300) i");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY, new_name text)");
  std::string file = temp_path("job.toml");
  {
    std::ofstream f(file);
    f << "[copy]\nsource = \"" << db.src.dsn() << "\"\ntarget = \"" << db.dst.dsn()
      << "\"\ntable = \"t\"\nmap = [\"new_name = old_name\"]\nchunk-rows = 100\nprogress = "
         "\"none\"\n";
  }
  std::string report = temp_path("job.json");
  auto r = run_backfill({"--config", file, "copy", "--chunk-rows", "40", "--report", report});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  db.expect_same("SELECT id, old_name FROM t ORDER BY id",
                 "SELECT id, new_name FROM t ORDER BY id");
  EXPECT_NE(read_text(report).find("\"chunk_rows\": 40"), std::string::npos) << read_text(report);
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM backfill.chunks"),
            "8");  // 7 of 40 rows, the open end
}

}  // namespace
}  // namespace backfill::testing
