#include "engine/format/copy_format.hpp"

#include <gtest/gtest.h>

namespace backfill {
namespace {

CopyBatch sample() {
  CopyWriter w;
  w.begin_tuple(3);
  w.add_bytes(std::string("\x00\x00\x00\x2a", 4));
  w.add_null();
  w.add_bytes("héllo");
  w.begin_tuple(3);
  w.add_bytes(std::string("\x00\x00\x00\x2b", 4));
  w.add_bytes("");
  w.add_bytes(std::string(100000, 'x'));
  return w.finish();
}

TEST(CopyFormat, WriterThenReaderRoundTripsFieldsNullsAndEmptyValues) {
  CopyBatch b = sample();
  EXPECT_EQ(b.rows, 2);
  CopyReader r(b.bytes);
  ASSERT_TRUE(r.read_header().is_ok());
  std::vector<CopyField> f;
  auto more = r.next(&f);
  ASSERT_TRUE(more.ok());
  ASSERT_TRUE(*more);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(*f[0], std::string("\x00\x00\x00\x2a", 4));
  EXPECT_FALSE(f[1].has_value());
  EXPECT_EQ(*f[2], "héllo");
  more = r.next(&f);
  ASSERT_TRUE(more.ok() && *more);
  ASSERT_TRUE(f[1].has_value());
  EXPECT_EQ(f[1]->size(), 0u);  // empty is not NULL
  EXPECT_EQ(f[2]->size(), 100000u);
  more = r.next(&f);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_TRUE(r.at_end());
}

TEST(CopyFormat, CountsRowsOfAnEmptyStream) {
  CopyBatch b = CopyWriter().finish();
  EXPECT_EQ(b.rows, 0);
  EXPECT_EQ(b.bytes.size(), kCopyHeaderSize + kCopyTrailerSize);
  auto n = count_copy_rows(b.bytes);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
}

TEST(CopyFormat, CountRowsAgreesWithTheWriter) {
  CopyBatch b = sample();
  auto n = count_copy_rows(b.bytes);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 2);
}

TEST(CopyFormat, RawTuplesPassThroughByteForByte) {
  CopyBatch in = sample();
  CopyReader r(in.bytes);
  ASSERT_TRUE(r.read_header().is_ok());
  CopyWriter w;
  std::vector<CopyField> f;
  while (*r.next(&f)) w.add_raw_tuple(r.last_tuple());
  CopyBatch out = w.finish();
  EXPECT_EQ(out.bytes, in.bytes);
  EXPECT_EQ(out.rows, 2);
}

// Error paths: every truncation point and the usual corruptions are rejected with a
// message, never read past the buffer (run under ASan to be sure).
TEST(CopyFormat, RejectsEveryTruncation) {
  CopyBatch b = sample();
  for (std::size_t cut = 0; cut < b.bytes.size(); cut += (cut < 200 ? 1 : 997)) {
    std::string_view part(b.bytes.data(), cut);
    EXPECT_FALSE(count_copy_rows(part).ok()) << "cut at " << cut;
    CopyReader r(part);
    bool failed = !r.read_header().is_ok();
    std::vector<CopyField> f;
    while (!failed) {
      auto more = r.next(&f);
      if (!more.ok())
        failed = true;
      else if (!*more)
        break;
    }
    EXPECT_TRUE(failed) << "cut at " << cut;
  }
}

TEST(CopyFormat, RejectsABadSignature) {
  CopyBatch b = sample();
  b.bytes[0] = 'X';
  auto n = count_copy_rows(b.bytes);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("signature"), std::string::npos);
}

TEST(CopyFormat, RejectsANegativeFieldLength) {
  CopyWriter w;
  w.begin_tuple(1);
  std::string bytes = w.finish().bytes;
  // Replace the trailer with a field length of -7 and a trailer.
  bytes.resize(kCopyHeaderSize + 2);
  put_be32(&bytes, -7);
  put_be16(&bytes, -1);
  EXPECT_FALSE(count_copy_rows(bytes).ok());
}

TEST(CopyFormat, RejectsBytesAfterTheTrailer) {
  CopyBatch b = sample();
  b.bytes += "junk";
  EXPECT_FALSE(count_copy_rows(b.bytes).ok());
}

TEST(CopyFormat, RejectsTuplesOfDifferentWidths) {
  CopyWriter w;
  w.begin_tuple(1);
  w.add_bytes("a");
  w.begin_tuple(2);
  w.add_bytes("a");
  w.add_bytes("b");
  EXPECT_FALSE(count_copy_rows(w.finish().bytes).ok());
}

// Regression (copy_reader_fuzz): the reader took tuples of different widths that
// count_copy_rows() refuses, so the two disagreed on one stream.
TEST(CopyFormat, TheReaderRejectsTuplesOfDifferentWidthsToo) {
  CopyWriter w;
  w.begin_tuple(0);
  w.begin_tuple(1);
  w.add_bytes("");
  const std::string bytes = w.finish().bytes;
  CopyReader r(bytes);
  ASSERT_TRUE(r.read_header().is_ok());
  std::vector<CopyField> fields;
  auto first = r.next(&fields);
  ASSERT_TRUE(first.ok() && first.value());
  auto second = r.next(&fields);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("has 1 fields, the first had 0"), std::string::npos)
      << second.status().message();
  EXPECT_FALSE(count_copy_rows(bytes).ok());
}

TEST(CopyFormat, BigEndianHelpersRoundTrip) {
  std::string s;
  put_be16(&s, -2);
  put_be32(&s, -123456789);
  put_be64(&s, -1234567890123456789LL);
  EXPECT_EQ(get_be16(s.data()), -2);
  EXPECT_EQ(get_be32(s.data() + 2), -123456789);
  EXPECT_EQ(get_be64(s.data() + 6), -1234567890123456789LL);
}

}  // namespace
}  // namespace backfill
