#include "engine/checksum/row_hash.hpp"

#include <gtest/gtest.h>

#include <optional>

#include <cmath>
#include <cstring>
#include <limits>

namespace backfill {
namespace {

std::string canon(FieldNorm n, const CopyField& f) {
  std::string out;
  append_canonical(n, f, &out);
  return out;
}

std::string f8(double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, 8);
  std::string s;
  put_be64(&s, static_cast<std::int64_t>(bits));
  return s;
}

std::string f4(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, 4);
  std::string s;
  put_be32(&s, static_cast<std::int32_t>(bits));
  return s;
}

// numeric's binary form: ndigits, weight, sign, dscale, base-10000 digits.
std::string numeric(std::vector<std::int16_t> digits, std::int16_t weight, std::int16_t dscale,
                    std::uint16_t sign = 0) {
  std::string s;
  put_be16(&s, static_cast<std::int16_t>(digits.size()));
  put_be16(&s, weight);
  put_be16(&s, static_cast<std::int16_t>(sign));
  put_be16(&s, dscale);
  for (auto d : digits) put_be16(&s, d);
  return s;
}

TEST(RowHash, FloatsEqualByValueAreEqual) {
  EXPECT_EQ(canon(FieldNorm::kFloat8, f8(-0.0)), canon(FieldNorm::kFloat8, f8(0.0)));
  double nan1 = std::numeric_limits<double>::quiet_NaN();
  double nan2 = -std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(canon(FieldNorm::kFloat8, f8(nan1)), canon(FieldNorm::kFloat8, f8(nan2)));
  EXPECT_EQ(canon(FieldNorm::kFloat4, f4(-0.0f)), canon(FieldNorm::kFloat4, f4(0.0f)));
  EXPECT_NE(canon(FieldNorm::kFloat8, f8(1.0)), canon(FieldNorm::kFloat8, f8(1.0000000000000002)));
  EXPECT_NE(canon(FieldNorm::kFloat8, f8(INFINITY)), canon(FieldNorm::kFloat8, f8(-INFINITY)));
}

TEST(RowHash, NumericsEqualByValueWhateverTheScale) {
  // 1.0 (digits 1, 0; dscale 1) and 1.00 (dscale 2) and 1 (dscale 0).
  EXPECT_EQ(canon(FieldNorm::kNumeric, numeric({1}, 0, 1)),
            canon(FieldNorm::kNumeric, numeric({1}, 0, 2)));
  EXPECT_EQ(canon(FieldNorm::kNumeric, numeric({1, 0}, 0, 4)),
            canon(FieldNorm::kNumeric, numeric({1}, 0, 0)));
  EXPECT_EQ(canon(FieldNorm::kNumeric, numeric({}, 0, 3)),
            canon(FieldNorm::kNumeric, numeric({}, 0, 0, 0x4000)));
  EXPECT_NE(canon(FieldNorm::kNumeric, numeric({1}, 0, 0)),
            canon(FieldNorm::kNumeric, numeric({1}, 1, 0)));
  EXPECT_NE(canon(FieldNorm::kNumeric, numeric({1}, 0, 0)),
            canon(FieldNorm::kNumeric, numeric({1}, 0, 0, 0x4000)));
}

TEST(RowHash, NullIsNeverAnEmptyValue) {
  EXPECT_NE(canon(FieldNorm::kBytes, std::nullopt), canon(FieldNorm::kBytes, std::string_view("")));
}

TEST(RowHash, FieldBoundariesCannotShift) {
  // ("ab", "c") and ("a", "bc") must hash differently: lengths are part of the hash input.
  std::string a = canon(FieldNorm::kBytes, std::string_view("ab")) +
                  canon(FieldNorm::kBytes, std::string_view("c"));
  std::string b = canon(FieldNorm::kBytes, std::string_view("a")) +
                  canon(FieldNorm::kBytes, std::string_view("bc"));
  EXPECT_NE(a, b);
}

TEST(RowHash, DigestSumsDoNotCancelEqualRows) {
  ChunkDigest one, two;
  one.add(42);
  two.add(42);
  two.add(42);  // a duplicated row
  EXPECT_NE(one, two);
  ChunkDigest a, b;  // order does not matter
  a.add(1);
  a.add(2);
  b.add(2);
  b.add(1);
  EXPECT_EQ(a, b);
}

