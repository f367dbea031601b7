#include "engine/plan/key.hpp"

#include <gtest/gtest.h>

namespace backfill {
namespace {

TEST(Key, IntegersCompareNumericallyNotAsText) {
  EXPECT_LT(compare_key_values(KeyType::kInteger, "9", "10"), 0);
  EXPECT_LT(compare_key_values(KeyType::kInteger, "-10", "-9"), 0);
  EXPECT_EQ(compare_key_values(KeyType::kInteger, "42", "42"), 0);
  EXPECT_GT(compare_key_values(KeyType::kInteger, "9223372036854775807", "-9223372036854775808"),
            0);
}

TEST(Key, NumericsCompareByValueWhateverTheScale) {
  EXPECT_EQ(compare_key_values(KeyType::kNumeric, "1.0", "1.00"), 0);
  EXPECT_LT(compare_key_values(KeyType::kNumeric, "9.99", "10"), 0);
  EXPECT_LT(compare_key_values(KeyType::kNumeric, "-10.5", "-10.25"), 0);
  EXPECT_LT(compare_key_values(KeyType::kNumeric, "0.001", "0.01"), 0);
  EXPECT_EQ(compare_key_values(KeyType::kNumeric, "-0", "0"), 0);
  EXPECT_GT(compare_key_values(KeyType::kNumeric, "NaN", "1e308"), 0);  // NaN sorts last
  EXPECT_EQ(compare_key_values(KeyType::kNumeric, "NaN", "NaN"), 0);
}

TEST(Key, TextComparesBytes) {
  EXPECT_LT(compare_key_values(KeyType::kText, "B", "a"), 0);  // "C" order: upper case first
  EXPECT_LT(compare_key_values(KeyType::kText, "z", "é"), 0);  // UTF-8 bytes above ASCII
  EXPECT_LT(compare_key_values(KeyType::kText, "", "a"), 0);
}

TEST(Key, DatesAndTimestampsHandleInfinityAndBC) {
  EXPECT_LT(compare_key_values(KeyType::kDate, "-infinity", "0001-01-01 BC"), 0);
  EXPECT_LT(compare_key_values(KeyType::kDate, "0002-01-01 BC", "0001-01-01 BC"), 0);
  EXPECT_LT(compare_key_values(KeyType::kDate, "0001-01-01 BC", "0001-01-01"), 0);
  EXPECT_LT(compare_key_values(KeyType::kDate, "2024-12-31", "infinity"), 0);
  EXPECT_LT(
      compare_key_values(KeyType::kTimestamp, "2024-01-01 10:00:00+00", "2024-01-01 10:00:00.5+00"),
      0);
}

TEST(Key, CompositeKeysCompareColumnByColumn) {
  std::vector<KeyType> t{KeyType::kInteger, KeyType::kText};
  EXPECT_LT(compare_keys(t, {"1", "z"}, {"2", "a"}), 0);
  EXPECT_LT(compare_keys(t, {"2", "a"}, {"2", "b"}), 0);
  EXPECT_EQ(compare_keys(t, {"2", "b"}, {"2", "b"}), 0);
}

TEST(Key, KnowsWhichTypesItCanChunkOn) {
  for (TypeKind k : {TypeKind::kInt2, TypeKind::kInt4, TypeKind::kInt8, TypeKind::kNumeric,
                     TypeKind::kText, TypeKind::kName, TypeKind::kChar, TypeKind::kUuid,
                     TypeKind::kDate, TypeKind::kTimestamp, TypeKind::kTimestampTz}) {
    EXPECT_TRUE(key_type_of(k).has_value()) << static_cast<int>(k);
  }
  for (TypeKind k : {TypeKind::kFloat8, TypeKind::kJsonb, TypeKind::kOther, TypeKind::kBool,
                     TypeKind::kEnum}) {
    EXPECT_FALSE(key_type_of(k).has_value()) << static_cast<int>(k);
  }
}

TEST(Key, FormatsForMessages) { EXPECT_EQ(format_key({"a", "b"}, {"1", "x"}), "(a, b)=(1, x)"); }

}  // namespace
}  // namespace backfill
