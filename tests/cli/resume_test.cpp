// Crashes, interrupts and concurrency: whatever stops a copy, the same command finishes it
// exactly, with no row written twice.
//
// To stop a copy at a known place without timing, the test holds an uncommitted row of the
// target at key 1050: the chunk that reaches it waits on the unique index (lock timeout off),
// and every chunk before it has committed. Rolling the row back lets the copy go on.
#include <signal.h>

#include <gtest/gtest.h>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

constexpr int kRows = 2000;
constexpr int kBlockedKey = 1050;  // in chunk 11 of 100 rows

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* ddl = "CREATE TABLE t (id int PRIMARY KEY, v text)";
    db.src.exec(ddl);
    db.dst.exec(ddl);
    db.src.exec("INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, " +
                std::to_string(kRows) + ") i");
    auto c = pg::PgConnection::connect(db.dst.dsn(), pg::SessionSettings{});
    ASSERT_TRUE(c.ok());
    blocker = std::move(c).value();
  }

  std::vector<std::string> args(std::vector<std::string> extra = {}) {
    std::vector<std::string> base{"--chunk-rows", "100", "--jobs", "1", "--lock-timeout", "0"};
    base.insert(base.end(), extra.begin(), extra.end());
    return db.copy("t", base);
  }

  void block() {
    ASSERT_TRUE(blocker->exec("BEGIN").is_ok());
    ASSERT_TRUE(
        blocker->exec("INSERT INTO t VALUES (" + std::to_string(kBlockedKey) + ", 'blocker')")
            .is_ok());
  }
  void unblock() { ASSERT_TRUE(blocker->exec("ROLLBACK").is_ok()); }

  // A backfill session waits on our row: everything before its chunk has committed.
  bool copy_is_blocked() { return blocked_by(db.dst, *blocker); }

  void expect_exact() {
    db.expect_same("SELECT * FROM t ORDER BY id", "SELECT * FROM t ORDER BY id");
    EXPECT_EQ(db.dst.value("SELECT status FROM backfill.jobs"), "done");
    EXPECT_EQ(db.dst.value("SELECT sum(rows) FROM backfill.chunks"), std::to_string(kRows));
  }

  SourceAndTarget db;
  std::unique_ptr<pg::PgConnection> blocker;
};

TEST_F(Resume, KillNineMidRunThenTheSameCommandFinishesExactly) {
  block();
  BackgroundRun run(args());
  ASSERT_TRUE(wait_until([&] { return copy_is_blocked(); }));
  run.signal(SIGKILL);
  EXPECT_EQ(run.wait().exit_code, 128 + SIGKILL);
  unblock();
  // What committed before the kill is in the target, and the ledger agrees with it.
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM t"), "1000");
  EXPECT_EQ(db.dst.value("SELECT sum(rows) FROM backfill.chunks WHERE status = 'done'"), "1000");
  auto again = run_backfill(args());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("resuming job"), std::string::npos) << again.err;
  expect_exact();
  // The chunk that was in flight when the process died was tried a second time.
  EXPECT_EQ(db.dst.value("SELECT attempts FROM backfill.chunks WHERE lo = '{1000}'"), "2");
}

