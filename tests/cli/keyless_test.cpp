// A table without a key, against a real server: copied in TID ranges, exactly once through
// the ledger in the target, and verified as a multiset of rows (duplicates counted).
//
// To stop a copy at a known place without timing, a trigger of the target takes a shared
// advisory lock for the row n = 1050, which the test holds: the chunk that reaches that row
// waits, and every chunk before it has committed.
#include <signal.h>

#include <gtest/gtest.h>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

constexpr int kRows = 2000;  // each n twice: 4,000 rows in all

class Keyless : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* ddl = "CREATE TABLE log (n int, note text, at date)";
    db.src.exec(ddl);
    db.dst.exec(ddl);
    db.src.exec(
        "INSERT INTO log SELECT i, CASE WHEN i % 3 <> 0 THEN md5(i::text) END, "
        "date '2024-01-01' + i % 400 FROM generate_series(1, " +
        std::to_string(kRows) + ") i, generate_series(1, 2)");
    db.src.exec("ANALYZE log");
  }

  std::vector<std::string> copy(std::vector<std::string> extra = {}) {
    std::vector<std::string> base{"--chunk-rows", "100", "--jobs", "1", "--lock-timeout", "0"};
    base.insert(base.end(), extra.begin(), extra.end());
    return db.copy("log", base);
  }
  std::vector<std::string> verify(std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"verify",     "--source",     db.src.dsn(), "--target",
                               db.dst.dsn(), "--table",      "log",        "--progress",
                               "none",       "--chunk-rows", "100"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  void expect_exact() {
    db.expect_same("SELECT x::text FROM log x ORDER BY 1", "SELECT x::text FROM log x ORDER BY 1");
  }

  SourceAndTarget db;
};

TEST_F(Keyless, IsCopiedInTidRangesExactlyOnceAndResumesAfterKillNine) {
  db.dst.exec(
      "CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.n = 1050 THEN "
      "PERFORM pg_advisory_xact_lock_shared(4242); END IF; RETURN NEW; END $$");
  db.dst.exec("CREATE TRIGGER hold BEFORE INSERT ON log FOR EACH ROW EXECUTE FUNCTION hold()");
  auto blocker = pg::PgConnection::connect(db.dst.dsn(), pg::SessionSettings{});
  ASSERT_TRUE(blocker.ok());
  ASSERT_TRUE((*blocker)->exec("SELECT pg_advisory_lock(4242)").is_ok());

  auto plan = run_backfill({"plan", "--source", db.src.dsn(), "--target", db.dst.dsn(), "--table",
                            "log", "--chunk-rows", "100"});
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_NE(plan.out.find("key:         none: chunked by TID range"), std::string::npos)
      << plan.out;
  EXPECT_NE(plan.out.find("\"ctid\" <= '("), std::string::npos) << plan.out;

  BackgroundRun run(copy());
  ASSERT_TRUE(wait_until([&] {
    return db.dst.value(
               "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backfill' AND "
               "wait_event = 'advisory' AND datname = current_database()") != "0";
  }));
  run.signal(SIGKILL);
  EXPECT_EQ(run.wait().exit_code, 128 + SIGKILL);
  ASSERT_TRUE((*blocker)->exec("SELECT pg_advisory_unlock(4242)").is_ok());
  // What committed before the kill is in the target, and the ledger agrees with it.
  const std::string before = db.dst.value("SELECT count(*) FROM log");
  EXPECT_GT(std::stoi(before), 0);
  EXPECT_LT(std::stoi(before), 2 * kRows);
  EXPECT_EQ(db.dst.value("SELECT sum(rows) FROM backfill.chunks WHERE status = 'done'"), before);

  auto again = run_backfill(copy());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("resuming job"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("no key (TID ranges)"), std::string::npos) << again.err;
  expect_exact();
  EXPECT_EQ(db.dst.value("SELECT sum(rows) FROM backfill.chunks"), std::to_string(2 * kRows));
  // The chunk in flight at the kill (and the one claimed ahead of it) ran a second time.
  EXPECT_NE(db.dst.value("SELECT count(*) FROM backfill.chunks WHERE attempts = 2"), "0");
  // Several chunks, each a TID range: the last one open-ended.
  EXPECT_GT(std::stoi(db.dst.value("SELECT count(*) FROM backfill.chunks")), 5);
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM backfill.chunks WHERE hi IS NULL"), "1");
}

