// backfill verify against a real PostgreSQL: clean tables verify clean in both hash methods,
// and every planted difference is found, named with its kind, and nothing else reported.
#include <gtest/gtest.h>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

const char* kMethods[] = {"push-down", "streamed"};

std::vector<std::string> verify_args(SourceAndTarget& db, const std::string& table,
                                     const char* method, std::vector<std::string> extra = {}) {
  auto a = db.copy(table, {"--method", method});
  a[0] = "verify";
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// The differences a run printed, as "kind key" lines, in order.
std::vector<std::string> listed(const RunResult& r) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while ((pos = r.out.find("\n  ", pos)) != std::string::npos) {
    pos += 3;
    std::size_t end = r.out.find('\n', pos);
    std::string line = r.out.substr(pos, end - pos);
    std::string kind = line.substr(0, line.find(' '));
    std::string key = line.substr(line.rfind(' ') + 1);
    if (kind == "missing" || kind == "extra" || kind == "different")
      out.push_back(kind + " " + key);
  }
  return out;
}

class VerifyTypes : public ::testing::TestWithParam<const char*> {};

TEST_P(VerifyTypes, IdenticalTablesOfEveryTypeVerifyClean) {
  SourceAndTarget db;
  db.load_type_table();
  ASSERT_EQ(run_backfill(db.copy("t", {"--chunk-rows", "2"})).exit_code, 0);
  std::string report = temp_path(std::string("verify_clean_") + GetParam() + ".json");
  auto r =
      run_backfill(verify_args(db, "t", GetParam(), {"--chunk-rows", "2", "--report", report}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("match: 6 rows"), std::string::npos) << r.out;
  std::string json = read_text(report);
  EXPECT_NE(json.find("\"status\": \"ok\""), std::string::npos) << json;
  EXPECT_NE(json.find(std::string("\"method\": \"") + GetParam() + "\""), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"chunks_mismatched\": 0"), std::string::npos) << json;
}

