// Binary forms of the fields a --map reads and writes, and MapTransform over a COPY stream:
// pass-through fields stay bytes, computed fields are encoded for their column.
#include "engine/format/value_codec.hpp"
#include "engine/format/float_text.hpp"

#include <gtest/gtest.h>

#include <climits>

#include "engine/transform/transform.hpp"

namespace backfill {
namespace {

std::string round_trip_numeric(const std::string& d) {
  auto back = decode_numeric(encode_numeric(d));
  return back.ok() ? *back : back.status().message();
}

TEST(ValueCodec, NumericsRoundTripWithTheirScale) {
  for (const char* d : {"0", "1", "-1", "1.50", "0.0001", "12345678.9", "10000", "-0.5",
                        "123456789012345678901234567890.000000000000000000001", "NaN", "Infinity",
                        "-Infinity", "0.000"}) {
    EXPECT_EQ(round_trip_numeric(d), d);
  }
}

TEST(ValueCodec, NumericEncodingMatchesPostgresBytes) {
  // SELECT 1.50::numeric sent in binary: ndigits 2, weight 0, sign +, dscale 2, digits 1 5000.
  EXPECT_EQ(encode_numeric("1.50"), std::string("\0\2\0\0\0\0\0\2\0\1\x13\x88", 12));
  // 10000: one digit group of weight 1, no trailing zero groups.
  EXPECT_EQ(encode_numeric("10000"), std::string("\0\1\0\1\0\0\0\0\0\1", 10));
}

// Regression (copy_reader_fuzz): a numeric field with a negative scale made the decoder
// resize a string to 2^64 bytes, which threw; the other forms numeric_recv refuses are
// errors too.
TEST(ValueCodec, AMalformedNumericFieldIsAnErrorNotAThrow) {
  auto field = [](std::int16_t ndigits, std::int16_t weight, std::uint16_t sign,
                  std::int16_t dscale, std::vector<std::int16_t> digits) {
    std::string b;
    put_be16(&b, ndigits);
    put_be16(&b, weight);
    put_be16(&b, static_cast<std::int16_t>(sign));
    put_be16(&b, dscale);
    for (auto d : digits) put_be16(&b, d);
    return b;
  };
  EXPECT_EQ(decode_numeric(field(1, 0, 0, 2, {15})).value(), "15.00");  // well formed
  EXPECT_FALSE(decode_numeric(field(1, 0, 0, -5, {1})).ok());           // negative scale
  EXPECT_FALSE(decode_numeric(field(1, 0, 0, 0x4000, {1})).ok());       // scale past the max
  EXPECT_FALSE(decode_numeric(field(1, 0, 0x1234, 0, {1})).ok());       // no such sign
  EXPECT_FALSE(decode_numeric(field(1, 0, 0, 0, {10000})).ok());        // a group past 9999
  EXPECT_FALSE(decode_numeric(field(1, 0, 0, 0, {-1})).ok());
  EXPECT_FALSE(decode_field(FieldCodec::kNumeric, field(1, 0, 0, -5, {1})).ok());
}

// A date keeps a date's range (to 5874897 AD) and prints as a date; it fails only where it
// must become a timestamp, as PostgreSQL's date::timestamp (copy_reader_fuzz once found the
// microseconds of such a timestamp overflowing).
TEST(ValueCodec, ADateIsADateAndPastTheTimestampRangeFailsOnlyAsATimestamp) {
  auto date = [](std::int32_t days) {
    std::string b;
    put_be32(&b, days);
    return b;
  };
  auto last = decode_field(FieldCodec::kDate, date(2145031948));  // 5874897-12-31
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(to_text(*last), "5874897-12-31");
  std::string out;
  ASSERT_TRUE(encode_field(FieldCodec::kDate, -1, *last, &out).is_ok());
  EXPECT_EQ(out, date(2145031948));  // back to the same date, not wrapped
  out.clear();
  Status st = encode_field(FieldCodec::kTimestampTz, -1, *last, &out);
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("date out of range for timestamp: 5874897-12-31"), std::string::npos)
      << st.message();
  out.clear();
  auto first = decode_field(FieldCodec::kDate, date(-2451545));  // 4714-11-24 BC
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(to_text(*first), "4714-11-24 BC");
  EXPECT_TRUE(encode_field(FieldCodec::kTimestamp, -1, *first, &out).is_ok());
  out.clear();
  EXPECT_FALSE(encode_field(FieldCodec::kTimestamp, -1,
                            *decode_field(FieldCodec::kDate, date(-2451546)), &out)
                   .is_ok());
  // Infinities stay infinities.
  EXPECT_EQ(to_text(*decode_field(FieldCodec::kDate, date(INT32_MAX))), "infinity");
}

// Floats as PostgreSQL prints them: the shortest text that reads back, but never one exactly
// halfway to a neighbour (which reads back only by ties-to-even, and which std::to_chars
// may pick); a real with a float's digits and fixed notation up to 6 digits before the point.
// Found by MapDifferential's random runs.
TEST(FloatText, ShortestButNeverAMidpointAsPostgresPrints) {
  EXPECT_EQ(float_to_text(-2.1470947799053728e16), "-2.1470947799053728e+16");
  EXPECT_EQ(float_to_text(8.381252310909459e138), "8.38125231090946e+138");  // no false tie
  EXPECT_EQ(float_to_text(1e23), "9.999999999999999e+22");  // 1e23 is a midpoint itself
  EXPECT_EQ(float_to_text(0.1), "0.1");
  EXPECT_EQ(float_to_text(1e15), "1e+15");
  EXPECT_EQ(float_to_text(123456789012345.0), "123456789012345");
  EXPECT_EQ(real_to_text(9.5329056e7f), "9.5329056e+07");
  EXPECT_EQ(real_to_text(0.1f), "0.1");
  EXPECT_EQ(real_to_text(1e6f), "1e+06");
  EXPECT_EQ(real_to_text(123456.7f), "123456.7");
  EXPECT_EQ(real_to_text(1e-45f), "1e-45");
  EXPECT_EQ(real_to_decimal(0.1f), "0.1");
  EXPECT_EQ(real_to_decimal(1.2345678f), "1.23457");
}

TEST(ValueCodec, IntegersAreRangeCheckedForTheirColumn) {
  std::string out;
  EXPECT_TRUE(encode_field(FieldCodec::kInt2, -1, Value::integer(32767), &out).is_ok());
  Status st = encode_field(FieldCodec::kInt2, -1, Value::integer(32768), &out);
  EXPECT_EQ(st.message(), "32768 is out of range for smallint");
  out.clear();
  EXPECT_TRUE(encode_field(FieldCodec::kInt4, -1, Value::numeric("2.5"), &out).is_ok());
  EXPECT_EQ(decode_field(FieldCodec::kInt4, out)->i, 3);  // half away from zero, as numeric -> int
}

TEST(ValueCodec, NumericIsRoundedToTheColumnsScale) {
  std::string out;
  ASSERT_TRUE(encode_field(FieldCodec::kNumeric, 2, Value::numeric("1.005"), &out).is_ok());
  EXPECT_EQ(*decode_numeric(out), "1.01");
}

TEST(ValueCodec, AnythingStoresAsTextButNotTheOtherWayRound) {
  EXPECT_TRUE(can_store(ValueType::kInt, FieldCodec::kText));
  EXPECT_TRUE(can_store(ValueType::kInt, FieldCodec::kNumeric));
  EXPECT_FALSE(can_store(ValueType::kText, FieldCodec::kInt8));
  EXPECT_FALSE(can_store(ValueType::kText, FieldCodec::kJsonb));
  EXPECT_TRUE(can_store(ValueType::kNull, FieldCodec::kBool));
  std::string out;
  ASSERT_TRUE(encode_field(FieldCodec::kText, -1, Value::timestamp(0), &out).is_ok());
  EXPECT_EQ(out, "2000-01-01 00:00:00+00");
}

TEST(ValueCodec, UuidsAndDatesRoundTrip) {
  std::string out;
  ASSERT_TRUE(
      encode_field(FieldCodec::kUuid, -1, Value::text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), &out)
          .is_ok());
  EXPECT_EQ(decode_field(FieldCodec::kUuid, out)->s, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_FALSE(encode_field(FieldCodec::kUuid, -1, Value::text("nope"), &out).is_ok());
  out.clear();
  // An instant before midnight belongs to the day before, also before 2000.
  ASSERT_TRUE(encode_field(FieldCodec::kDate, -1, Value::timestamp(-1), &out).is_ok());
  EXPECT_EQ(to_text(*decode_field(FieldCodec::kDate, out)), "1999-12-31");
}

TEST(MapTransform, DecodesOnlyWhatExpressionsReadAndPassesTheRestAsBytes) {
  FunctionRegistry functions = builtin_functions();
  ExprInputs inputs;
  ColumnTypeOf types = [](const std::string& c) -> std::optional<ValueType> {
    if (c == "email") return ValueType::kText;
    return std::nullopt;
  };
  auto plan = std::make_shared<MapPlan>();
  auto e = Expr::compile("lower(email)", 0, functions, types, &inputs);
  ASSERT_TRUE(e.ok());
  // Read fields: 0 id (int8, passed), 1 email (read for the map only). Output: id, lowered.
  plan->outputs.push_back({"id", 0, nullptr, FieldCodec::kInt8, -1});
  plan->outputs.push_back({"email_address", -1, *e, FieldCodec::kText, -1});
  plan->input_fields = {1};
  plan->input_codecs = {FieldCodec::kText};

  CopyWriter in;
  std::string id;
  put_be64(&id, 42);
  in.begin_tuple(2);
  in.add_bytes(id);
  in.add_bytes("Ada@Example.COM");
  in.begin_tuple(2);
  in.add_bytes(id);
  in.add_null();
  auto out = MapTransform(plan).apply(in.finish());
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->rows, 2);
  CopyReader r(out->bytes);
  ASSERT_TRUE(r.read_header().is_ok());
  std::vector<CopyField> f;
  ASSERT_TRUE(*r.next(&f));
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(*f[0], id);
  EXPECT_EQ(*f[1], "ada@example.com");
  ASSERT_TRUE(*r.next(&f));
  EXPECT_FALSE(f[1].has_value());
  EXPECT_FALSE(*r.next(&f));
}

}  // namespace
}  // namespace backfill
