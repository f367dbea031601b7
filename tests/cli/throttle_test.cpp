// Throttling against a real PostgreSQL: a pause file, a throttle query, `backfill control`
// and an unreadable signal each hold a running copy (alive, nothing written, `status` says
// why), and clearing them lets it finish; a table locked for a while makes it wait, not fail.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

class Throttling : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* ddl = "CREATE TABLE t (id int PRIMARY KEY, v text)";
    db.src.exec(ddl);
    db.dst.exec(ddl);
    db.src.exec("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 2000) i");
    // One file per test: ctest runs the tests of this suite in parallel.
    pause_file = temp_path(
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".pause");
    std::ofstream(pause_file) << "hold\n";
  }
  void TearDown() override { std::remove(pause_file.c_str()); }

  std::vector<std::string> args(std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"--chunk-rows", "100", "--pause-file", pause_file};
    a.insert(a.end(), extra.begin(), extra.end());
    return db.copy("t", a);
  }
  std::string status() { return run_backfill({"status", "--state", db.dst.dsn()}).out; }
  bool status_says(const std::string& text) {
    return wait_until([&] { return status().find(text) != std::string::npos; });
  }
  std::string rows() { return db.dst.value("SELECT count(*) FROM t"); }

  SourceAndTarget db;
  std::string pause_file;
};

TEST_F(Throttling, APauseFileHoldsTheCopyAndRemovingItLetsItFinish) {
  BackgroundRun run(args());
  ASSERT_TRUE(status_says("paused: pause file " + pause_file)) << status();
  EXPECT_EQ(rows(), "0");
  EXPECT_EQ(kill(run.pid(), 0), 0);  // alive
  std::remove(pause_file.c_str());
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(rows(), "2000");
}

TEST_F(Throttling, AThrottleQueryOverItsLimitHoldsTheCopyUntilItsValueDrops) {
  db.dst.exec("CREATE TABLE knob (v int)");
  db.dst.exec("INSERT INTO knob VALUES (5)");
  std::string report = temp_path("throttle_query.json");
  BackgroundRun run(args(
      {"--throttle-query", "SELECT v FROM knob", "--throttle-query-max", "1", "--report", report}));
  ASSERT_TRUE(status_says("server throttle query 5 > 1; pause file")) << status();
  std::remove(pause_file.c_str());
  ASSERT_TRUE(status_says("paused: server throttle query 5 > 1  chunk")) << status();
  EXPECT_EQ(rows(), "0");
  db.dst.exec("UPDATE knob SET v = 0");
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(rows(), "2000");
  std::string json = read_text(report);
  EXPECT_NE(json.find("\"throttle query\": "), std::string::npos) << json;
  EXPECT_EQ(json.find("\"throttled_seconds\": 0,"), std::string::npos) << json;
}

