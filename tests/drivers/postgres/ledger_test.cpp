#include "drivers/postgres/ledger.hpp"

#include <gtest/gtest.h>

#include <set>

#include "drivers/postgres/copy_spec.hpp"
#include "drivers/postgres/source.hpp"
#include "engine/plan/chunker.hpp"
#include "tests/support/pg_fixture.hpp"

namespace backfill::pg {
namespace {

using backfill::testing::TestDatabase;
using backfill::testing::wait_until;

struct Tables {
  Tables() {
    db.exec("CREATE SCHEMA s");
    db.exec("CREATE TABLE s.t (id bigint PRIMARY KEY, v text)");
    db.exec("CREATE TABLE public.t (id bigint PRIMARY KEY, v text)");
    db.exec("INSERT INTO s.t SELECT i, 'v' || i FROM generate_series(1, 1000) i");
    auto a = PgConnection::connect(db.dsn(), {});
    auto b = PgConnection::connect(db.dsn(), {});
    CopyRequest req;
    req.table = "s.t";
    req.to = "public.t";
    auto s = plan_copy(**a, **b, req);
    EXPECT_TRUE(s.ok()) << s.status().message();
    spec = std::make_shared<const CopySpec>(*s);
  }
  std::unique_ptr<KeyWalker> walker() {
    return std::make_unique<PgKeyWalker>(std::move(PgConnection::connect(db.dsn(), {})).value(),
                                         spec);
  }
  std::unique_ptr<PgLedger> ledger() {
    auto l = PgLedger::connect(db.dsn(), {});
    EXPECT_TRUE(l.ok()) << l.status().message();
    return std::move(l).value();
  }
  TestDatabase db;
  std::shared_ptr<const CopySpec> spec;
};

JobSpec job(const std::string& fp = "fp") { return JobSpec{"j", "copy", fp, "test job", 100}; }

// Regression: `SELECT id::text ... ORDER BY id` sorted by the text output column, so the
// first chunk of an integer key ended at 108998 instead of 10000.
TEST(PgKeyWalker, BoundariesFollowTheKeysOrderNotItsTextOrder) {
  Tables t;
  auto w = t.walker();
  PlanCursor c;
  auto ranges = plan_chunks(*w, &c, 100, 3);
  ASSERT_TRUE(ranges.ok()) << ranges.status().message();
  EXPECT_EQ((*(*ranges)[0].hi)[0], "100");
  EXPECT_EQ((*(*ranges)[1].hi)[0], "200");
  EXPECT_EQ((*(*ranges)[2].hi)[0], "300");
}

// A walker that, at every step, checks from another session that the job's row is free:
// the planner must not walk the source while it holds the ledger's lock.
class LockProbingWalker : public KeyWalker {
 public:
  LockProbingWalker(std::unique_ptr<KeyWalker> inner, PgConnection& other)
      : inner_(std::move(inner)), other_(other) {}
  Result<std::optional<Key>> boundary_after(const std::optional<Key>& after,
                                            std::int64_t rows) override {
    // NOWAIT: a lock held by the planner fails at once (55P03) instead of waiting.
    Status st = other_.transaction([&] {
      return other_.exec("SELECT 1 FROM backfill.jobs WHERE name = 'j' FOR UPDATE NOWAIT");
    });
    if (!st.is_ok()) locked_seen = true;
    ++steps;
    return inner_->boundary_after(after, rows);
  }
  bool locked_seen = false;
  int steps = 0;

