// backfill update against a real PostgreSQL: the expand/contract backfill of a new column,
// exact on 1M rows, idempotent, safe next to the application's dual writes, patient with a
// held row lock, and refusing bad input before anything is written.
#include <gtest/gtest.h>
#include <signal.h>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

class Update : public ::testing::Test {
 protected:
  void SetUp() override {
    db.exec(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, email_address text, "
        "n int)");
  }
  void load(int rows) {
    db.exec(
        "INSERT INTO users (id, email) SELECT i, 'User' || i || '@Example.COM' FROM "
        "generate_series(1, " +
        std::to_string(rows) + ") i");
  }
  std::vector<std::string> args(std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"update", "--target",   db.dsn(), "--table",
                               "users",  "--progress", "none"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::vector<std::string> lower_email(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), {"--set", "email_address = lower(email)"});
    return args(extra);
  }
  std::string wrong() {
    return db.value("SELECT count(*) FROM users WHERE email_address IS DISTINCT FROM lower(email)");
  }
  void run_beside_a_dual_writer(std::vector<std::string> job);
  TestDatabase db{"upd"};
};

TEST_F(Update, FillsEveryRowOfAMillionAndARerunChangesNothing) {
  load(1000000);
  std::string report = temp_path("update_1m.json");
  auto r = run_backfill(lower_email({"--report", report}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(wrong(), "0");
  EXPECT_NE(read_text(report).find("\"rows\": 1000000,"), std::string::npos) << read_text(report);
  EXPECT_NE(r.out.find("1,000,000 rows changed"), std::string::npos) << r.out;
  // The same command again: the job is done. With --restart it walks every chunk again and
  // the guard leaves every row alone.
  auto again = run_backfill(lower_email());
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("already done"), std::string::npos) << again.out;
  // No row version changes: every row keeps the transaction id that last wrote it.
  const std::string versions = "SELECT md5(string_agg(xmin::text, ',' ORDER BY id)) FROM users";
  const std::string before = db.value(versions);
  auto rerun = run_backfill(lower_email({"--restart", "--report", report}));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_NE(read_text(report).find("\"rows\": 0,"), std::string::npos) << read_text(report);
  EXPECT_EQ(db.value(versions), before);
}

TEST_F(Update, RowsTheApplicationAlreadyWroteAreLeftAlone) {
  load(1000);
  // Dual writes already filled these, in the application's own spelling.
  db.exec("UPDATE users SET email_address = 'kept' WHERE id <= 10");
  std::string report = temp_path("update_where.json");
  auto r = run_backfill(args({"--set", "email_address = lower(email)", "--where",
                              "email_address IS NULL", "--report", report}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(db.value("SELECT count(*) FROM users WHERE email_address = 'kept'"), "10");
  EXPECT_EQ(db.value("SELECT count(*) FROM users WHERE email_address = lower(email)"), "990");
  EXPECT_NE(read_text(report).find("\"rows\": 990,"), std::string::npos) << read_text(report);
}

// The application, with dual writes on, updates and inserts rows while chunks run; at the
// end every row satisfies email_address = lower(email).
void Update::run_beside_a_dual_writer(std::vector<std::string> job) {
  load(100000);
  job.insert(job.end(), {"--chunk-rows", "1000", "--max-rate", "40000", "--job", "dw"});
  BackgroundRun run(args(job));
  ASSERT_TRUE(
      wait_until([&] { return db.value("SELECT to_regclass('backfill.jobs')") != "NULL"; }));
  int writes_while_running = 0;
  for (int i = 0; db.value("SELECT status FROM backfill.jobs WHERE name = 'dw'") != "done"; ++i) {
    const std::string id = std::to_string(1 + (i * 7919) % 100000);
    db.exec(
        "UPDATE users SET email = 'Changed' || id || '@New.Example', email_address = "
        "lower('Changed' || id || '@New.Example') WHERE id = " +
        id);
    db.exec("INSERT INTO users (id, email, email_address) VALUES (" + std::to_string(200000 + i) +
            ", 'New" + std::to_string(i) + "@X.ORG', 'new" + std::to_string(i) + "@x.org')");
    ++writes_while_running;
    if (i > 100000) break;  // a job that never finishes fails the checks below
  }
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GT(writes_while_running, 10);
  EXPECT_EQ(wrong(), "0");
  EXPECT_EQ(db.value("SELECT count(*) FROM users"), std::to_string(100000 + writes_while_running));
}

TEST_F(Update, AConcurrentWriterLeavesEveryRowSatisfyingTheInvariant) {
  run_beside_a_dual_writer({"--set", "email_address = lower(email)"});
}

TEST_F(Update, MapBesideAConcurrentWriterLeavesEveryRowSatisfyingTheInvariant) {
  run_beside_a_dual_writer({"--map", "email_address = lower(email)"});
}

TEST_F(Update, MapComputesHereExactlyAndARerunChangesNothing) {
  load(100000);
  std::string report = temp_path("update_map.json");
  auto map = args({"--map", "email_address = lower(email)", "--map",
                   "n = length(split_part(email, '@', 1))", "--report", report});
  auto r = run_backfill(map);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(wrong(), "0");
  EXPECT_EQ(db.value("SELECT count(*) FROM users WHERE n IS DISTINCT FROM "
                     "length(split_part(email, '@', 1))"),
            "0");
  EXPECT_NE(read_text(report).find("\"rows\": 100000,"), std::string::npos) << read_text(report);
  const std::string versions = "SELECT md5(string_agg(xmin::text, ',' ORDER BY id)) FROM users";
  const std::string before = db.value(versions);
  map.push_back("--restart");
  auto rerun = run_backfill(map);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_NE(read_text(report).find("\"rows\": 0,"), std::string::npos) << read_text(report);
  EXPECT_EQ(db.value(versions), before);
}

TEST_F(Update, AHeldRowLockMakesTheChunkWaitAndRetryNotFail) {
  load(5000);
  auto locker = pg::PgConnection::connect(db.dsn(), {});
  ASSERT_TRUE(locker.ok());
  ASSERT_TRUE((*locker)->exec("BEGIN").is_ok());
  ASSERT_TRUE((*locker)->exec("SELECT * FROM users WHERE id = 2500 FOR UPDATE").is_ok());
  std::string report = temp_path("update_lock.json");
  BackgroundRun run(lower_email({"--jobs", "1", "--lock-timeout", "200", "--report", report}));
  auto waiting = [&] {
    return db.value(
        "SELECT coalesce(max(query_start)::text, '') FROM pg_stat_activity WHERE "
        "application_name = 'backfill' AND wait_event_type = 'Lock' AND datname = "
        "current_database()");
  };
  std::string first;
  ASSERT_TRUE(wait_until([&] { return !(first = waiting()).empty(); }));
  ASSERT_TRUE(wait_until([&] {
    std::string now = waiting();
    return !now.empty() && now != first;  // timed out, retried as a new statement
  }));
  ASSERT_TRUE((*locker)->exec("COMMIT").is_ok());
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(wrong(), "0");
  EXPECT_EQ(read_text(report).find("\"retries\": 0,"), std::string::npos) << read_text(report);
}

TEST_F(Update, BadInputIsExit2WithTheReasonAndWritesNothing) {
  load(100);
  db.exec(
      "CREATE SEQUENCE s;\n"
      "CREATE TABLE audit (n int);\n"
      "CREATE FUNCTION noted() RETURNS int LANGUAGE sql AS 'INSERT INTO audit VALUES (1) "
      "RETURNING 1'");
  struct Case {
    std::vector<std::string> extra;
    std::string message;
  };
  std::vector<Case> cases{
      {{"--set", "nope = lower(email)"}, "has no column \"nope\""},
      {{"--set", "email_address = lower(emial)"}, "column \"emial\" does not exist"},
      {{"--set", "email_address = lower(email"}, "syntax error"},
      {{"--set", "n = 'abc'"}, "invalid input syntax for type integer"},
      {{"--set", "n = now()"}, "--set \"n = now()\""},
      {{"--set", "id = id + 1"}, "is a key column"},
      {{"--set", "n = 1", "--set", "n = 2"}, "set twice"},
      {{"--set", "email_address"}, "expected \"column = SQL expression\""},
      {{"--set", "n = 1", "--where", "idd > 3"}, "--where"},
      {{"--set", "n = 1", "--key", "email"}, "no unique index"},
      {{"--set", "n = 1; DROP TABLE users"}, "--set"},
      {{"--set", "n = nextval('s')"}, "--set \"n = nextval('s')\" writes to the database"},
      {{"--set", "n = noted()"}, "--set \"n = noted()\" writes to the database"},
      {{"--set", "n = 1", "--where", "noted() = 1"}, "--where \"noted() = 1\" writes"},
      {{"--map", "id = to_int('1')"}, "is a key column"},
      {{"--map", "email_address = lowr(email)"}, "at position 17: unknown function lowr()"},
      {{"--map", "n = lower(email)"}, "cannot store; convert it with to_int()"},
      {{"--map", "n = 1", "--set", "n = 2"}, "also --map'ed"},
  };
  for (const auto& c : cases) {
    auto r = run_backfill(args(c.extra));
    EXPECT_EQ(r.exit_code, 2) << c.extra[1];
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.extra[1] << ": " << r.err;
  }
  EXPECT_EQ(db.value("SELECT to_regclass('backfill.jobs') IS NULL"), "t");
  EXPECT_EQ(db.value("SELECT count(*) FROM users WHERE email_address IS NOT NULL OR n IS NOT "
                     "NULL"),
            "0");
  EXPECT_EQ(db.value("SELECT count(*) FROM users"), "100");
  EXPECT_EQ(db.value("SELECT count(*) FROM audit"), "0");
  EXPECT_EQ(db.value("SELECT is_called FROM s"), "f");
}

TEST_F(Update, PlanShowsTheStatementAndWritesNothing) {
  load(100);
  auto a = lower_email();
  a.insert(a.begin(), "plan");
  auto r = run_backfill(a);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("SET \"email_address\" = (lower(email))"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"email_address\" IS DISTINCT FROM CAST((lower(email)) AS text)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("nothing was written"), std::string::npos);
  EXPECT_EQ(db.value("SELECT to_regclass('backfill.jobs') IS NULL"), "t");
  EXPECT_EQ(db.value("SELECT count(*) FROM users WHERE email_address IS NOT NULL"), "0");
}

}  // namespace
}  // namespace backfill::testing
