#include "engine/checksum/row_diff.hpp"

#include <gtest/gtest.h>

namespace backfill {
namespace {

std::vector<KeyedHash> rows(std::vector<std::pair<std::string, std::uint64_t>> r) {
  std::vector<KeyedHash> out;
  for (auto& [k, h] : r) out.push_back({Key{k}, h});
  return out;
}

TEST(RowDiff, EqualListsInAnyOrderHaveNoDifferences) {
  EXPECT_TRUE(diff_rows(rows({{"1", 10}, {"2", 20}}), rows({{"2", 20}, {"1", 10}})).empty());
}

TEST(RowDiff, NamesMissingExtraAndDifferentRows) {
  auto d =
      diff_rows(rows({{"1", 10}, {"2", 20}, {"3", 30}}), rows({{"2", 21}, {"3", 30}, {"4", 40}}));
  EXPECT_EQ(d, (std::vector<RowDifference>{{{"1"}, DiffKind::kMissing},
                                           {{"2"}, DiffKind::kDifferent},
                                           {{"4"}, DiffKind::kExtra}}));
}

TEST(RowDiff, AChangedKeyIsOneMissingAndOneExtra) {
  auto d = diff_rows(rows({{"5", 50}}), rows({{"6", 50}}));
  EXPECT_EQ(d,
            (std::vector<RowDifference>{{{"5"}, DiffKind::kMissing}, {{"6"}, DiffKind::kExtra}}));
}

TEST(RowDiff, ADuplicatedTargetRowIsExtra) {
  auto d = diff_rows(rows({{"7", 70}}), rows({{"7", 70}, {"7", 70}}));
  EXPECT_EQ(d, (std::vector<RowDifference>{{{"7"}, DiffKind::kExtra}}));
}

TEST(RowDiff, CompositeKeysPairUpByEveryColumn) {
  std::vector<KeyedHash> s{{Key{"1", "a"}, 1}, {Key{"1", "b"}, 2}};
  std::vector<KeyedHash> t{{Key{"1", "b"}, 2}, {Key{"1", "a"}, 1}};
  EXPECT_TRUE(diff_rows(s, t).empty());
  t[0].key = Key{"1", "c"};
  EXPECT_EQ(diff_rows(s, t).size(), 2u);
}

}  // namespace
}  // namespace backfill