TEST_F(Keyless, PreflightRefusesWhatCannotStayExactlyOnce) {
  auto skip = run_backfill(copy({"--on-conflict", "skip"}));
  EXPECT_EQ(skip.exit_code, 2) << skip.err;
  EXPECT_NE(skip.err.find("has no key, so a conflict cannot be told from a second copy"),
            std::string::npos)
      << skip.err;
  TestDatabase state{"state"};
  auto elsewhere = run_backfill(copy({"--state", state.dsn()}));
  EXPECT_EQ(elsewhere.exit_code, 2) << elsewhere.err;
  EXPECT_NE(elsewhere.err.find("--state puts the ledger in another database"), std::string::npos)
      << elsewhere.err;
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM log"), "0");
  EXPECT_FALSE(db.ledger_exists());

  ASSERT_EQ(run_backfill(copy()).exit_code, 0);
  // Copied again beside what is there, every row would be there twice: a new job, or
  // --restart, into a target with rows is refused; the same job finds itself done.
  for (const auto& extra :
       std::vector<std::vector<std::string>>{{"--restart"}, {"--job", "other"}}) {
    auto again = run_backfill(copy(extra));
    EXPECT_EQ(again.exit_code, 2) << again.err;
    EXPECT_NE(again.err.find("Empty the target first (TRUNCATE public.log)"), std::string::npos)
        << again.err;
  }
  auto same = run_backfill(copy());
  EXPECT_EQ(same.exit_code, 0) << same.err;
  EXPECT_NE(same.out.find("is already done"), std::string::npos) << same.out;
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM log"), std::to_string(2 * kRows));

  auto repair = run_backfill(verify({"--repair"}));
  EXPECT_EQ(repair.exit_code, 2) << repair.err;
  EXPECT_NE(repair.err.find("--repair: table public.log has no key"), std::string::npos)
      << repair.err;
}

