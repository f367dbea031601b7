#include "engine/copy_job.hpp"

#include <gtest/gtest.h>

#include "engine/memory_ledger.hpp"
#include "tests/engine/fakes.hpp"

namespace backfill {
namespace {

struct Harness {
  explicit Harness(fakes::FakeTable t)
      : table(std::move(t)), source(table, &failures), sink(&failures) {
    ledger.open(JobSpec{"job", "copy", "fp", "", 10}, false);
    options.chunk_rows = 10;
    options.jobs = 3;
    options.progress = ProgressMode::kNone;
    options.retry.base_delay = std::chrono::milliseconds(1);
  }
  CopyJobStats run() {
    auto r = run_copy_job(source, sink, ledger, transform, options);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : CopyJobStats{};
  }
  fakes::FakeTable table;
  fakes::FakeFailures failures;
  fakes::FakeSource source;
  fakes::FakeSink sink;
  std::shared_ptr<MemoryLedgerState> state = std::make_shared<MemoryLedgerState>();
  MemoryLedger ledger{state, "w"};
  IdentityTransform transform;
  CopyJobOptions options;
};

TEST(CopyJob, CopiesEveryRowExactlyOnce) {
  Harness h(fakes::FakeTable::range(1234));
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kOk);
  EXPECT_EQ(stats.rows, 1234);
  EXPECT_EQ(stats.rows_written, 1234);
  auto written = h.sink.written();
  ASSERT_EQ(written.size(), 1234u);
  for (auto& [k, n] : written) EXPECT_EQ(n, 1) << k;
  EXPECT_TRUE(stats.ledger.plan_done);
  EXPECT_EQ(stats.ledger.chunks_done, stats.ledger.chunks_planned);
}

TEST(CopyJob, RetriesTransientFailuresAndCountsThem) {
  Harness h(fakes::FakeTable::range(100));
  h.failures.reads[30] = {2, Status::transient("connection lost", "08006")};
  h.failures.writes[5] = {1, Status::transient("deadlock detected", "40P01")};
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kOk) << stats.error.message();
  EXPECT_EQ(stats.retries, 3);
  EXPECT_EQ(h.source.resets.load(), 2);
  EXPECT_EQ(h.sink.written().size(), 100u);
}

TEST(CopyJob, GivesUpAfterTheRetryBudgetAndKeepsTheChunkForTheNextRun) {
  Harness h(fakes::FakeTable::range(100));
  h.options.retry.max_attempts = 3;
  h.failures.writes[4] = {1000, Status::transient("lock timeout", "55P03")};
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kFailed);
  EXPECT_NE(stats.error.message().find("lock timeout"), std::string::npos);
  EXPECT_NE(stats.error.message().find("chunk 4"), std::string::npos);
  // The failed chunk went back to pending, so a second run finishes the job.
  h.failures.writes.clear();
  auto again = h.run();
  EXPECT_EQ(again.outcome, JobOutcome::kOk) << again.error.message();
  auto written = h.sink.written();
  EXPECT_EQ(written.size(), 100u);
  for (auto& [k, n] : written) EXPECT_EQ(n, 1) << k;
}

TEST(CopyJob, APermanentErrorFailsWithoutRetrying) {
  Harness h(fakes::FakeTable::range(50));
  h.failures.writes[2] = {1, Status::conflict("duplicate key value (id)=(15)", "23505")};
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kFailed);
  EXPECT_EQ(stats.retries, 0);
  EXPECT_EQ(stats.error.sqlstate(), "23505");
}

TEST(CopyJob, AnInterruptStopsClaimingAndLeavesTheRestForTheNextRun) {
  Harness h(fakes::FakeTable::range(100));
  std::atomic<bool> stop{true};
  h.options.interrupt = &stop;
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kInterrupted);
  EXPECT_EQ(stats.rows, 0);
  stop = false;
  auto again = h.run();
  EXPECT_EQ(again.outcome, JobOutcome::kOk);
  EXPECT_EQ(h.sink.written().size(), 100u);
}

TEST(CopyJob, AnEmptyTableFinishesWithOneEmptyChunk) {
  Harness h(fakes::FakeTable({}));
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kOk);
  EXPECT_EQ(stats.rows, 0);
  EXPECT_EQ(stats.chunks, 1);
}

TEST(CopyJob, OneChunkInFlightStillFinishes) {
  Harness h(fakes::FakeTable::range(95));
  h.options.jobs = 1;
  h.options.max_in_flight = 1;
  auto stats = h.run();
  EXPECT_EQ(stats.rows, 95);
}

}  // namespace
}  // namespace backfill
