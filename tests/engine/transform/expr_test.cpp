// The --map expression language as pure logic: parsing, type checks with positions,
// NULL handling and evaluation over decoded inputs. The built-ins' results against
// PostgreSQL's own are in tests/cli/map_test.cpp.
#include "engine/transform/expr.hpp"

#include <gtest/gtest.h>

#include "engine/format/civil_time.hpp"
#include "engine/format/decimal.hpp"
#include "engine/format/float_text.hpp"
#include "engine/transform/case_mapping.hpp"
#include "engine/transform/utf8.hpp"

namespace backfill {
namespace {

class ExprTest : public ::testing::Test {
 protected:
  ColumnTypeOf columns = [](const std::string& c) -> std::optional<ValueType> {
    if (c == "email" || c == "first" || c == "last") return ValueType::kText;
    if (c == "id") return ValueType::kInt;
    if (c == "price") return ValueType::kNumeric;
    if (c == "profile") return ValueType::kJson;
    if (c == "Mixed Case") return ValueType::kText;
    if (c == "born") return ValueType::kTimestamp;
    return std::nullopt;
  };
  FunctionRegistry functions = builtin_functions();
  ExprInputs inputs;

  Result<std::shared_ptr<const Expr>> compile(const std::string& text) {
    return Expr::compile(text, 0, functions, columns, &inputs);
  }
  // Compiles and evaluates with `row` giving each input column by name.
  std::string eval(const std::string& text, const std::map<std::string, Value>& row = {}) {
    auto e = compile(text);
    if (!e.ok()) return "error: " + e.status().message();
    std::vector<Value> in;
    for (const auto& c : inputs.columns) in.push_back(row.count(c) ? row.at(c) : Value::null());
    Value out;
    CallContext ctx;
    ctx.now = micros_from_civil({2026, 11, 21, 6, 0, 0, 0});
    Status st = (*e)->eval(in, ctx, &out);
    if (!st.is_ok()) return "error: " + st.message();
    return out.is_null() ? "NULL" : to_text(out);
  }
  std::string error_of(const std::string& text) {
    auto e = compile(text);
    return e.ok() ? "compiled" : e.status().message();
  }
};

// A function declaring a timestamp parameter (a plugin's, say) gets a date column's value
// as microseconds, the date's first instant, never its days; a date past the timestamp
// range is then PostgreSQL's error. A character(n) reaches a text parameter unpadded.
TEST_F(ExprTest, ParametersReceiveTheirDeclaredTypesForm) {
  FunctionDef micros = {.name = "micros_of",
                        .params = {ValueType::kTimestamp},
                        .min_args = 1,
                        .result = ValueType::kInt,
                        .impl = [](std::span<Value> a, const CallContext&, Value* out) {
                          *out = Value::integer(a[0].i);
                          return Status::ok();
                        }};
  ASSERT_TRUE(functions.add(micros).is_ok());
  EXPECT_EQ(eval("micros_of(born)", {{"born", Value::date(1)}}), "86400000000");
  EXPECT_EQ(eval("to_text(born)", {{"born", Value::date(1)}}), "2000-01-02");
  EXPECT_NE(eval("micros_of(born)", {{"born", Value::date(2145031948)}})
                .find("date out of range for timestamp: 5874897-12-31"),
            std::string::npos);
  Value padded = Value::text("ab   ");
  padded.form = ValueForm::kPaddedChar;
  EXPECT_EQ(eval("length(first)", {{"first", padded}}), "2");
  EXPECT_EQ(eval("concat(first, '|')", {{"first", padded}}), "ab   |");
}

TEST_F(ExprTest, EvaluatesNestedCallsOverColumns) {
  std::map<std::string, Value> row{{"first", Value::text("  Ada ")},
                                   {"last", Value::text("Lovelace")},
                                   {"email", Value::text("Ada@Example.COM")},
                                   {"id", Value::integer(7)}};
  EXPECT_EQ(eval("lower(email)", row), "ada@example.com");
  EXPECT_EQ(eval("concat_ws(' ', trim(first), upper(last))", row), "Ada LOVELACE");
  EXPECT_EQ(eval("concat('user-', id)", row), "user-7");
  EXPECT_EQ(eval("LOWER( \"Mixed Case\" )", {{"Mixed Case", Value::text("AbC")}}), "abc");
  EXPECT_EQ(eval("split_part(email, '@', 2)", row), "Example.COM");
}

TEST_F(ExprTest, NullsFollowSql) {
  EXPECT_EQ(eval("lower(email)"), "NULL");  // strict: NULL in, NULL out
  EXPECT_EQ(eval("concat('a', NULL, 'b')"), "ab");
  EXPECT_EQ(eval("concat_ws('-', 'a', NULL, 'b')"), "a-b");
  EXPECT_EQ(eval("concat_ws(NULL, 'a')"), "NULL");
  EXPECT_EQ(eval("coalesce(NULL, email, 'none')"), "none");
  EXPECT_EQ(eval("nullif('', '')"), "NULL");
  EXPECT_EQ(eval("nullif(1, 1.0)"), "NULL");
  EXPECT_EQ(eval("nullif('a', NULL)"), "a");
}

TEST_F(ExprTest, LiteralsHaveTheirTypes) {
  EXPECT_EQ(eval("to_text(42)"), "42");
  EXPECT_EQ(eval("to_text(1.50)"), "1.50");
  EXPECT_EQ(eval("to_text(1e3)"), "1000");
  EXPECT_EQ(eval("to_text(-7)"), "-7");
  EXPECT_EQ(eval("to_text(TRUE)"), "true");
  EXPECT_EQ(eval("concat(true)"), "t");  // concat uses the output function, as PostgreSQL
  EXPECT_EQ(eval("'it''s'"), "it's");
  EXPECT_EQ(eval("to_text(99999999999999999999)"), "99999999999999999999");
}

TEST_F(ExprTest, NowIsTheJobsStartForEveryRow) {
  EXPECT_EQ(eval("now()"), "2026-11-21 06:00:00+00");
}

TEST_F(ExprTest, RuntimeErrorsAreValuesWithTheFunctionsMessage) {
  EXPECT_EQ(eval("to_int('abc')"),
            "error: to_int(): invalid input syntax for type bigint: \"abc\"");
  EXPECT_EQ(eval("split_part('a', ',', 0)"),
            "error: split_part(): field position must not be zero");
  EXPECT_EQ(eval("substr('abc', 1, -1)"), "error: substr(): negative substring length not allowed");
}

TEST_F(ExprTest, ParseErrorsNameThePosition) {
  EXPECT_EQ(error_of("lower(email"),
            "at position 12: expected ',' or ')' in the arguments of lower(), found end of the "
            "expression");
  EXPECT_EQ(error_of("lower(email))"), "at position 13: unexpected ')' after the expression");
  EXPECT_EQ(error_of("'abc"), "at position 1: string literal is not closed");
  EXPECT_EQ(error_of("lower(email) ; drop table users"),
            "at position 14: unexpected character ';'");
  EXPECT_EQ(error_of(""),
            "at position 1: expected a column, a literal or a function call, found end of the "
            "expression");
}

TEST_F(ExprTest, TypeErrorsNameThePositionAndTheFix) {
  EXPECT_EQ(error_of("lowr(email)"), "at position 1: unknown function lowr()");
  EXPECT_EQ(error_of("lower(emial)"), "at position 7: no column \"emial\"");
  EXPECT_EQ(error_of("lower(email, 'x')"), "at position 1: lower() takes 1 argument, not 2");
  EXPECT_EQ(error_of("substr(email)"), "at position 1: substr() takes 2 to 3 arguments, not 1");
  EXPECT_EQ(
      error_of("upper(id)"),
      "at position 7: upper() argument 1 must be text, not integer (convert it with to_text())");
  EXPECT_EQ(error_of("coalesce(email, id)"),
            "at position 1: coalesce() arguments must share one type, not text, integer");
  EXPECT_EQ(error_of("regexp_replace(email, first, 'x')"),
            "at position 23: regexp_replace() argument 2 must be a literal");
  EXPECT_EQ(error_of("regexp_replace(email, '(', 'x')").substr(0, 63),
            "at position 1: regexp_replace(): invalid regular expression '('");
  EXPECT_EQ(
      error_of("to_timestamp(email, 'YYYY-Q')"),
      "at position 1: to_timestamp(): format pattern at \"Q\" is not supported (YYYY MM DD HH24 "
      "HH12 HH MI SS MS US AM PM)");
}

TEST_F(ExprTest, IntegersWidenToNumericAndFloat) {
  EXPECT_EQ(eval("coalesce(price, 0)", {{"price", Value::numeric("1.50")}}), "1.50");
  auto e = compile("coalesce(price, id)");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ((*e)->type(), ValueType::kNumeric);
}

TEST_F(ExprTest, ColumnsTwoExpressionsReadShareOneInputSlot) {
  ASSERT_TRUE(compile("lower(email)").ok());
  ASSERT_TRUE(compile("concat(email, id)").ok());
  EXPECT_EQ(inputs.columns, (std::vector<std::string>{"email", "id"}));
}

TEST_F(ExprTest, JsonGetWalksObjectsAndArrays) {
  Value doc = Value::json(R"({"a": {"b": [10, {"c": "x\"y"}]}, "n": null, "t": true})");
  EXPECT_EQ(eval("json_get(profile, 'a.b.0')", {{"profile", doc}}), "10");
  EXPECT_EQ(eval("json_get(profile, 'a.b.1.c')", {{"profile", doc}}), "x\"y");
  EXPECT_EQ(eval("json_get(profile, 'a.b.-1.c')", {{"profile", doc}}), "x\"y");
  EXPECT_EQ(eval("json_get(profile, 'a.b')", {{"profile", doc}}), R"([10, {"c": "x\"y"}])");
  EXPECT_EQ(eval("json_get(profile, 'n')", {{"profile", doc}}), "NULL");
  EXPECT_EQ(eval("json_get(profile, 'missing.x')", {{"profile", doc}}), "NULL");
  EXPECT_EQ(eval("json_get(profile, 't')", {{"profile", doc}}), "true");
}

