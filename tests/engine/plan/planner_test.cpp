#include "engine/plan/planner.hpp"

#include <gtest/gtest.h>

#include "tests/engine/fakes.hpp"

namespace backfill {
namespace {

std::vector<ChunkRange> plan_all(fakes::FakeTable& t, std::int64_t rows) {
  fakes::FakeWalker w(t);
  PlanCursor c;
  std::vector<ChunkRange> all;
  while (!c.done) {
    auto r = plan_chunks(w, &c, rows, 3);
    EXPECT_TRUE(r.ok());
    for (auto& x : *r) all.push_back(x);
  }
  return all;
}

// Every key falls in exactly one chunk, and the chunks tile the key space.
void expect_tiles(fakes::FakeTable& t, const std::vector<ChunkRange>& chunks) {
  ASSERT_FALSE(chunks.empty());
  EXPECT_FALSE(chunks.front().lo.has_value());
  EXPECT_FALSE(chunks.back().hi.has_value());
  for (std::size_t i = 1; i < chunks.size(); ++i) EXPECT_EQ(chunks[i].lo, chunks[i - 1].hi);
  std::size_t covered = 0;
  for (auto& c : chunks) covered += t.in(c).size();
  EXPECT_EQ(covered, t.keys().size());
}

TEST(ChunkPlanner, CutsChunksOfTheRequestedSize) {
  auto t = fakes::FakeTable::range(1000);
  auto chunks = plan_all(t, 100);
  ASSERT_EQ(chunks.size(), 11u);  // ten full chunks and the open end
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) EXPECT_EQ(t.in(chunks[i]).size(), 100u);
  EXPECT_EQ(t.in(chunks.back()).size(), 0u);
  expect_tiles(t, chunks);
}

TEST(ChunkPlanner, HandlesKeyGapsByCountingRowsNotKeys) {
  fakes::FakeTable t({1, 2, 3, 1000, 1001, 50000, 50001, 50002, 9000000});
  auto chunks = plan_all(t, 2);
  for (std::size_t i = 0; i + 1 < chunks.size(); ++i) EXPECT_EQ(t.in(chunks[i]).size(), 2u);
  expect_tiles(t, chunks);
}

TEST(ChunkPlanner, AnEmptyTableIsOneOpenChunk) {
  fakes::FakeTable t({});
  auto chunks = plan_all(t, 100);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_FALSE(chunks[0].lo.has_value());
  EXPECT_FALSE(chunks[0].hi.has_value());
}

TEST(ChunkPlanner, AOneRowTableIsCopiedByItsOnlyChunk) {
  fakes::FakeTable t({7});
  auto chunks = plan_all(t, 100);
  expect_tiles(t, chunks);
}

TEST(ChunkPlanner, PlansNoMoreThanAskedAndResumesFromTheCursor) {
  auto t = fakes::FakeTable::range(1000);
  fakes::FakeWalker w(t);
  PlanCursor c;
  auto first = plan_chunks(w, &c, 10, 4);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->size(), 4u);
  EXPECT_EQ((*c.after)[0], "40");
  auto next = plan_chunks(w, &c, 10, 1);
  EXPECT_EQ((*(*next)[0].lo)[0], "40");
  EXPECT_EQ((*(*next)[0].hi)[0], "50");
}

TEST(ChunkPlanner, RejectsAZeroChunkSize) {
  auto t = fakes::FakeTable::range(10);
  fakes::FakeWalker w(t);
  PlanCursor c;
  EXPECT_EQ(plan_chunks(w, &c, 0, 1).status().kind(), ErrorKind::kInvalid);
}

}  // namespace
}  // namespace backfill