TEST_P(VerifyTypes, EveryPlantedDifferenceIsFoundWithItsKindAndNothingElse) {
  SourceAndTarget db;
  db.load_type_table();
  db.src.exec(
      "INSERT INTO t (id, tx, ai, jb) SELECT i, 't' || i, ARRAY[i, i + 1], jsonb_build_object('k', "
      "i) FROM generate_series(7, 60) i");
  ASSERT_EQ(run_backfill(db.copy("t")).exit_code, 0);
  // One change per row, each in a different type.
  db.dst.exec("UPDATE t SET tx = '' WHERE id = 3");                          // NULL -> empty string
  db.dst.exec("UPDATE t SET ai[2] = 99 WHERE id = 10");                      // an array element
  db.dst.exec("UPDATE t SET jb = jsonb_set(jb, '{k}', '0') WHERE id = 11");  // a jsonb value
  db.dst.exec("UPDATE t SET big = left(big, -1) || 'X' WHERE id = 6");       // TOAST, last byte
  db.dst.exec("UPDATE t SET f8 = 2.2500000000000004 WHERE id = 1");          // one ulp
  db.dst.exec("UPDATE t SET tz = tz + interval '1 microsecond' WHERE id = 1");  // same row again
  db.dst.exec("UPDATE t SET m = 'ok' WHERE id = 2");                            // an enum
  db.dst.exec("UPDATE t SET by = '\\x01' WHERE id = 5");                        // bytea
  db.dst.exec("UPDATE t SET id = 1000 WHERE id = 20");                          // a changed key
  db.dst.exec("DELETE FROM t WHERE id = 30");                                   // missing
  db.dst.exec("INSERT INTO t (id) VALUES (-5)");  // extra, before the first key
  {
    const char* method = GetParam();
    std::string report = temp_path(std::string("verify_diff_") + method + ".json");
    auto r = run_backfill(verify_args(db, "t", method, {"--chunk-rows", "7", "--report", report}));
    ASSERT_EQ(r.exit_code, 1) << method << r.out << r.err;
    EXPECT_EQ(listed(r), (std::vector<std::string>{
                             "extra (id)=(-5)", "different (id)=(1)", "different (id)=(2)",
                             "different (id)=(3)", "different (id)=(5)", "different (id)=(6)",
                             "different (id)=(10)", "different (id)=(11)", "missing (id)=(20)",
                             "missing (id)=(30)", "extra (id)=(1000)"}))
        << method << "\n"
        << r.out;
    std::string json = read_text(report);
    EXPECT_NE(json.find("\"status\": \"differences\""), std::string::npos) << json;
    EXPECT_NE(json.find("\"rows_missing\": 2"), std::string::npos) << json;
    EXPECT_NE(json.find("\"rows_extra\": 2"), std::string::npos) << json;
    EXPECT_NE(json.find("\"rows_different\": 7"), std::string::npos) << json;
    EXPECT_TRUE(report_lists(json, "id", "20", "missing")) << json;
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, VerifyTypes, ::testing::ValuesIn(kMethods), [](const auto& p) {
  return std::string(p.param) == "push-down" ? "PushDown" : "Streamed";
});

TEST(Verify, ValuesEqualByTheirTypeAreNotReported) {
  SourceAndTarget db;
  const char* ddl =
      "CREATE TABLE t (id int PRIMARY KEY, f8 float8, f4 float4, n numeric, nt numeric(8,2))";
  db.src.exec(ddl);
  db.dst.exec(ddl);
  db.src.exec(
      "INSERT INTO t VALUES (1, -0.0, -0.0, 1.0, 1.1), (2, 'NaN', 'NaN', 'NaN', 0), (3, 0, 0, "
      "0.000, -0.001)");
  db.dst.exec(
      "INSERT INTO t VALUES (1, 0.0, 0.0, 1.00, 1.10), (2, 'NaN', 'NaN', 'NaN', 0.00), (3, -0, "
      "-0, 0, 0)");
  for (const char* method : kMethods) {
    auto r = run_backfill(verify_args(db, "t", method));
    EXPECT_EQ(r.exit_code, 0) << method << r.out << r.err;
  }
  db.dst.exec("UPDATE t SET n = 1.01 WHERE id = 1");
  for (const char* method : kMethods) {
    auto r = run_backfill(verify_args(db, "t", method));
    EXPECT_EQ(r.exit_code, 1) << method;
    EXPECT_EQ(listed(r), std::vector<std::string>{"different (id)=(1)"}) << method << r.out;
  }
}

TEST(Verify, ADuplicatedRowInATargetWithoutAUniqueKeyIsExtra) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  db.dst.exec("CREATE TABLE t (id int NOT NULL, v text)");
  db.src.exec("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 50) i");
  db.dst.exec("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 50) i");
  db.dst.exec("INSERT INTO t VALUES (17, 'v17')");
  for (const char* method : kMethods) {
    auto r = run_backfill(verify_args(db, "t", method, {"--chunk-rows", "10"}));
    EXPECT_EQ(r.exit_code, 1) << method;
    EXPECT_EQ(listed(r), std::vector<std::string>{"extra (id)=(17)"}) << method << r.out;
  }
}

TEST(Verify, AfterACopyWithMapsTheSameMapsVerifyCleanAndTamperingIsFound) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE users (id bigint PRIMARY KEY, email text, price numeric(10,2))");
  db.dst.exec(
      "CREATE TABLE users (id bigint PRIMARY KEY, email_address text, price numeric(12,3), extra "
      "text NOT NULL DEFAULT 'x')");
  db.src.exec(
      "INSERT INTO users SELECT i, 'u' || i || '@x', i / 7.0 FROM generate_series(1, 5000) i");
  std::vector<std::string> maps{"--map", "email_address = email", "--chunk-rows", "700"};
  ASSERT_EQ(run_backfill(db.copy("users", maps)).exit_code, 0);
  for (const char* method : kMethods) {
    auto a = verify_args(db, "users", method, maps);
    auto r = run_backfill(a);
    EXPECT_EQ(r.exit_code, 0) << method << r.out << r.err;
  }
  db.dst.exec("UPDATE users SET email_address = upper(email_address) WHERE id = 4321");
  for (const char* method : kMethods) {
    auto r = run_backfill(verify_args(db, "users", method, maps));
    EXPECT_EQ(r.exit_code, 1) << method;
    EXPECT_EQ(listed(r), std::vector<std::string>{"different (id)=(4321)"}) << method << r.out;
  }
}