TEST(TextUtil, DecimalsAreCanonicalAsPostgresPrintsThem) {
  EXPECT_EQ(*canonical_decimal(" 1.50 "), "1.50");
  EXPECT_EQ(*canonical_decimal("-0.000"), "0.000");
  EXPECT_EQ(*canonical_decimal("1.5e3"), "1500");
  EXPECT_EQ(*canonical_decimal("1.5e-3"), "0.0015");
  EXPECT_EQ(*canonical_decimal("007"), "7");
  EXPECT_EQ(*canonical_decimal("nan"), "NaN");
  EXPECT_FALSE(canonical_decimal("1.2.3"));
  EXPECT_FALSE(canonical_decimal("abc"));
  EXPECT_EQ(round_decimal("2.5", 0), "3");
  EXPECT_EQ(round_decimal("-2.5", 0), "-3");
  EXPECT_EQ(round_decimal("9.995", 2), "10.00");
  EXPECT_EQ(round_decimal("1.1", 2), "1.10");
  EXPECT_EQ(compare_decimal("1.0", "1.00"), 0);
  EXPECT_EQ(compare_decimal("-1", "0.5"), -1);
  EXPECT_EQ(compare_decimal("10", "9.99"), 1);
}

TEST(TextUtil, FloatsPrintShortestAndExact) {
  EXPECT_EQ(float_to_text(0.1), "0.1");
  EXPECT_EQ(float_to_text(1e20), "1e+20");
  EXPECT_EQ(float_to_text(1e-5), "1e-05");
  EXPECT_EQ(float_to_text(0.0001), "0.0001");
  EXPECT_EQ(float_to_text(123456789012345.0), "123456789012345");
  EXPECT_EQ(float_to_text(1234567890123456.0), "1.234567890123456e+15");
  EXPECT_EQ(float_to_text(-0.0), "-0");
  EXPECT_EQ(float_to_text(2.25), "2.25");
}