 private:
  std::unique_ptr<KeyWalker> inner_;
  PgConnection& other_;
};

TEST(PgLedger, PlanningWalksTheKeyWithoutHoldingTheJobsRow) {
  Tables t;
  auto l = t.ledger();
  ASSERT_EQ(*l->open(job(), false), JobOpen::kNew);
  auto other = PgConnection::connect(t.db.dsn(), {});
  ASSERT_TRUE(other.ok());
  LockProbingWalker w(t.walker(), **other);
  Chunker chunker(*l, w, 3);
  int chunks = 0;
  while (true) {
    auto c = chunker.next(100);
    ASSERT_TRUE(c.ok()) << c.status().message();
    if (!*c) break;
    ASSERT_TRUE(l->complete(**c, ChunkResult::of_rows(100)).ok());
    ++chunks;
  }
  EXPECT_EQ(chunks, 11);  // 1,000 rows in ten chunks of 100, and the open-ended last
  EXPECT_GE(w.steps, 10);
  EXPECT_FALSE(w.locked_seen) << "the walker ran while the job's row was locked";
}

TEST(PgLedger, CreatesItsSchemaAndTheJob) {
  Tables t;
  auto l = t.ledger();
  EXPECT_EQ(*l->open(job(), false), JobOpen::kNew);
  EXPECT_EQ(t.db.value("SELECT description FROM backfill.jobs WHERE name = 'j'"), "test job");
  EXPECT_EQ(*l->open(job(), false), JobOpen::kResumed);
}

TEST(PgLedger, RefusesAJobWithOtherArgumentsUnlessRestarted) {
  Tables t;
  auto l = t.ledger();
  l->open(job("fp1"), false);
  auto w = t.walker();
  ASSERT_TRUE(Chunker(*l, *w, 2).next(100).ok());
  auto again = l->open(job("fp2"), false);
  EXPECT_EQ(again.status().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(*l->open(job("fp2"), true), JobOpen::kNew);
  EXPECT_EQ(t.db.value("SELECT count(*) FROM backfill.chunks"), "0");
}

// The low watermark follows the key, not the chunk ids: a split's upper half (a new, higher
// id) sits between its lower half and the next chunk.
TEST(PgLedger, TheLowWatermarkIsTheEndOfTheDonePrefixInKeyOrderSplitsIncluded) {
  Tables t;
  auto l = t.ledger();
  ASSERT_EQ(*l->open(job(), false), JobOpen::kNew);
  auto w = t.walker();
  Chunker chunker(*l, *w, 3);
  auto watermark = [&]() -> std::string {
    auto p = l->progress();
    EXPECT_TRUE(p.ok()) << p.status().message();
    return p->low_watermark ? (*p->low_watermark)[0] : "none";
  };
  auto c1 = **chunker.next(100), c2 = **chunker.next(100), c3 = **chunker.next(100);
  EXPECT_EQ(watermark(), "none");
  ASSERT_TRUE(l->complete(c1, ChunkResult::of_rows(100)).ok());
  EXPECT_EQ(watermark(), "100");
  ASSERT_TRUE(l->split(c2, Key{"150"}).ok());  // (100, 150] keeps its id, (150, 200] is new
  ASSERT_TRUE(l->complete(c3, ChunkResult::of_rows(100)).ok());
  EXPECT_EQ(watermark(), "100");
  auto lower = **chunker.next(100);
  EXPECT_EQ(lower.id, c2.id);
  ASSERT_TRUE(l->complete(lower, ChunkResult::of_rows(50)).ok());
  EXPECT_EQ(watermark(), "150");
  auto upper = **chunker.next(100);
  EXPECT_GT(upper.id, c3.id);
  EXPECT_EQ((*upper.range.lo)[0], "150");
  ASSERT_TRUE(l->complete(upper, ChunkResult::of_rows(50)).ok());
  EXPECT_EQ(watermark(), "300");  // through c3, done before its neighbour below
}

TEST(PgLedger, TwoWorkersNeverClaimTheSameChunk) {
  Tables t;
  auto a = t.ledger(), b = t.ledger();
  a->open(job(), false);
  b->open(job(), false);
  auto wa = t.walker(), wb = t.walker();
  std::set<std::int64_t> seen;
  for (int i = 0; i < 12; ++i) {
    auto ca = Chunker(*a, *wa, 2).next(100);
    auto cb = Chunker(*b, *wb, 2).next(100);
    ASSERT_TRUE(ca.ok() && cb.ok());
    for (const std::optional<Chunk>& c : {ca.value(), cb.value()}) {
      if (!c) continue;
      EXPECT_TRUE(seen.insert(c->id).second) << "chunk " << c->id << " claimed twice";
    }
  }
  EXPECT_EQ(seen.size(), 11u);  // 1000 rows in chunks of 100, and the open end
}

TEST(PgLedger, ChunksOfAWorkerWhoseSessionEndedAreClaimableAtOnce) {
  Tables t;
  auto a = t.ledger();
  a->open(job(), false);
  auto w = t.walker();
  auto ca = Chunker(*a, *w, 1).next(2000);  // the only chunk
  ASSERT_TRUE(ca.ok() && *ca);
  auto b = t.ledger();
  b->open(job(), false);
  EXPECT_FALSE(*Chunker(*b, *w, 1).next(2000)) << "a live worker's chunk was taken";
  int pid = a->connection().backend_pid();
  a.reset();  // the worker dies: its ledger session ends
  ASSERT_TRUE(wait_until([&] {
    return t.db.value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) ==
           "0";
  }));
  auto cb = Chunker(*b, *w, 1).next(2000);
  ASSERT_TRUE(cb.ok() && *cb);
  EXPECT_EQ((*cb)->id, (*ca)->id);
  EXPECT_EQ((*cb)->attempt, 2);
}

TEST(PgLedger, CompleteReleaseAndProgress) {
  Tables t;
  auto l = t.ledger();
  l->open(job(), false);
  auto w = t.walker();
  auto c1 = *Chunker(*l, *w, 5).next(400);
  auto c2 = *Chunker(*l, *w, 5).next(400);
  ASSERT_TRUE(l->complete(*c1, ChunkResult::of_rows(400)).is_ok());
  ASSERT_TRUE(l->release(*c2).is_ok());
  auto p = l->progress();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->chunks_done, 1);
  EXPECT_EQ(p->rows_done, 400);
  EXPECT_EQ(p->chunks_running, 0);
  EXPECT_EQ(p->chunks_planned, 3);  // (start, 400], (400, 800], (800, end]
  EXPECT_TRUE(p->plan_done);
  EXPECT_EQ((*Chunker(*l, *w, 5).next(400))->id, c2->id);  // released: first in line again
  ASSERT_TRUE(l->finish(JobOutcome::kOk, "").is_ok());
  EXPECT_EQ(t.db.value("SELECT status FROM backfill.jobs"), "running");  // chunks remain
}

}  // namespace
}  // namespace backfill::pg