TEST(Verify, MaxDiffsCapsTheListButNotTheCounts) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.src.exec("INSERT INTO t SELECT generate_series(1, 100)");
  std::string report = temp_path("maxdiffs.json");
  auto r =
      run_backfill(verify_args(db, "t", "push-down", {"--max-diffs", "3", "--report", report}));
  EXPECT_EQ(r.exit_code, 1);
  std::string json = read_text(report);
  EXPECT_NE(json.find("\"rows_missing\": 100"), std::string::npos) << json;
  EXPECT_NE(json.find("\"differences_listed\": 3"), std::string::npos) << json;
  EXPECT_NE(r.out.find("100 differences in all"), std::string::npos) << r.out;
}

TEST(Verify, BadInputIsExit2AndReadsNothing) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  db.dst.exec("CREATE TABLE t (other int PRIMARY KEY, v text)");
  auto r = run_backfill(verify_args(db, "t", "push-down"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("verify needs the key"), std::string::npos) << r.err;
  r = run_backfill(verify_args(db, "nosuch", "push-down"));
  EXPECT_EQ(r.exit_code, 2);
  auto bad = verify_args(db, "t", "sideways");
  EXPECT_EQ(run_backfill(bad).exit_code, 2);
}

TEST(VerifyRepair, RepairsEveryKindOfDifferenceAndTheTablesEndEqual) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, v text, n numeric)");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY, v text, n numeric)");
  db.src.exec("INSERT INTO t SELECT i, 'v' || i, i / 3.0 FROM generate_series(1, 3000) i");
  ASSERT_EQ(run_backfill(db.copy("t")).exit_code, 0);
  db.dst.exec("DELETE FROM t WHERE id IN (5, 2500)");
  db.dst.exec("UPDATE t SET v = NULL WHERE id = 7");
  db.dst.exec("UPDATE t SET n = n + 1 WHERE id = 1999");
  db.dst.exec("INSERT INTO t VALUES (4000, 'stray', 0), (-1, 'stray', 0)");
  std::string report = temp_path("repair.json");
  auto r = run_backfill(
      verify_args(db, "t", "push-down", {"--chunk-rows", "500", "--repair", "--report", report}));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;  // every difference was repaired
  std::string json = read_text(report);
  EXPECT_NE(json.find("\"repaired\": 6"), std::string::npos) << json;
  EXPECT_NE(json.find("\"status\": \"ok\""), std::string::npos) << json;
  // Equal both ways, row by row, and a fresh verify agrees.
  db.expect_same("SELECT * FROM t ORDER BY id", "SELECT * FROM t ORDER BY id");
  EXPECT_EQ(run_backfill(verify_args(db, "t", "streamed")).exit_code, 0);
}

// A difference that a concurrent writer removes during the recheck delay is not reported;
// one that stays is.
TEST(VerifyRecheck, ReportsOnlyDifferencesThatPersist) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  db.src.exec("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 100) i");
  db.dst.exec("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 100) i");
  db.dst.exec("UPDATE t SET v = 'in flight' WHERE id = 10");
  db.dst.exec("UPDATE t SET v = 'wrong' WHERE id = 20");
  // --progress log (the last --progress wins): the recheck notice goes to stderr.
  auto args =
      verify_args(db, "t", "push-down", {"--recheck", "3", "--jobs", "1", "--progress", "log"});
  BackgroundRun run(args);
  ASSERT_TRUE(wait_until([&] {
    return run.err_so_far().find("comparing again in") != std::string::npos;
  })) << run.err_so_far();
  db.dst.exec("UPDATE t SET v = 'v10' WHERE id = 10");  // the dual write lands
  auto r = run.wait();
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(listed(r), std::vector<std::string>{"different (id)=(20)"}) << r.out;
}

