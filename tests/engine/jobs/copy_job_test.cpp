#include "engine/jobs/copy_job.hpp"

#include <gtest/gtest.h>

#include "engine/ledger/memory_ledger.hpp"
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

TEST(CopyJob, OneLaneStillFinishes) {
  Harness h(fakes::FakeTable::range(95));
  h.options.jobs = 1;
  auto stats = h.run();
  EXPECT_EQ(stats.rows, 95);
}

void expect_each_row_once(Harness& h, std::size_t n) {
  auto written = h.sink.written();
  EXPECT_EQ(written.size(), n);
  for (auto& [k, c] : written) EXPECT_EQ(c, 1) << k;
  EXPECT_FALSE(h.sink.out_of_order.load());
}

// 100,000 rows of about 12 bytes: a chunk of several pieces, written while it is read.
TEST(CopyJob, AChunkOfManyPiecesArrivesWholeAndInOrder) {
  Harness h(fakes::FakeTable::range(250000));
  h.options.chunk_rows = 100000;
  h.options.jobs = 2;
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kOk) << stats.error.message();
  EXPECT_EQ(stats.rows, 250000);
  EXPECT_EQ(stats.chunks, 3);
  expect_each_row_once(h, 250000);
}

TEST(CopyJob, HowTheSourceCutsItsStreamDoesNotMatter) {
  for (int per_message : {0, 7, 100000}) {
    Harness h(fakes::FakeTable::range(60000));
    h.options.chunk_rows = 25000;
    h.source.rows_per_message = per_message;
    auto stats = h.run();
    EXPECT_EQ(stats.outcome, JobOutcome::kOk) << per_message << ": " << stats.error.message();
    EXPECT_EQ(stats.rows, 60000) << per_message;
    expect_each_row_once(h, 60000);
  }
}

TEST(CopyJob, AReadLostHalfwayIsRetriedAndEachRowWrittenOnce) {
  Harness h(fakes::FakeTable::range(200000));
  h.options.chunk_rows = 100000;
  h.failures.reads_midway[100000] = {1, Status::transient("connection lost", "08006")};
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kOk) << stats.error.message();
  EXPECT_EQ(stats.retries, 1);
  EXPECT_EQ(h.source.resets.load(), 1);  // the reader, not the writer, reconnected
  EXPECT_EQ(stats.rows, 200000);
  expect_each_row_once(h, 200000);
}

TEST(CopyJob, AWriterLostHalfwayAbandonsTheReadAndTheChunkIsRetried) {
  Harness h(fakes::FakeTable::range(200000));
  h.options.chunk_rows = 100000;
  h.failures.writes_midway[1] = {1, Status::transient("deadlock detected", "40P01")};
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kOk) << stats.error.message();
  EXPECT_EQ(stats.retries, 1);
  EXPECT_EQ(h.source.resets.load(), 0);
  expect_each_row_once(h, 200000);
}

TEST(CopyJob, AChunkAnotherWorkerFinishedIsNotCountedAndItsReadIsDropped) {
  Harness h(fakes::FakeTable::range(300000));
  h.options.chunk_rows = 100000;
  h.sink.done_elsewhere = {2};
  auto stats = h.run();
  EXPECT_EQ(stats.outcome, JobOutcome::kOk) << stats.error.message();
  EXPECT_EQ(stats.chunks, 3);  // of four: three full, one empty past the last key, chunk 2 not ours
  EXPECT_EQ(stats.rows, 200000);
  auto written = h.sink.written();
  EXPECT_EQ(written.size(), 200000u);
  EXPECT_EQ(written.count("150000"), 0u);
}

// A transform that computes (the CPU stage, off the lane's threads): each row twice over.
TEST(CopyJob, ATransformThatComputesRunsOnEveryPieceInOrder) {
  Harness h(fakes::FakeTable::range(120000));
  h.options.chunk_rows = 50000;
  FieldSelectTransform twice({0, 0});
  auto r = run_copy_job(h.source, h.sink, h.ledger, twice, h.options);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->outcome, JobOutcome::kOk) << r->error.message();
  EXPECT_EQ(r->rows, 120000);
  expect_each_row_once(h, 120000);
}

class FailingTransform final : public Transform {
 public:
  Result<std::int64_t> apply_tuples(std::string_view, std::string*) const override {
    return Status::failed("--map \"x = f(y)\": f cannot take 'abc'");
  }
};

TEST(CopyJob, ATransformErrorFailsTheJobNamingTheChunkAndTheMap) {
  Harness h(fakes::FakeTable::range(1000));
  FailingTransform failing;
  auto r = run_copy_job(h.source, h.sink, h.ledger, failing, h.options);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, JobOutcome::kFailed);
  EXPECT_EQ(r->retries, 0);
  EXPECT_NE(r->error.message().find("chunk "), std::string::npos) << r->error.message();
  EXPECT_NE(r->error.message().find("f cannot take 'abc'"), std::string::npos);
  EXPECT_TRUE(h.sink.written().empty());
}

}  // namespace
}  // namespace backfill