// What a server prints for sum(h) over bigint hashes, exactly, must reduce to the client's
// own sum mod 2^64, negative hashes and sums past 64 bits included.
TEST(RowHash, ReducesTheServersExactSumMod2To64) {
  __extension__ using i128 = __int128;
  __extension__ using u128 = unsigned __int128;
  std::vector<std::int64_t> hashes{-5, 9223372036854775807LL, -9223372036854775807LL - 1, 42,
                                   -1, 1234567890123456789LL, 9223372036854775807LL};
  i128 exact = 0;
  std::uint64_t want = 0;
  for (auto h : hashes) {
    exact += h;
    want += static_cast<std::uint64_t>(h);
  }
  // Printed as PostgreSQL prints a numeric sum.
  auto print = [](i128 v) {
    bool neg = v < 0;
    u128 m = neg ? -static_cast<u128>(v) : static_cast<u128>(v);
    std::string s;
    do {
      s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
      m /= 10;
    } while (m);
    return neg ? "-" + s : s;
  };
  ASSERT_GT(exact, static_cast<i128>(INT64_MAX));  // really past 64 bits
  EXPECT_EQ(*sum_mod_2_64(print(exact)), want);
  EXPECT_EQ(*sum_mod_2_64(print(-exact)), 0 - want);
  EXPECT_EQ(*sum_mod_2_64(""), 0u);
  EXPECT_EQ(*sum_mod_2_64("0"), 0u);
  EXPECT_EQ(*sum_mod_2_64("-5"), static_cast<std::uint64_t>(-5LL));
  EXPECT_EQ(*sum_mod_2_64("18446744073709551621"), 5u);  // 2^64 + 5
  EXPECT_FALSE(sum_mod_2_64("12.5").ok());
  EXPECT_FALSE(sum_mod_2_64("-").ok());
  EXPECT_FALSE(sum_mod_2_64(std::string(39, '9')).ok());
}

TEST(RowHash, HashesCopyRowsWithTheirKeys) {
  CopyWriter w;
  for (int i = 0; i < 3; ++i) {
    w.begin_tuple(2);
    w.add_bytes(std::to_string(i));
    w.add_bytes(f8(i == 1 ? -0.0 : 0.0));
  }
  ChunkDigest d;
  auto rows = hash_copy_rows(w.finish().bytes, 1, {FieldNorm::kFloat8}, &d);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[1].key, Key{"1"});
  EXPECT_EQ(d.rows, 3);
  EXPECT_NE((*rows)[0].hash, (*rows)[1].hash);  // the keys differ
}

TEST(RowHash, RejectsRowsOfTheWrongWidth) {
  CopyWriter w;
  w.begin_tuple(2);
  w.add_bytes("1");
  w.add_bytes("x");
  ChunkDigest d;
  EXPECT_FALSE(
      hash_copy_rows(w.finish().bytes, 1, {FieldNorm::kBytes, FieldNorm::kBytes}, &d).ok());
}

// A stream of rows as (id, text-or-NULL) pairs, in binary COPY.
std::string stream_of(const std::vector<std::pair<std::string, std::optional<std::string>>>& rows) {
  CopyWriter w;
  for (const auto& [id, v] : rows) {
    w.begin_tuple(2);
    w.add_bytes(id);
    if (v) {
      w.add_bytes(*v);
    } else {
      w.add_null();
    }
  }
  return w.finish().bytes;
}

ChunkDigest digest_of(const std::string& stream, const std::vector<FieldNorm>& norms,
                      bool per_row = false) {
  CopyDigester d(norms);
  if (!per_row) {
    EXPECT_TRUE(d.feed(stream).is_ok());
  } else {
    // As PostgreSQL sends it: the header with the first row, then a row per message, then
    // the trailer.
    CopyReader r(stream);
    EXPECT_TRUE(r.read_header().is_ok());
    std::vector<CopyField> f;
    std::size_t start = 0;
    while (*r.next(&f)) {
      EXPECT_TRUE(d.feed(stream.substr(start, r.position() - start)).is_ok());
      start = r.position();
    }
    EXPECT_TRUE(d.feed(stream.substr(start)).is_ok());
  }
  auto out = d.finish();
  EXPECT_TRUE(out.ok());
  return out.ok() ? *out : ChunkDigest{};
}

TEST(CopyDigester, SameRowsSameDigestWhateverTheMessagesAndAnyChangeShows) {
  const std::vector<FieldNorm> raw{FieldNorm::kBytes, FieldNorm::kBytes};
  const std::vector<FieldNorm> canonical{FieldNorm::kBytes, FieldNorm::kFloat8};  // not raw
  for (const auto& norms : {raw, canonical}) {
    const auto base = stream_of({{"1", "a"}, {"2", "b"}, {"3", std::nullopt}});
    const ChunkDigest d = digest_of(base, norms);
    EXPECT_EQ(d.rows, 3);
    EXPECT_EQ(digest_of(base, norms, true), d);
    EXPECT_EQ(digest_of(stream_of({{"3", std::nullopt}, {"1", "a"}, {"2", "b"}}), norms), d);
    EXPECT_NE(digest_of(stream_of({{"1", "a"}, {"2", "c"}, {"3", std::nullopt}}), norms), d);
    EXPECT_NE(digest_of(stream_of({{"1", "a"}, {"2", "b"}, {"3", ""}}), norms), d);  // NULL
    // Two rows swapping a value: the sum of row hashes must not stay the same.
    EXPECT_NE(digest_of(stream_of({{"1", "b"}, {"2", "a"}, {"3", std::nullopt}}), norms), d);
  }
}

TEST(CopyDigester, AStreamCutShortIsAnError) {
  std::string s = stream_of({{"1", "a"}});
  CopyDigester d({FieldNorm::kBytes, FieldNorm::kBytes});
  ASSERT_TRUE(d.feed(s.substr(0, s.size() - 2)).is_ok());  // without the trailer
  EXPECT_FALSE(d.finish().ok());
}

}  // namespace
}  // namespace backfill