TEST(PlanVerify, ShowsTheChunksAndTheMethodAndWritesNothing) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, x float8)");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY, x float8)");
  db.src.exec("INSERT INTO t SELECT i, i FROM generate_series(1, 300) i");
  for (const char* method : {"push-down", "streamed"}) {
    auto a = verify_args(db, "t", method, {"--chunk-rows", "100"});
    a.insert(a.begin(), "plan");
    auto r = run_backfill(a);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("method:      ") + method), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("2: ((100), (200)]"), std::string::npos) << r.out;
    // Push-down hashes each row on the server; streamed reads the rows with COPY.
    const char* sql = std::string(method) == "push-down" ? "hash_record_extended(ROW(\"id\""
                                                         : "COPY (SELECT \"id\" AS \"id\", ";
    EXPECT_NE(r.out.find(sql), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("nothing was written"), std::string::npos);
  }
  EXPECT_FALSE(db.ledger_exists());
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM t"), "0");
  auto missing = run_backfill({"plan", "verify", "--source", db.src.dsn(), "--table", "t"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--target is required"), std::string::npos) << missing.err;
}

// A nightly job over a table too big for one night: --run-time stops the pass, and the next
// run finishes it without reading the finished chunks again, with one verdict for the pass.
TEST(VerifyRunTime, StopsAndTheNextRunFinishesThePassWithoutRereadingChunks) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  db.src.exec("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 1000) i");
  db.dst.exec("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 1000) i");
  db.dst.exec("UPDATE t SET v = 'late' WHERE id = 950");
  // Create the ledger first, so the lock below does not also hold back its creation.
  ASSERT_EQ(run_backfill(verify_args(db, "t", "push-down", {"--chunk-rows", "100"})).exit_code, 1);

  // The target is locked: the first chunk of the run waits on it while --run-time passes.
  auto locker = pg::PgConnection::connect(db.dst.dsn(), pg::SessionSettings{});
  ASSERT_TRUE(locker.ok());
  ASSERT_TRUE((*locker)->exec("BEGIN").is_ok());
  ASSERT_TRUE((*locker)->exec("LOCK TABLE t IN ACCESS EXCLUSIVE MODE").is_ok());
  std::string first_report = temp_path("runtime1.json");
  BackgroundRun first(verify_args(db, "t", "push-down",
                                  {"--chunk-rows", "100", "--jobs", "1", "--restart", "--run-time",
                                   "1s", "--lock-timeout", "0", "--report", first_report}));
  // The feature under test is time. The run's deadline counts from its start, which is before
  // its first chunk's statement began; once that statement has waited on the lock for longer
  // than --run-time, the deadline has passed, however slowly the process started.
  ASSERT_TRUE(wait_until([&] {
    return db.src.value(
               "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backfill'"
               " AND wait_event_type = 'Lock'"
               " AND clock_timestamp() - query_start > interval '1.2 s'") != "0";
  }));
  ASSERT_TRUE((*locker)->exec("ROLLBACK").is_ok());
  auto r1 = first.wait();
  EXPECT_EQ(r1.exit_code, 0) << r1.out << r1.err;  // no difference in what it reached
  std::string j1 = read_text(first_report);
  EXPECT_NE(j1.find("\"pass_complete\": false"), std::string::npos) << j1;
  EXPECT_NE(r1.out.find("--run-time reached"), std::string::npos) << r1.out;
  const int done_first =
      std::stoi(db.dst.value("SELECT count(*) FROM backfill.chunks WHERE status = 'done'"));
  EXPECT_GE(done_first, 1);
  EXPECT_LT(done_first, 11);

  std::string second_report = temp_path("runtime2.json");
  auto r2 = run_backfill(
      verify_args(db, "t", "push-down", {"--chunk-rows", "100", "--report", second_report}));
  EXPECT_EQ(r2.exit_code, 1) << r2.out << r2.err;
  EXPECT_NE(r2.err.find("continuing the verify pass"), std::string::npos) << r2.err;
  EXPECT_EQ(listed(r2), std::vector<std::string>{"different (id)=(950)"}) << r2.out;
  std::string j2 = read_text(second_report);
  EXPECT_NE(j2.find("\"pass_complete\": true"), std::string::npos) << j2;
  EXPECT_NE(j2.find("\"chunks\": 11"), std::string::npos) << j2;
  EXPECT_NE(j2.find("\"chunks_this_run\": " + std::to_string(11 - done_first)), std::string::npos)
      << j2;
  EXPECT_NE(j2.find("\"rows\": 1000"), std::string::npos) << j2;
  // No chunk was read twice in the pass.
  EXPECT_EQ(db.dst.value("SELECT max(attempts) FROM backfill.chunks"), "1");

  // The pass is complete: the same command tomorrow starts a new one.
  auto r3 = run_backfill(verify_args(db, "t", "push-down", {"--chunk-rows", "100"}));
  EXPECT_EQ(r3.exit_code, 1);
  EXPECT_EQ(r3.err.find("continuing"), std::string::npos) << r3.err;
}