// After a kill -9 the ledger still says running; `status` tells the truth: the worker whose
// session is gone is dead, the job stalled, nothing in flight, no ETA.
TEST_F(Resume, AfterKillNineStatusShowsTheWorkerDeadAndTheJobStalledWithNoEta) {
  db.src.exec("ANALYZE t");  // an estimate, so that a running job has an ETA to drop
  block();
  BackgroundRun run(args({"--job", "k9"}));
  ASSERT_TRUE(wait_until([&] { return copy_is_blocked(); }));
  auto status = [&] {
    return run_backfill({"status", "--state", db.dst.dsn(), "--job", "k9"}).out;
  };
  std::string before;
  ASSERT_TRUE(wait_until([&] {
    before = status();
    return before.find("worker ") != std::string::npos;
  })) << before;
  EXPECT_NE(before.find("[running]"), std::string::npos) << before;
  EXPECT_NE(before.find("ETA "), std::string::npos) << before;
  EXPECT_EQ(before.find(", 0 in flight"), std::string::npos) << before;

  run.signal(SIGKILL);
  EXPECT_EQ(run.wait().exit_code, 128 + SIGKILL);
  std::string after;
  ASSERT_TRUE(wait_until([&] { return (after = status()).find("[stalled]") != std::string::npos; }))
      << after;
  EXPECT_EQ(after.find("ETA"), std::string::npos) << after;
  EXPECT_NE(after.find(", 0 in flight"), std::string::npos) << after;
  EXPECT_NE(after.find("dead: its session is gone"), std::string::npos) << after;
  EXPECT_NE(after.find("stalled: no worker is alive"), std::string::npos) << after;
  const auto j = nlohmann::json::parse(
      run_backfill({"status", "--state", db.dst.dsn(), "--job", "k9", "--json"}).out);
  const auto& job = j["jobs"][0];
  EXPECT_EQ(job["status"], "stalled") << job.dump();
  EXPECT_EQ(job["live_workers"], 0) << job.dump();
  EXPECT_TRUE(job["eta_seconds"].is_null()) << job.dump();
  EXPECT_EQ(job["chunks_in_flight"], 0) << job.dump();
  EXPECT_EQ(job["workers"][0]["state"], "dead") << job.dump();
  EXPECT_EQ(job["workers"][0]["last_state"], "running") << job.dump();

  unblock();
  auto again = run_backfill(args({"--job", "k9"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  expect_exact();
  EXPECT_NE(status().find("[done]"), std::string::npos) << status();
}

TEST_F(Resume, ABackendTerminatedMidChunkIsRetriedAndTheCopyCompletes) {
  block();
  std::string report = temp_path("terminated.json");
  BackgroundRun run(args({"--report", report}));
  ASSERT_TRUE(wait_until([&] { return copy_is_blocked(); }));
  db.dst.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
      "'backfill' AND wait_event_type = 'Lock' AND datname = current_database()");
  unblock();
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_exact();
  EXPECT_EQ(read_text(report).find("\"retries\": 0"), std::string::npos) << read_text(report);
}

TEST_F(Resume, SigintFinishesInFlightChunksExitsWith130AndTheSameCommandResumes) {
  block();
  std::string report = temp_path("interrupted.json");
  BackgroundRun run(args({"--report", report}));
  ASSERT_TRUE(wait_until([&] { return copy_is_blocked(); }));
  run.signal(SIGINT);
  unblock();  // the chunk in flight may now finish
  auto r = run.wait();
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_NE(r.err.find("the same command resumes"), std::string::npos) << r.err;
  EXPECT_NE(read_text(report).find("\"status\": \"interrupted\""), std::string::npos);
  // The ledger is consistent with the target: every committed row is in a done chunk.
  EXPECT_EQ(
      db.dst.value("SELECT coalesce(sum(rows), 0) FROM backfill.chunks WHERE status = 'done'"),
      db.dst.value("SELECT count(*) FROM t"));
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM backfill.chunks WHERE status = 'running'"), "0");
  EXPECT_LT(std::stoi(db.dst.value("SELECT count(*) FROM t")), kRows);
  auto again = run_backfill(args());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  expect_exact();
}

TEST_F(Resume, TwoProcessesShareOneJob) {
  block();
  BackgroundRun first(args());
  ASSERT_TRUE(wait_until([&] { return copy_is_blocked(); }));
  // The second process takes every chunk the first does not hold, and leaves its chunk.
  auto second = run_backfill(args({"--jobs", "2"}));
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("other workers still hold chunks"), std::string::npos) << second.out;
  unblock();
  auto r = first.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_exact();
  EXPECT_EQ(db.dst.value("SELECT count(DISTINCT worker) FROM backfill.chunks"), "2");
  EXPECT_EQ(db.dst.value("SELECT max(attempts) FROM backfill.chunks"), "1");
}

TEST_F(Resume, RestartForgetsProgressButNotTheTarget) {
  ASSERT_EQ(run_backfill(args()).exit_code, 0);
  auto r = run_backfill(args({"--restart", "--on-conflict", "skip"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("starting job"), std::string::npos);
  EXPECT_NE(r.out.find("(0 written)"), std::string::npos) << r.out;
  db.expect_same("SELECT * FROM t ORDER BY id", "SELECT * FROM t ORDER BY id");
}

}  // namespace
}  // namespace backfill::testing
