// The report (--report FILE) has the same fields whatever happened: a first run, a rerun of
// a job already done, a failure and an interrupt, for copy, update and verify. The field
// sets are the README's ("The report").
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

using Fields = std::set<std::string>;

const Fields kCopyFields = {"command",
                            "job",
                            "status",
                            "job_done",
                            "rows",
                            "rows_written",
                            "chunks",
                            "rows_total",
                            "chunks_total",
                            "low_watermark",
                            "seconds",
                            "rows_per_second",
                            "throttled_seconds",
                            "throttled_by",
                            "retries",
                            "chunks_split",
                            "jobs",
                            "chunk_rows",
                            "deferred_objects",
                            "rebuild_seconds",
                            "on_conflict",
                            "source",
                            "target"};
const Fields kUpdateFields = {"command",       "job",     "status",          "job_done",
                              "rows",          "chunks",  "rows_total",      "chunks_total",
                              "low_watermark", "seconds", "rows_per_second", "throttled_seconds",
                              "throttled_by",  "retries", "chunks_split",    "jobs",
                              "chunk_rows",    "table"};
const Fields kVerifyFields = {"command",
                              "job",
                              "status",
                              "pass_complete",
                              "low_watermark",
                              "method",
                              "rows",
                              "rows_target",
                              "chunks",
                              "chunks_this_run",
                              "rows_this_run",
                              "chunks_mismatched",
                              "rows_missing",
                              "rows_extra",
                              "rows_different",
                              "differences",
                              "differences_listed",
                              "repaired",
                              "repaired_rows",
                              "seconds",
                              "rows_per_second",
                              "retries",
                              "source",
                              "target",
                              "throttled_seconds",
                              "throttled_by"};

class Report : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* ddl = "CREATE TABLE t (id int PRIMARY KEY, v text)";
    db.src.exec(ddl);
    db.dst.exec(ddl);
    db.src.exec("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 3000) i");
    db.dst.exec("CREATE TABLE u (id int PRIMARY KEY, v text, w text)");
    db.dst.exec("INSERT INTO u SELECT i, 'v' || i FROM generate_series(1, 3000) i");
    pause_file = temp_path(
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".pause");
    report = temp_path(
        std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + ".json");
  }
  void TearDown() override { std::remove(pause_file.c_str()); }

  std::vector<std::string> with(std::vector<std::string> a, std::vector<std::string> extra) {
    a.insert(a.end(), {"--chunk-rows", "500", "--report", report});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::vector<std::string> copy(std::vector<std::string> extra = {}) {
    return with(db.copy("t"), extra);
  }
  std::vector<std::string> update(std::vector<std::string> extra = {},
                                  const std::string& set = "w = upper(v)") {
    return with(
        {"update", "--target", db.dst.dsn(), "--table", "u", "--set", set, "--progress", "none"},
        extra);
  }
  std::vector<std::string> verify(std::vector<std::string> extra = {}) {
    return with({"verify", "--source", db.src.dsn(), "--target", db.dst.dsn(), "--table", "t",
                 "--progress", "none"},
                extra);
  }

  // The report's fields, checked against `expected` (and "error" exactly when it failed or
  // was interrupted).
  nlohmann::json expect_fields(const Fields& expected, const std::string& what) {
    const auto j = nlohmann::json::parse(read_text(report));
    Fields got;
    for (const auto& [k, v] : j.items()) got.insert(k);
    Fields want = expected;
    const std::string status = j.value("status", "");
    if (status == "failed" || status == "interrupted") want.insert("error");
    EXPECT_EQ(got, want) << what << ": " << j.dump();
    std::remove(report.c_str());
    return j;
  }

  // Runs held by the pause file, then interrupted: exit 130, progress kept.
  RunResult interrupted(const std::vector<std::string>& args, const std::string& job) {
    std::ofstream(pause_file) << "hold\n";
    BackgroundRun run(args);
    EXPECT_TRUE(wait_until([&] {
      return run_backfill({"status", "--state", db.dst.dsn(), "--job", job})
                 .out.find("paused: pause file") != std::string::npos;
    }));
    run.signal(SIGINT);
    RunResult r = run.wait();
    std::remove(pause_file.c_str());
    return r;
  }

  SourceAndTarget db;
  std::string pause_file, report;
};

TEST_F(Report, CopyHasEveryFieldOnEveryOutcome) {
  // Interrupted before its first chunk, then resumed to the end, then rerun once done.
  auto r = interrupted(copy({"--job", "c", "--pause-file", pause_file}), "c");
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_EQ(expect_fields(kCopyFields, "interrupted")["status"], "interrupted");
  r = run_backfill(copy({"--job", "c"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(expect_fields(kCopyFields, "first run")["rows_total"], 3000);
  r = run_backfill(copy({"--job", "c"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto again = expect_fields(kCopyFields, "already done");
  EXPECT_EQ(again["job_done"], true);
  EXPECT_EQ(again["rows"], 0);
  EXPECT_EQ(again["rows_total"], 3000);
  EXPECT_EQ(again["on_conflict"], "error");
  // A row the target has already under --on-conflict error: the chunk fails, exit 3.
  db.dst.exec("CREATE TABLE t2 (id int PRIMARY KEY, v text)");
  db.dst.exec("INSERT INTO t2 VALUES (7, 'taken')");
  r = run_backfill(with(db.copy("t"), {"--to", "t2"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(expect_fields(kCopyFields, "failed")["status"], "failed");
}

TEST_F(Report, UpdateHasEveryFieldOnEveryOutcome) {
  auto r = interrupted(update({"--job", "u", "--pause-file", pause_file}), "u");
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_EQ(expect_fields(kUpdateFields, "interrupted")["status"], "interrupted");
  r = run_backfill(update({"--job", "u"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(expect_fields(kUpdateFields, "first run")["rows_total"], 3000);
  r = run_backfill(update({"--job", "u"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("is already done (3,000 rows changed"), std::string::npos) << r.out;
  const auto again = expect_fields(kUpdateFields, "already done");
  EXPECT_EQ(again["job_done"], true);
  EXPECT_EQ(again["rows"], 0);
  EXPECT_EQ(again["rows_total"], 3000);
  // A --set that fails on one row's value: exit 3.
  r = run_backfill(update({"--job", "bad"}, "w = (1 / (id - 1700))::text"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(expect_fields(kUpdateFields, "failed")["status"], "failed");
}

TEST_F(Report, VerifyHasEveryFieldOnEveryOutcomeAndSaysWhenItIsInterrupted) {
  ASSERT_EQ(run_backfill(db.copy("t")).exit_code, 0);
  auto r = interrupted(verify({"--job", "v", "--pause-file", pause_file}), "v");
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_NE(r.out.find("interrupted: 0 rows verified in 0 chunks so far"), std::string::npos)
      << r.out;
  EXPECT_NE(r.err.find("the same command continues the pass of job v"), std::string::npos) << r.err;
  EXPECT_EQ(expect_fields(kVerifyFields, "interrupted")["status"], "interrupted");
  r = run_backfill(verify({"--job", "v"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(expect_fields(kVerifyFields, "first run")["rows"], 3000);
  r = run_backfill(verify({"--job", "v"}));  // the next night's pass
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(expect_fields(kVerifyFields, "next pass")["pass_complete"], true);
  r = run_backfill(verify({"--job", "bad", "--where", "1 / (id - 1700) IS NOT NULL"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(expect_fields(kVerifyFields, "failed")["status"], "failed");
}

}  // namespace
}  // namespace backfill::testing