// Two rows of one chunk swap a column's values: each row differs, though the multiset of
// column hashes is unchanged. A row hash that combines column hashes linearly would keep the
// chunk's sum and miss both.
TEST(Verify, TwoRowsThatSwapAColumnsValuesAreBothDifferent) {
  SourceAndTarget db;
  const char* ddl = "CREATE TABLE t (id int PRIMARY KEY, v text, n numeric(8,2), j jsonb)";
  db.src.exec(ddl);
  db.dst.exec(ddl);
  const char* rows =
      "INSERT INTO t SELECT i, 'v' || i, i / 4.0, jsonb_build_object('i', i) FROM "
      "generate_series(1, 100) i";
  db.src.exec(rows);
  db.dst.exec(rows);
  db.dst.exec("UPDATE t SET v = CASE id WHEN 41 THEN 'v42' ELSE 'v41' END WHERE id IN (41, 42)");
  db.dst.exec(
      "UPDATE t SET j = CASE id WHEN 43 THEN '{\"i\": 44}'::jsonb ELSE '{\"i\": 43}' END "
      "WHERE id IN (43, 44)");
  auto plan = verify_args(db, "t", "push-down");
  plan.insert(plan.begin(), "plan");
  auto p = run_backfill(plan);
  EXPECT_NE(p.out.find("hashint8extended(hash_record_extended(ROW(\"id\", \"v\" COLLATE "
                       "\"C\", \"n\", (\"j\")::text), 0), 0)"),
            std::string::npos)
      << p.out;
  for (const char* method : kMethods) {
    auto r = run_backfill(verify_args(db, "t", method, {"--chunk-rows", "50"}));
    EXPECT_EQ(r.exit_code, 1) << method << r.out << r.err;
    EXPECT_EQ(listed(r), (std::vector<std::string>{"different (id)=(41)", "different (id)=(42)",
                                                   "different (id)=(43)", "different (id)=(44)"}))
        << method << r.out;
  }
}

// Intervals, json and arrays are compared by their exact form, not by their type's looser
// equality: '1 day' and '24 hours' are equal intervals that behave differently.
TEST(Verify, IntervalsJsonbAndArraysAreComparedExactly) {
  SourceAndTarget db;
  const char* ddl = "CREATE TABLE t (id int PRIMARY KEY, iv interval, j jsonb, a numeric[])";
  db.src.exec(ddl);
  db.dst.exec(ddl);
  db.src.exec(
      "INSERT INTO t VALUES (1, '1 day', '{\"a\": 1}', '{1}'), (2, '1 h', '{}', '{}'),"
      " (3, '1 h', '{\"a\": 1.0}', '{1.0}'), (4, '1 h', '{}', '{1.5}')");
  db.dst.exec(
      "INSERT INTO t VALUES (1, '24 hours', '{\"a\": 1}', '{1}'), (2, '1 h', '{}', '{}'),"
      " (3, '1 h', '{\"a\": 1.00}', '{1.0}'), (4, '1 h', '{}', '{1.50}')");
  for (const char* method : kMethods) {
    auto r = run_backfill(verify_args(db, "t", method));
    EXPECT_EQ(r.exit_code, 1) << method << r.out << r.err;
    EXPECT_EQ(listed(r), (std::vector<std::string>{"different (id)=(1)", "different (id)=(3)",
                                                   "different (id)=(4)"}))
        << method << r.out;
  }
}