TEST_F(Keyless, VerifyComparesMultisetsCountsExactlyAndNamesRowsByValue) {
  ASSERT_EQ(run_backfill(copy()).exit_code, 0);
  for (const char* method : {"push-down", "streamed"}) {
    SCOPED_TRACE(method);
    auto v = run_backfill(verify({"--method", method, "--restart"}));
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_NE(v.out.find("match: 4,000 rows"), std::string::npos) << v.out;
  }

  // One of a pair gone (missing 1), a row changed (1 missing, 1 extra), a row tripled
  // (2 extra), and a new row (1 extra). The rows are counted exactly even when they are
  // read in several rounds (--chunk-rows 10: rounds of at most 1,000 rows a side, five).
  db.dst.exec("DELETE FROM log WHERE ctid = (SELECT min(ctid) FROM log WHERE n = 7)");
  db.dst.exec(
      "UPDATE log SET note = 'changed' WHERE ctid = (SELECT min(ctid) FROM log WHERE n = 8)");
  db.dst.exec("INSERT INTO log SELECT * FROM log WHERE n = 9 LIMIT 1");
  db.dst.exec("INSERT INTO log SELECT * FROM log WHERE n = 9 LIMIT 1");
  db.dst.exec("INSERT INTO log VALUES (99999, NULL, '2030-01-01')");
  for (const char* method : {"push-down", "streamed"}) {
    SCOPED_TRACE(method);
    std::string report = temp_path(std::string("keyless_verify_") + method + ".json");
    auto v = run_backfill({"verify", "--source", db.src.dsn(), "--target", db.dst.dsn(), "--table",
                           "log", "--progress", "none", "--chunk-rows", "10", "--method", method,
                           "--restart", "--report", report});
    EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
    EXPECT_NE(v.out.find("DIFFERENT: 2 missing, 4 extra, 0 different"), std::string::npos) << v.out;
    auto j = nlohmann::json::parse(read_text(report));
    EXPECT_EQ(j["rows"], 2 * kRows);
    EXPECT_EQ(j["rows_target"], 2 * kRows + 2);
    const std::string text = j.dump();
    EXPECT_TRUE(report_lists(text, "n", "7", "missing")) << text;
    EXPECT_TRUE(report_lists(text, "n", "8", "missing")) << text;
    EXPECT_TRUE(report_lists(text, "note", "changed", "extra")) << text;
    EXPECT_TRUE(report_lists(text, "n", "99999", "extra")) << text;
    int nines = 0;
    for (const auto& d : j["differences"]) nines += d["key"]["n"] == "9" && d["kind"] == "extra";
    EXPECT_EQ(nines, 2) << text;
    EXPECT_NE(v.out.find("extra     (n, note, at)=(99999, NULL, 2030-01-01)"), std::string::npos)
        << v.out;
  }
  // A short list still shows both kinds; the counts stay exact.
  std::string report = temp_path("keyless_verify_short.json");
  auto v = run_backfill(verify({"--restart", "--max-diffs", "2", "--report", report}));
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  auto j = nlohmann::json::parse(read_text(report));
  EXPECT_EQ(j["rows_missing"], 2);
  EXPECT_EQ(j["rows_extra"], 4);
  ASSERT_EQ(j["differences"].size(), 2u) << j.dump();
  EXPECT_EQ(j["differences"][0]["kind"], "missing") << j.dump();
  EXPECT_EQ(j["differences"][1]["kind"], "extra") << j.dump();
}

// A partitioned table without a key, never analysed: a TID range takes the same pages of
// every partition (a ctid repeats across partitions), rows are named by (ctid, tableoid),
// and the rows a page holds are counted on the first pages.
TEST_F(Keyless, APartitionedTableIsCopiedAndVerifiedThroughItsParent) {
  for (const char* ddl : {"CREATE TABLE part (k int, v text) PARTITION BY RANGE (k)",
                          "CREATE TABLE part_low PARTITION OF part FOR VALUES FROM (0) TO (500)",
                          "CREATE TABLE part_high PARTITION OF part FOR VALUES FROM (500) TO "
                          "(1000)"}) {
    db.src.exec(ddl);
    db.dst.exec(ddl);
  }
  db.src.exec("INSERT INTO part SELECT i % 1000, md5(i::text) FROM generate_series(1, 6000) i");
  auto c = run_backfill(db.copy("part", {"--chunk-rows", "500"}));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  db.expect_same("SELECT x::text FROM part x ORDER BY 1", "SELECT x::text FROM part x ORDER BY 1");
  EXPECT_GT(std::stoi(db.dst.value("SELECT count(*) FROM backfill.chunks")), 3);

  std::vector<std::string> v{"verify",     "--source",     db.src.dsn(), "--target",
                             db.dst.dsn(), "--table",      "part",       "--progress",
                             "none",       "--chunk-rows", "500"};
  auto same = run_backfill(v);
  EXPECT_EQ(same.exit_code, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("match: 6,000 rows"), std::string::npos) << same.out;
  // The first row of the high partition's first page shares its ctid with the low one's.
  db.dst.exec("DELETE FROM part_high WHERE ctid = '(0,1)'");
  const std::string gone = db.src.value("SELECT v FROM part_high WHERE ctid = '(0,1)'");
  auto differs = run_backfill(v);
  EXPECT_EQ(differs.exit_code, 1) << differs.out << differs.err;
  EXPECT_NE(differs.out.find("DIFFERENT: 1 missing, 0 extra"), std::string::npos) << differs.out;
  EXPECT_NE(differs.out.find(", " + gone + ")"), std::string::npos) << differs.out;
}

}  // namespace
}  // namespace backfill::testing
