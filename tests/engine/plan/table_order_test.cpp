#include "engine/plan/table_order.hpp"

#include <gtest/gtest.h>

namespace backfill {
namespace {

using Order = std::vector<std::size_t>;

TEST(TableOrder, ReferencedTablesComeFirstAndTiesKeepTheirIndexOrder) {
  // 0 -> 2 -> 1 (0 references 2, 2 references 1); 3 independent.
  TableOrder o = order_by_references(4, {{0, 2}, {2, 1}, {0, 1}});
  EXPECT_EQ(o.order, (Order{1, 2, 0, 3}));
  EXPECT_TRUE(o.cycles.empty());
  EXPECT_EQ(o.waits_for[0], (Order{1, 2}));
  EXPECT_TRUE(o.waits_for[3].empty());
}

TEST(TableOrder, CyclesAndSelfReferencesAreNamedAndStillOrderedAmongTheRest) {
  // 1 <-> 2 is a cycle that references 0; 3 references itself and 1.
  TableOrder o = order_by_references(4, {{1, 2}, {2, 1}, {2, 0}, {3, 3}, {3, 1}});
  EXPECT_EQ(o.order, (Order{0, 1, 2, 3}));
  ASSERT_EQ(o.cycles.size(), 2u);
  EXPECT_EQ(o.cycles[0], (Order{1, 2}));
  EXPECT_EQ(o.cycles[1], (Order{3}));
  // A cycle's members do not wait for each other, only for what lies outside it.
  EXPECT_EQ(o.waits_for[2], (Order{0}));
  EXPECT_TRUE(o.waits_for[1].empty());
  EXPECT_EQ(o.waits_for[3], (Order{1}));
}

TEST(TableOrder, ALongerCycleIsOneGroup) {
  TableOrder o = order_by_references(5, {{0, 1}, {1, 2}, {2, 0}, {4, 0}});
  ASSERT_EQ(o.cycles.size(), 1u);
  EXPECT_EQ(o.cycles[0], (Order{0, 1, 2}));
  EXPECT_EQ(o.order, (Order{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace backfill