TEST_F(Throttling, ControlPausesAndResumesARunningJob) {
  BackgroundRun run(args({"--job", "ctl"}));
  ASSERT_TRUE(status_says("paused: pause file")) << status();
  auto c = run_backfill({"control", "--state", db.dst.dsn(), "--job", "ctl", "--pause"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("job ctl: paused"), std::string::npos) << c.out;
  // Picked up by the worker's next heartbeat, while the pause file still holds it.
  ASSERT_TRUE(status_says("; paused by `backfill control`")) << status();
  std::remove(pause_file.c_str());
  ASSERT_TRUE(status_says("paused: paused by `backfill control`  chunk")) << status();
  EXPECT_EQ(rows(), "0");
  // --as-started returns what control set to the command line's, then applies what is given.
  c = run_backfill({"control", "--state", db.dst.dsn(), "--job", "ctl", "--max-rate", "50",
                    "--chunk-time", "200"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  c = run_backfill(
      {"control", "--state", db.dst.dsn(), "--job", "ctl", "--as-started", "--jobs", "1"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("job ctl: paused; max rate: as started; jobs: 1; chunk time: as started"),
            std::string::npos)
      << c.out;
  c = run_backfill({"control", "--state", db.dst.dsn(), "--job", "ctl", "--as-started"});
  EXPECT_NE(c.out.find("max rate: as started; jobs: as started; chunk time: as started"),
            std::string::npos)
      << c.out;
  EXPECT_EQ(db.dst.value("SELECT concat_ws(',', max_rate, max_jobs, chunk_time_ms, 'none') FROM "
                         "backfill.jobs WHERE name = 'ctl'"),
            "none");
  c = run_backfill({"control", "--state", db.dst.dsn(), "--job", "ctl", "--resume"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(rows(), "2000");
  auto bad = run_backfill({"control", "--state", db.dst.dsn(), "--job", "nope", "--pause"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("no job named 'nope'"), std::string::npos) << bad.err;
}

// control --max-rate 0 lifts the cap, the command line's included, and says so in words.
TEST_F(Throttling, ControlMaxRateZeroLiftsTheCommandLinesCap) {
  // At 5 rows/s the 2,000 rows would take 400 s.
  BackgroundRun run(args({"--job", "rate", "--max-rate", "5"}));
  ASSERT_TRUE(status_says("paused: pause file")) << status();
  auto c =
      run_backfill({"control", "--state", db.dst.dsn(), "--job", "rate", "--max-rate", "1500"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("job rate: running; max rate: 1,500 rows/s; jobs: as started; chunk "
                       "time: as started"),
            std::string::npos)
      << c.out;
  c = run_backfill({"control", "--state", db.dst.dsn(), "--job", "rate", "--max-rate", "0",
                    "--chunk-time", "300"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("max rate: off; jobs: as started; chunk time: 300 ms"), std::string::npos)
      << c.out;
  std::remove(pause_file.c_str());
  // Well before 400 s: the cap is gone.
  EXPECT_TRUE(wait_until([&] { return rows() == "2000"; })) << rows() << "\n" << status();
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// A run paced by --max-rate is throttled for the time it waited on the cap, by "max rate",
// and never for longer than it ran.
TEST_F(Throttling, PacingByMaxRateCountsAsThrottledByMaxRate) {
  std::remove(pause_file.c_str());
  const std::string report = temp_path("paced.json");
  // 2,000 rows at 500 rows/s: 4 s, of which the first second's credit covers one; the rest
  // is waiting on the cap unless the chunks themselves take 3 s.
  auto r = run_backfill(args({"--max-rate", "500", "--report", report}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(rows(), "2000");
  const auto j = nlohmann::json::parse(read_text(report));
  EXPECT_GT(j["throttled_seconds"].get<double>(), 0.5) << j.dump();
  EXPECT_LE(j["throttled_seconds"].get<double>(), j["seconds"].get<double>()) << j.dump();
  ASSERT_TRUE(j["throttled_by"].contains("max rate")) << j.dump();
  EXPECT_GT(j["throttled_by"]["max rate"].get<double>(), 0.5) << j.dump();
}

// The cap holds over every second of the run: at the start (four lanes free at once), and
// after a pause (no credit for the time nothing ran). The target stamps each row as it
// lands.
TEST_F(Throttling, TheRateCapHoldsOverEverySecondAtTheStartAndAfterAPause) {
  db.dst.exec("ALTER TABLE t ADD COLUMN landed timestamptz DEFAULT clock_timestamp()");
  std::remove(pause_file.c_str());
  BackgroundRun run(args({"--max-rate", "500", "--jobs", "4", "--chunk-rows", "400"}));
  ASSERT_TRUE(wait_until([&] { return std::stoi(rows()) >= 700; })) << rows();
  std::ofstream(pause_file) << "hold\n";
  ASSERT_TRUE(status_says("paused: pause file")) << status();
  std::remove(pause_file.c_str());
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(rows(), "2000");
  // A chunk holds at most a tenth of a second's rows (50), so a second may see the cap and
  // one chunk more; without the charge at start the first second took every lane's 400.
  const std::string busiest = db.dst.value(
      "SELECT max(n) FROM (SELECT count(*) OVER (ORDER BY landed RANGE BETWEEN CURRENT ROW "
      "AND '1 second' FOLLOWING) AS n FROM t) w");
  EXPECT_LE(std::stoi(busiest), 575) << busiest;
  EXPECT_EQ(db.dst.value("SELECT max(rows) FROM backfill.chunks WHERE status = 'done'"), "50");
}

TEST_F(Throttling, ASignalThatCannotBeReadFailsClosed) {
  db.dst.exec("CREATE TABLE knob (v int)");
  db.dst.exec("INSERT INTO knob VALUES (0)");
  BackgroundRun run(args({"--throttle-query", "SELECT v FROM knob", "--throttle-query-max", "1"}));
  ASSERT_TRUE(status_says("paused: pause file")) << status();
  db.dst.exec("DROP TABLE knob");  // the query now fails on every sample
  ASSERT_TRUE(status_says("server throttle query unreadable for")) << status();
  std::remove(pause_file.c_str());
  ASSERT_TRUE(status_says("paused: server throttle query unreadable for")) << status();
  std::string s = status();
  EXPECT_NE(s.find("(fail closed): throttle query failed:"), std::string::npos) << s;
  EXPECT_NE(s.find("\"knob\" does not exist"), std::string::npos) << s;
  EXPECT_EQ(rows(), "0");
  db.dst.exec("CREATE TABLE knob (v int)");
  db.dst.exec("INSERT INTO knob VALUES (0)");
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(rows(), "2000");
}

TEST_F(Throttling, ATableLockedForAWhileMakesTheCopyWaitAndRetryNotFail) {
  std::remove(pause_file.c_str());
  db.dst.exec("BEGIN");
  db.dst.exec("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
  std::string report = temp_path("locked.json");
  // One writer, so a new statement waiting on the lock is a retry, not a second writer.
  BackgroundRun run(args({"--jobs", "1", "--lock-timeout", "200", "--report", report}));
  // A write waits on the lock, times out after 200 ms, and is retried as a new statement.
  const std::string dst_db = db.dst.value("SELECT current_database()");
  auto waiting = [&] {
    return db.src.value(
        "SELECT coalesce(max(query_start)::text, '') FROM pg_stat_activity WHERE "
        "application_name = 'backfill' AND wait_event_type = 'Lock' AND datname = '" +
        dst_db + "'");
  };
  std::string first;
  ASSERT_TRUE(wait_until([&] { return !(first = waiting()).empty(); }));
  ASSERT_TRUE(wait_until([&] {
    std::string now = waiting();
    return !now.empty() && now != first;
  }));
  EXPECT_EQ(kill(run.pid(), 0), 0);
  db.dst.exec("COMMIT");
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(rows(), "2000");
  EXPECT_EQ(read_text(report).find("\"retries\": 0,"), std::string::npos) << read_text(report);
}

TEST_F(Throttling, BadThrottleOptionsAreExit2AndWriteNothing) {
  auto r = run_backfill(args({"--throttle-query", "SELECT nope FROM nowhere"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--throttle-query"), std::string::npos) << r.err;
  r = run_backfill(args({"--max-lag", "soon"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--max-lag"), std::string::npos) << r.err;
  EXPECT_FALSE(db.ledger_exists());
}

}  // namespace
}  // namespace backfill::testing

namespace backfill::testing {
namespace {

// Each row costs 6 ms to read (--where calls pg_sleep), so a 100-row chunk runs 600 ms,
// past its 450 ms statement timeout: it goes back to the ledger as two halves of 50 rows,
// which fit, and the copy completes with every row once.
TEST(ChunkSplit, AChunkThatTimesOutIsSplitInTwoAndTheCopyCompletes) {
  SourceAndTarget db;
  const char* ddl = "CREATE TABLE t (id int PRIMARY KEY, v text)";
  db.src.exec(ddl);
  db.dst.exec(ddl);
  db.src.exec("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 300) i");
  std::string report = temp_path("split.json");
  auto r = run_backfill(
      db.copy("t", {"--chunk-rows", "100", "--statement-timeout", "450", "--where",
                    "pg_sleep(0.006) IS NOT NULL", "--report", report, "--no-throttle"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM t"), "300");
  EXPECT_EQ(db.dst.value("SELECT count(DISTINCT id) FROM t"), "300");
  // Three chunks of 100 rows sleep 600 ms each, over the timeout: each is split, and its
  // halves (300 ms) fit. A loaded machine may split a half again, so: at least three
  // splits, and every chunk done holds at most 50 rows.
  const std::string json = read_text(report);
  const auto at = json.find("\"chunks_split\": ");
  ASSERT_NE(at, std::string::npos) << json;
  EXPECT_GE(std::stoi(json.substr(at + 16)), 3) << json;
  EXPECT_EQ(db.dst.value("SELECT sum(rows) || ' ' || (max(rows) <= 50) FROM backfill.chunks "
                         "WHERE status = 'done' AND rows > 0"),
            "300 true");
}

}  // namespace
}  // namespace backfill::testing