TEST(TextUtil, TimestampsRoundTripThroughCivilTime) {
  CivilTime t{2024, 2, 29, 23, 59, 59, 999999};
  EXPECT_EQ(timestamp_to_text(micros_from_civil(t)), "2024-02-29 23:59:59.999999+00");
  EXPECT_EQ(micros_from_civil({2000, 1, 1, 0, 0, 0, 0}), 0);
  EXPECT_EQ(timestamp_to_text(micros_from_civil({1969, 12, 31, 12, 0, 0, 500000})),
            "1969-12-31 12:00:00.5+00");
  EXPECT_EQ(timestamp_to_text(micros_from_civil({0, 1, 1, 0, 0, 0, 0})),
            "0001-01-01 00:00:00+00 BC");
}

std::string lower_by(const CaseMapping& m, std::string s) {
  m.lower(&s);
  return s;
}
std::string upper_by(const CaseMapping& m, std::string s) {
  m.upper(&s);
  return s;
}

TEST(TextUtil, CaseMappingCoversLatinGreekAndCyrillic) {
  const CaseMapping& u = CaseMapping::unicode();
  EXPECT_EQ(lower_by(u, "ÄÖÜ ÉCOLE Ελλάδα ПРИВЕТ ŁÓDŹ"), "äöü école ελλάδα привет łódź");
  EXPECT_EQ(upper_by(u, "äöü école ελλάδα привет łódź ß"), "ÄÖÜ ÉCOLE ΕΛΛΆΔΑ ПРИВЕТ ŁÓDŹ ß");
  EXPECT_EQ(utf8_length("héllo ☃"), 7);
}

}  // namespace
}  // namespace backfill