// The shadow table of a migration: users_new has full_name, which the source computes from
// first and last name. Copy fills it; verify with the same --source-expr finds it equal, in
// both methods, and finds a tampered row.
TEST(SourceExpr, CopyComputesAColumnOnTheSourceAndVerifyAgrees) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE users (id int PRIMARY KEY, first_name text, last_name text)");
  db.dst.exec("CREATE TABLE users_new (id int PRIMARY KEY, full_name text NOT NULL)");
  db.src.exec(
      "INSERT INTO users SELECT i, 'Ada' || i, CASE WHEN i % 7 = 0 THEN NULL ELSE "
      "'Lovelace' END FROM generate_series(1, 300) i");
  const std::vector<std::string> expr{
      "--to",          "users_new",
      "--source-expr", "full_name = concat_ws(' ', first_name, s.last_name)",
      "--chunk-rows",  "50"};
  auto c = run_backfill(db.copy("users", expr));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(db.dst.value("SELECT full_name FROM users_new WHERE id = 1"), "Ada1 Lovelace");
  EXPECT_EQ(db.dst.value("SELECT full_name FROM users_new WHERE id = 7"), "Ada7");
  for (const char* method : kMethods) {
    auto r = run_backfill(verify_args(db, "users", method, expr));
    EXPECT_EQ(r.exit_code, 0) << method << r.out << r.err;
  }
  db.dst.exec("UPDATE users_new SET full_name = 'Ada2  Lovelace' WHERE id = 2");
  for (const char* method : kMethods) {
    auto r = run_backfill(verify_args(db, "users", method, expr));
    EXPECT_EQ(r.exit_code, 1) << method;
    EXPECT_EQ(listed(r), std::vector<std::string>{"different (id)=(2)"}) << method << r.out;
  }
}

TEST(SourceExpr, BadExpressionsAreExit2NamingTheColumnAndTheReason) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE users (id int PRIMARY KEY, first_name text)");
  db.dst.exec("CREATE TABLE users_new (id int PRIMARY KEY, full_name text, n int)");
  struct Case {
    std::string expr, message;
  };
  for (const Case& k : std::vector<Case>{
           {"full_name = upper(frist_name)", "column \"frist_name\" does not exist"},
           {"full_name = upper(first_name", "syntax error"},
           {"n = now()", "target column \"n\" (integer) cannot be filled from --source-expr"},
           {"nope = first_name", "has no column \"nope\""},
           {"full_name", "expected \"target_column = SQL\""},
       }) {
    auto r = run_backfill(db.copy("users", {"--to", "users_new", "--source-expr", k.expr}));
    EXPECT_EQ(r.exit_code, 2) << k.expr;
    EXPECT_NE(r.err.find(k.message), std::string::npos) << k.expr << ": " << r.err;
  }
  auto twice =
      run_backfill(db.copy("users", {"--to", "users_new", "--map", "full_name = first_name",
                                     "--source-expr", "full_name = 'x'"}));
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_NE(twice.err.find("filled twice"), std::string::npos) << twice.err;
  EXPECT_FALSE(db.ledger_exists());
}

// A chunk whose comparison hits the statement timeout goes back to the ledger as two
// halves, as in copy: each source row costs 6 ms (--where calls pg_sleep), a 100-row chunk
// runs 600 ms against a 450 ms timeout, its halves fit.
TEST(Verify, AChunkThatTimesOutIsSplitAndThePassCompletes) {
  SourceAndTarget db;
  const char* ddl = "CREATE TABLE t (id int PRIMARY KEY, v text)";
  db.src.exec(ddl);
  db.dst.exec(ddl);
  const char* rows = "INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 300) i";
  db.src.exec(rows);
  db.dst.exec(rows);
  for (const char* method : kMethods) {
    auto r =
        run_backfill(verify_args(db, "t", method,
                                 {"--chunk-rows", "100", "--statement-timeout", "450", "--where",
                                  "pg_sleep(0.006) IS NOT NULL", "--no-throttle", "--restart"}));
    EXPECT_EQ(r.exit_code, 0) << method << r.out << r.err;
    // Three chunks of 100 (600 ms of sleep, over the timeout) and the open end: each full
    // one is split in two halves of 300 ms. A loaded machine may split a half again, so
    // at least 7 chunks.
    ASSERT_NE(r.out.find("match: 300 rows in "), std::string::npos) << method << r.out;
    const int chunks = std::stoi(r.out.substr(r.out.find(" rows in ") + 9));
    EXPECT_GE(chunks, 7) << method << r.out;
  }
}

}  // namespace
}  // namespace backfill::testing
