#include "engine/transform/transform.hpp"

#include <gtest/gtest.h>

namespace backfill {
namespace {

CopyBatch rows() {
  CopyWriter w;
  for (int i = 0; i < 3; ++i) {
    w.begin_tuple(3);
    w.add_bytes("a" + std::to_string(i));
    w.add_null();
    w.add_bytes("c" + std::to_string(i));
  }
  return w.finish();
}

TEST(Transform, IdentityHandsTheBytesOnAndCountsRows) {
  CopyBatch in = rows();
  std::string bytes = in.bytes;
  in.rows = 0;  // the count is the transform's job
  auto out = IdentityTransform().apply(std::move(in));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->bytes, bytes);
  EXPECT_EQ(out->rows, 3);
}

TEST(Transform, IdentityRejectsACorruptChunk) {
  CopyBatch in = rows();
  in.bytes.pop_back();
  EXPECT_FALSE(IdentityTransform().apply(std::move(in)).ok());
}

TEST(Transform, FieldSelectReordersAndRepeatsFieldsAsBytes) {
  auto out = FieldSelectTransform({2, 0, 1, 0}).apply(rows());
  ASSERT_TRUE(out.ok()) << out.status().message();
  CopyReader r(out->bytes);
  ASSERT_TRUE(r.read_header().is_ok());
  std::vector<CopyField> f;
  ASSERT_TRUE(*r.next(&f));
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(*f[0], "c0");
  EXPECT_EQ(*f[1], "a0");
  EXPECT_FALSE(f[2].has_value());
  EXPECT_EQ(*f[3], "a0");
  EXPECT_EQ(out->rows, 3);
}

TEST(Transform, FieldSelectRejectsAFieldTheRowDoesNotHave) {
  EXPECT_FALSE(FieldSelectTransform({5}).apply(rows()).ok());
}

}  // namespace
}  // namespace backfill
