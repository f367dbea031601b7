#include "drivers/postgres/ledger.hpp"

#include <gtest/gtest.h>

#include <set>

#include "drivers/postgres/copy_spec.hpp"
#include "drivers/postgres/source.hpp"
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
  ASSERT_TRUE(l->claim(*w, 100, 2).ok());
  auto again = l->open(job("fp2"), false);
  EXPECT_EQ(again.status().kind(), ErrorKind::kInvalid);
  EXPECT_EQ(*l->open(job("fp2"), true), JobOpen::kNew);
  EXPECT_EQ(t.db.value("SELECT count(*) FROM backfill.chunks"), "0");
}

TEST(PgLedger, TwoWorkersNeverClaimTheSameChunk) {
  Tables t;
  auto a = t.ledger(), b = t.ledger();
  a->open(job(), false);
  b->open(job(), false);
  auto wa = t.walker(), wb = t.walker();
  std::set<std::int64_t> seen;
  for (int i = 0; i < 12; ++i) {
    auto ca = a->claim(*wa, 100, 2);
    auto cb = b->claim(*wb, 100, 2);
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
  auto ca = a->claim(*w, 2000, 1);  // the only chunk
  ASSERT_TRUE(ca.ok() && *ca);
  auto b = t.ledger();
  b->open(job(), false);
  EXPECT_FALSE(*b->claim(*w, 2000, 1)) << "a live worker's chunk was taken";
  int pid = a->connection().backend_pid();
  a.reset();  // the worker dies: its ledger session ends
  ASSERT_TRUE(wait_until([&] {
    return t.db.value("SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) ==
           "0";
  }));
  auto cb = b->claim(*w, 2000, 1);
  ASSERT_TRUE(cb.ok() && *cb);
  EXPECT_EQ((*cb)->id, (*ca)->id);
  EXPECT_EQ((*cb)->attempt, 2);
}

TEST(PgLedger, CompleteReleaseAndProgress) {
  Tables t;
  auto l = t.ledger();
  l->open(job(), false);
  auto w = t.walker();
  auto c1 = *l->claim(*w, 400, 5);
  auto c2 = *l->claim(*w, 400, 5);
  ASSERT_TRUE(l->complete(*c1, ChunkResult::of_rows(400)).is_ok());
  ASSERT_TRUE(l->release(*c2).is_ok());
  auto p = l->progress();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->chunks_done, 1);
  EXPECT_EQ(p->rows_done, 400);
  EXPECT_EQ(p->chunks_running, 0);
  EXPECT_EQ(p->chunks_planned, 3);  // (start, 400], (400, 800], (800, end]
  EXPECT_TRUE(p->plan_done);
  EXPECT_EQ((*l->claim(*w, 400, 5))->id, c2->id);  // released: first in line again
  ASSERT_TRUE(l->finish(JobOutcome::kOk, "").is_ok());
  EXPECT_EQ(t.db.value("SELECT status FROM backfill.jobs"), "running");  // chunks remain
}

}  // namespace
}  // namespace backfill::pg
