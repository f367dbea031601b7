#include "engine/ledger/memory_ledger.hpp"

#include <gtest/gtest.h>

#include "engine/plan/chunker.hpp"

#include "tests/engine/fakes.hpp"

namespace backfill {
namespace {

JobSpec spec(const std::string& fp = "fp1") {
  JobSpec s;
  s.name = "job";
  s.command = "copy";
  s.fingerprint = fp;
  return s;
}

TEST(LedgerStateMachine, ClaimsEachChunkOnceThenRunsDry) {
  auto state = std::make_shared<MemoryLedgerState>();
  MemoryLedger l(state, "w1");
  ASSERT_EQ(*l.open(spec(), false), JobOpen::kNew);
  auto t = fakes::FakeTable::range(50);
  fakes::FakeWalker w(t);
  std::set<std::int64_t> ids;
  while (true) {
    auto c = Chunker(l, w, 2).next(10);
    ASSERT_TRUE(c.ok());
    if (!*c) break;
    EXPECT_TRUE(ids.insert((*c)->id).second) << "chunk claimed twice";
    ASSERT_TRUE(l.complete(**c, ChunkResult::of_rows(10)).is_ok());
  }
  EXPECT_EQ(ids.size(), 6u);
  auto p = l.progress();
  EXPECT_TRUE(p->plan_done);
  EXPECT_EQ(p->chunks_done, 6);
  ASSERT_TRUE(l.finish(JobOutcome::kOk, "").is_ok());
  EXPECT_EQ(*l.open(spec(), false), JobOpen::kAlreadyDone);
}

TEST(LedgerStateMachine, TheLowWatermarkIsTheEndOfTheDonePrefix) {
  auto state = std::make_shared<MemoryLedgerState>();
  MemoryLedger l(state, "w1");
  ASSERT_EQ(*l.open(spec(), false), JobOpen::kNew);
  auto t = fakes::FakeTable::range(50);
  fakes::FakeWalker w(t);
  Chunker chunker(l, w, 6);
  std::vector<Chunk> c;
  while (auto next = *chunker.next(10)) c.push_back(*next);
  ASSERT_EQ(c.size(), 6u);
  auto watermark = [&] {
    auto p = *l.progress();
    return p.low_watermark ? (*p.low_watermark)[0] : std::string("none");
  };
  EXPECT_EQ(watermark(), "none");
  for (int i : {0, 1, 3}) ASSERT_TRUE(l.complete(c[i], ChunkResult::of_rows(10)).is_ok());
  EXPECT_EQ(watermark(), "20");  // the third chunk is still open
  ASSERT_TRUE(l.complete(c[2], ChunkResult::of_rows(10)).is_ok());
  EXPECT_EQ(watermark(), "40");
  for (int i : {4, 5}) ASSERT_TRUE(l.complete(c[i], ChunkResult::of_rows(10)).is_ok());
  EXPECT_EQ(watermark(), "none");  // all done: the last chunk is open-ended
  EXPECT_TRUE(l.progress()->complete());
}

TEST(LedgerStateMachine, AReleasedChunkIsClaimedAgainFirst) {
  auto state = std::make_shared<MemoryLedgerState>();
  MemoryLedger l(state, "w1");
  l.open(spec(), false);
  auto t = fakes::FakeTable::range(50);
  fakes::FakeWalker w(t);
  auto c1 = *Chunker(l, w, 5).next(10);
  auto c2 = *Chunker(l, w, 5).next(10);
  ASSERT_TRUE(c1.has_value() && c2.has_value());
  ASSERT_TRUE(l.release(*c1).is_ok());
  auto again = *Chunker(l, w, 5).next(10);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->id, c1->id);
  EXPECT_NE(c2->id, c1->id);
}

TEST(LedgerStateMachine, ARunningChunkOfALiveWorkerIsNotClaimedByAnother) {
  auto state = std::make_shared<MemoryLedgerState>();
  fakes::ManualClock clock;
  MemoryLedger a(state, "a", clock), b(state, "b", clock);
  a.open(spec(), false);
  b.open(spec(), false);
  auto t = fakes::FakeTable::range(20);
  fakes::FakeWalker w(t);
  auto ca = *Chunker(a, w, 1).next(10);
  auto cb = *Chunker(b, w, 1).next(10);
  ASSERT_TRUE(ca && cb);
  EXPECT_NE(ca->id, cb->id);
}

TEST(LedgerStateMachine, AnExpiredLeaseMakesTheChunkClaimableAndCountsTheAttempt) {
  auto state = std::make_shared<MemoryLedgerState>();
  fakes::ManualClock clock;
  MemoryLedger a(state, "a", clock, std::chrono::seconds(10));
  MemoryLedger b(state, "b", clock, std::chrono::seconds(10));
  a.open(spec(), false);
  b.open(spec(), false);
  fakes::FakeTable t({1});
  fakes::FakeWalker w(t);
  auto ca = *Chunker(a, w, 1).next(10);  // the only chunk
  ASSERT_TRUE(ca);
  EXPECT_FALSE(*Chunker(b, w, 1).next(10));
  clock.advance(std::chrono::seconds(11));
  auto cb = *Chunker(b, w, 1).next(10);
  ASSERT_TRUE(cb);
  EXPECT_EQ(cb->id, ca->id);
  EXPECT_EQ(cb->attempt, 2);
  // The worker that lost its lease cannot complete the chunk any more.
  EXPECT_EQ(a.complete(*ca, ChunkResult::of_rows(1)).kind(), ErrorKind::kConflict);
  EXPECT_TRUE(b.complete(*cb, ChunkResult::of_rows(1)).is_ok());
}

TEST(LedgerStateMachine, ADeadWorkersChunksAreClaimableAtOnce) {
  auto state = std::make_shared<MemoryLedgerState>();
  MemoryLedger a(state, "a"), b(state, "b");
  a.open(spec(), false);
  b.open(spec(), false);
  fakes::FakeTable t({1});
  fakes::FakeWalker w(t);
  ASSERT_TRUE(*Chunker(a, w, 1).next(10));
  state->dead_workers.push_back("a");
  EXPECT_TRUE(*Chunker(b, w, 1).next(10));
}

TEST(LedgerStateMachine, DifferentArgumentsAreRefusedUnlessRestarted) {
  auto state = std::make_shared<MemoryLedgerState>();
  MemoryLedger l(state, "w");
  l.open(spec("fp1"), false);
  auto again = l.open(spec("fp2"), false);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(*l.open(spec("fp2"), true), JobOpen::kNew);
}

TEST(LedgerStateMachine, AFailedRunLeavesTheJobResumable) {
  auto state = std::make_shared<MemoryLedgerState>();
  MemoryLedger l(state, "w");
  l.open(spec(), false);
  auto t = fakes::FakeTable::range(30);
  fakes::FakeWalker w(t);
  auto c = *Chunker(l, w, 1).next(10);
  l.complete(*c, ChunkResult::of_rows(10));
  l.finish(JobOutcome::kFailed, "boom");
  EXPECT_EQ(*l.open(spec(), false), JobOpen::kResumed);
  EXPECT_EQ(l.progress()->chunks_done, 1);
}

}  // namespace
}  // namespace backfill
