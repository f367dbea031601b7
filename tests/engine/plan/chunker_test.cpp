// The chunker against the in-memory ledger: it walks outside the ledger's lock, and a walk
// that another worker beat is dropped for that worker's chunks, never recorded twice.
#include "engine/plan/chunker.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "engine/ledger/memory_ledger.hpp"
#include "tests/engine/fakes.hpp"

namespace backfill {
namespace {

JobSpec spec() {
  JobSpec s;
  s.name = "job";
  s.command = "copy";
  s.fingerprint = "fp";
  return s;
}

// Runs `before` ahead of each step of the walk it wraps.
class HookedWalker : public KeyWalker {
 public:
  HookedWalker(KeyWalker& inner, std::function<void()> before)
      : inner_(inner), before_(std::move(before)) {}
  Result<std::optional<Key>> boundary_after(const std::optional<Key>& after,
                                            std::int64_t rows) override {
    before_();
    return inner_.boundary_after(after, rows);
  }

 private:
  KeyWalker& inner_;
  std::function<void()> before_;
};

TEST(Chunker, WalksTheKeyOutsideTheLedgersLock) {
  auto state = std::make_shared<MemoryLedgerState>();
  MemoryLedger l(state, "w1");
  ASSERT_EQ(*l.open(spec(), false), JobOpen::kNew);
  auto t = fakes::FakeTable::range(50);
  fakes::FakeWalker inner(t);
  bool locked = false;
  HookedWalker w(inner, [&] {
    if (state->mu.try_lock()) {
      state->mu.unlock();
    } else {
      locked = true;
    }
  });
  Chunker chunker(l, w, 2);
  for (int i = 0; i < 6; ++i) {  // five of ten rows, and the open-ended last
    auto c = chunker.next(10);
    ASSERT_TRUE(c.ok() && *c);
    ASSERT_TRUE(l.complete(**c, ChunkResult::of_rows(10)).ok());
  }
  EXPECT_FALSE(*chunker.next(10));
  EXPECT_FALSE(locked) << "the walk ran under the ledger's lock";
}

TEST(Chunker, AWalkAnotherWorkerBeatIsDroppedAndItsChunksAreClaimedInstead) {
  auto state = std::make_shared<MemoryLedgerState>();
  MemoryLedger a(state, "a"), b(state, "b");
  ASSERT_EQ(*a.open(spec(), false), JobOpen::kNew);
  ASSERT_EQ(*b.open(spec(), false), JobOpen::kResumed);
  auto t = fakes::FakeTable::range(50);
  fakes::FakeWalker wb(t), inner(t);
  Chunker chunker_b(b, wb, 2);
  std::optional<Chunk> first_b;
  bool raced = false;
  // Worker b plans and claims while worker a is half-way through its own walk.
  HookedWalker wa(inner, [&] {
    if (raced) return;
    raced = true;
    first_b = *chunker_b.next(10);
  });
  Chunker chunker_a(a, wa, 2);
  auto first_a = chunker_a.next(10);
  ASSERT_TRUE(first_a.ok() && *first_a && first_b);
  EXPECT_EQ((*first_b->range.hi)[0], "10");
  EXPECT_EQ((*(*first_a)->range.lo)[0], "10") << "a took b's second chunk, not its own walk";

  // Everything claimed to the end: the chunks tile the key range once, without overlap.
  std::vector<Chunk> all{*first_b, **first_a};
  while (auto c = *chunker_a.next(10)) all.push_back(*c);
  // In key order: by each chunk's lower bound, the first chunk (no bound) first.
  std::map<std::int64_t, Chunk> by_lo;
  for (const Chunk& c : all) by_lo.emplace(c.range.lo ? std::stoll((*c.range.lo)[0]) : -1, c);
  all.clear();
  for (auto& [lo, c] : by_lo) all.push_back(c);
  ASSERT_EQ(all.size(), 6u);
  for (std::size_t i = 1; i < all.size(); ++i) {
    ASSERT_TRUE(all[i - 1].range.hi && all[i].range.lo);
    EXPECT_EQ(*all[i - 1].range.hi, *all[i].range.lo);
  }
  EXPECT_FALSE(all.back().range.hi);  // the last chunk is open-ended
}

}  // namespace
}  // namespace backfill
