// --map expressions against a real PostgreSQL: every built-in gives what PostgreSQL's
// function of the same name gives for the same inputs (NULLs included); copy with --map
// then verify with the same --map is clean, a tampered result is found and repaired; bad
// expressions stop at preflight with exit 2 and the position; plugins add functions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>

#include "drivers/postgres/catalog.hpp"
#include "engine/format/civil_time.hpp"
#include "engine/format/float_text.hpp"
#include "engine/transform/case_mapping.hpp"
#include "engine/transform/expr.hpp"
#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

// One row of inputs, the same on both sides: PostgreSQL computes the reference from these
// columns, the engine from the same values decoded.
const char* kInputRow =
    "SELECT 'Héllo, Wörld ÄÖ Ελλάδα Привет'::text AS t, 'Jane.Doe@Example.COM'::text AS e,"
    " NULL::text AS tn, 42::int8 AS n, NULL::int8 AS nn, 1.50::numeric AS d, 2.5::float8 AS f,"
    " '2024-06-30 10:00:00.25+00'::timestamptz AS ts,"
    " '{\"a\": {\"b\": [1, \"two\", {\"c\": null}], \"s\": \"x\\\"y\"}, \"n\": 1.50, \"t\": "
    "true}'::jsonb"
    " AS j,"
    " 'ԱԲԳ Ǆ ǅ ＡＢＣ ȘTEFAN Nguyễn ҐАННА Ⴀ ᏣᎳᎩ 𐐀'::text AS ta,"
    // json keeps its text: spacing, duplicate keys (the last wins), escapes.
    " '{\"a\" : {\"b\":  [1,  2 ] }, \"a\": {\"b\": [3,  {\"c\" : 4}]}, \"e\": "
    "\"\\u00e9\\n\\\"q\\\"\", \"sp\" :  \"x\" , \"num\": 1.50e2 }'::json AS jn,"
    " repeat('ab', 20000) || 'c' AS tl";

struct Case {
  const char* ours;
  const char* postgres;  // NULL: the same text
};

// Each built-in with ordinary values, edge values and NULL; the PostgreSQL spelling where it
// differs (trim is btrim, to_int a cast, json_get the #>> operator).
const Case kCases[] = {
    {"lower(t)", nullptr},
    {"lower(tn)", nullptr},
    {"upper(t)", nullptr},
    {"upper('straße')", nullptr},
    {"trim('  x y  ')", "btrim('  x y  ')"},
    {"trim('xxhixx', 'x')", "btrim('xxhixx', 'x')"},
    {"trim('ÄÄhiÄ', 'Ä')", "btrim('ÄÄhiÄ', 'Ä')"},
    {"trim(tn)", "btrim(tn)"},
    {"concat('a', n, NULL, d, tn)", nullptr},
    {"concat(TRUE, 'x')", "concat(true, 'x')"},
    {"concat(ts)", nullptr},
    {"concat_ws(', ', t, tn, n)", nullptr},
    {"concat_ws(NULL, 'a')", "concat_ws(NULL, 'a')"},
    {"concat_ws('-', tn, tn)", nullptr},
    {"coalesce(tn, t)", nullptr},
    {"coalesce(nn, n, 0)", nullptr},
    {"coalesce(tn, NULL)", nullptr},
    {"coalesce(nn, d)", nullptr},
    {"nullif(t, '')", nullptr},
    {"nullif('', '')", "nullif('', '')"},
    {"nullif(n, 42)", nullptr},
    {"nullif(d, 1.5)", nullptr},
    {"nullif(tn, 'x')", nullptr},
    {"substr(t, 2)", nullptr},
    {"substr(t, 2, 3)", nullptr},
    {"substr(t, 0, 3)", nullptr},
    {"substr(t, -5, 7)", nullptr},
    {"substr(t, 40)", nullptr},
    {"substr(tn, 1)", nullptr},
    {"substr(t, nn)", "substr(t, nn::int)"},
    {"replace(t, 'l', 'L')", nullptr},
    {"replace(t, '', 'x')", nullptr},
    {"replace(e, '.', '')", nullptr},
    {"replace(e, tn, 'x')", nullptr},
    {"regexp_replace(e, '[aeiou]', '*')", nullptr},
    {"regexp_replace(e, '[aeiou]', '*', 'g')", nullptr},
    {"regexp_replace(e, '(\\w+)\\.(\\w+)@', '\\2.\\1@')", nullptr},
    {"regexp_replace(e, 'DOE', 'x', 'gi')", nullptr},
    {"regexp_replace(e, '\\.', '$', 'g')", nullptr},
    {"regexp_replace(e, '^(.)', '<\\&>')", nullptr},
    {"regexp_replace(tn, 'a', 'b')", nullptr},
    {"split_part(e, '@', 2)", nullptr},
    {"split_part(e, '@', 3)", nullptr},
    {"split_part(e, '.', -1)", nullptr},
    {"split_part('', ',', 1)", nullptr},
    {"split_part(t, '', 1)", nullptr},
    {"split_part(t, '', 2)", nullptr},
    {"split_part(tn, ',', 1)", nullptr},
    {"left(t, 3)", nullptr},
    {"left(t, -3)", nullptr},
    {"left(t, 100)", nullptr},
    {"right(t, 3)", nullptr},
    {"right(t, -3)", nullptr},
    {"right(tn, 3)", nullptr},
    {"length(t)", nullptr},
    {"length('')", nullptr},
    {"length(tn)", nullptr},
    {"to_text(n)", "n::text"},
    {"to_text(d)", "d::text"},
    {"to_text(f)", "f::text"},
    {"to_text(ts)", "ts::text"},
    {"to_text(TRUE)", "true::text"},
    {"to_text(j)", "j::text"},
    {"to_text(nn)", "nn::text"},
    {"to_int(' 42 ')", "' 42 '::bigint"},
    {"to_int('-7')", "'-7'::bigint"},
    {"to_int(d)", "d::bigint"},
    {"to_int(f)", "f::bigint"},
    {"to_int(3.5)", "3.5::bigint"},
    {"to_int(-2.5)", "(-2.5)::bigint"},
    {"to_int(TRUE)", "true::int"},
    {"to_int(tn)", "tn::bigint"},
    {"to_numeric('1.50')", "'1.50'::numeric"},
    {"to_numeric(' -1.5e3 ')", "' -1.5e3 '::numeric"},
    {"to_numeric('0.000')", "'0.000'::numeric"},
    {"to_numeric(n)", "n::numeric"},
    {"to_numeric(f)", "f::numeric"},
    {"to_numeric(tn)", "tn::numeric"},
    {"to_timestamp('2024-03-05 14:07:09', 'YYYY-MM-DD HH24:MI:SS')", nullptr},
    {"to_timestamp('05/03/2024 2:07 PM', 'DD/MM/YYYY HH12:MI AM')", nullptr},
    {"to_timestamp('12:07 am 2024-03-05', 'HH12:MI am YYYY-MM-DD')", nullptr},
    {"to_timestamp('20240305', 'YYYYMMDD')", nullptr},
    // Input shorter than the format: the rest at PostgreSQL's defaults (year 1 BC).
    {"to_timestamp('', 'YYYY-MM-DD')", nullptr},
    {"to_timestamp('12', 'HH24:MI')", nullptr},
    {"to_timestamp('2024', 'YYYY-MM')", nullptr},
    {"to_timestamp('2024-03', 'YYYY-MM-DD HH24')", nullptr},
    {"to_timestamp('2024-03-05 14:07:09.5', 'YYYY-MM-DD HH24:MI:SS.MS')", nullptr},
    {"to_timestamp('2024-03-05 14:07:09.000123', 'YYYY-MM-DD HH24:MI:SS.US')", nullptr},
    {"to_timestamp(tn, 'YYYY')", nullptr},
    // Past the timestamp range, or no such day: PostgreSQL's error, never a wrapped value.
    {"to_timestamp('300000-01-01', 'YYYY-MM-DD')", nullptr},
    {"to_timestamp('5874897-12-31', 'YYYY-MM-DD')", nullptr},
    {"to_timestamp('2023-02-29', 'YYYY-MM-DD')", nullptr},
    {"to_int('abc')", "'abc'::bigint"},
    {"to_int('9223372036854775808')", "'9223372036854775808'::bigint"},
    {"to_numeric('1.5x')", "'1.5x'::numeric"},
    {"json_get(j, 'a.b.1')", "j #>> '{a,b,1}'"},
    {"json_get(j, 'a.b')", "j #>> '{a,b}'"},
    {"json_get(j, 'a.b.0')", "j #>> '{a,b,0}'"},
    {"json_get(j, 'a.b.-1')", "j #>> '{a,b,-1}'"},
    {"json_get(j, 'a.b.2.c')", "j #>> '{a,b,2,c}'"},
    {"json_get(j, 'a.s')", "j #>> '{a,s}'"},
    {"json_get(j, 'n')", "j #>> '{n}'"},
    {"json_get(j, 't')", "j #>> '{t}'"},
    {"json_get(j, 'zz')", "j #>> '{zz}'"},
    {"json_get(j, 'a.b.9')", "j #>> '{a,b,9}'"},
    {"json_get(j, 'a.s.x')", "j #>> '{a,s,x}'"},
    {"json_get(j, 'a')", "j #>> '{a}'"},
    {"json_get(jn, 'a')", "jn #>> '{a}'"},
    {"json_get(jn, 'a.b')", "jn #>> '{a,b}'"},
    {"json_get(jn, 'a.b.1')", "jn #>> '{a,b,1}'"},
    {"json_get(jn, 'a.b.-1.c')", "jn #>> '{a,b,-1,c}'"},
    {"json_get(jn, 'e')", "jn #>> '{e}'"},
    {"json_get(jn, 'sp')", "jn #>> '{sp}'"},
    {"json_get(jn, 'num')", "jn #>> '{num}'"},
    {"json_get(jn, '')", "jn #>> '{}'"},
    {"lower(ta)", nullptr},
    {"upper(ta)", nullptr},
    {"length(ta)", nullptr},
    {"substr(ta, 3, 4)", nullptr},
    // ARE features through PCRE2, on text beyond ASCII.
    {"regexp_replace(t, '\\m\\w', 'X', 'g')", nullptr},
    {"regexp_replace(t, '\\w\\M', 'X', 'g')", nullptr},
    {"regexp_replace(t, '\\y', '|', 'g')", nullptr},
    // The classes spelled out as the locale has them, several times in one pattern.
    {"regexp_replace(t, '\\y\\w+\\y\\s+\\m\\w\\M|\\Y\\d\\y[[:alnum:]]\\W\\S', '#', 'g')", nullptr},
    {"regexp_replace(t, '[[:<:]]W', '_', 'g')", nullptr},
    {"regexp_replace(t, '[[:alpha:]]+', '<\\&>', 'g')", nullptr},
    {"regexp_replace(t, '[^[:alnum:] ]', '', 'g')", nullptr},
    {"regexp_replace(t, 'ö', '0', 'gi')", nullptr},
    {"regexp_replace(t, '.', '.', 'g')", nullptr},
    {"regexp_replace(t, 'o(?=r)', '0', 'g')", nullptr},
    {"regexp_replace(t, '(?<=l)l', 'L', 'g')", nullptr},
    {"regexp_replace(t, '(l)\\1', '[\\1\\1]')", nullptr},
    {"regexp_replace(t, 'W.*?d', 'X')", nullptr},
    {"regexp_replace(t, '\\s+', '_', 'g')", nullptr},
    {"regexp_replace(ta, '\\w+', 'w', 'g')", nullptr},
    {"regexp_replace(ta, '(?i)ա', 'a', 'g')", nullptr},
    {"regexp_replace(e, 'example\\.com$', 'x', 'i')", nullptr},
    {"regexp_replace(e, 'x*', '-', 'g')", nullptr},
    {"regexp_replace(e, 'e*?', '-', 'g')", nullptr},
    {"regexp_replace(e, '\\.', 'a\\qb\\\\c\\9', 'g')", nullptr},
    {"regexp_replace(e, '\\d{2,}|[A-Z]{2}', '#', 'g')", nullptr},
    {"regexp_replace(e, '.', '!', 'gq')", nullptr},
    {"regexp_replace(e, '\\w+ # a word, and a comment to the end', '-', 'gx')", nullptr},
    {"regexp_replace(e, 'E.C', '?', 'qi')", nullptr},
    // Deep backtracking over 40,000 characters: past JIT's stack, on the interpreter.
    {"regexp_replace(tl, '(a|b)*c', 'x')", nullptr},
    {"md5(t)", nullptr},
    {"md5(ta)", nullptr},
    {"md5('')", nullptr},
    {"md5(tn)", nullptr},
};

TEST(MapFunctions, EachBuiltinGivesWhatPostgresGives) {
  TestDatabase db("fn");
  // The inputs as the engine sees them, from the same row.
  auto row = db.rows(
      std::string("SELECT t, e, n, d, f::text, "
                  "(extract(epoch FROM ts - '2000-01-01+00') * 1000000)::int8, j::text, ta, "
                  "jn::text, tl FROM (") +
      kInputRow + ") s");
  ASSERT_EQ(row.size(), 1u);
  std::vector<std::string> v;
  std::stringstream ss(row[0]);
  for (std::string field; std::getline(ss, field, '\t');) v.push_back(field);
  ASSERT_EQ(v.size(), 10u);
  std::map<std::string, std::pair<ValueType, Value>> columns{
      {"t", {ValueType::kText, Value::text(v[0])}},
      {"e", {ValueType::kText, Value::text(v[1])}},
      {"tn", {ValueType::kText, Value::null()}},
      {"n", {ValueType::kInt, Value::integer(std::stoll(v[2]))}},
      {"nn", {ValueType::kInt, Value::null()}},
      {"d", {ValueType::kNumeric, Value::numeric(v[3])}},
      {"f", {ValueType::kFloat, Value::floating(std::strtod(v[4].c_str(), nullptr))}},
      {"ts", {ValueType::kTimestamp, Value::timestamp(std::stoll(v[5]))}},
      {"j", {ValueType::kJson, Value::json(v[6])}},
      {"ta", {ValueType::kText, Value::text(v[7])}},
      {"jn", {ValueType::kJson, Value::json(v[8])}},
      {"tl", {ValueType::kText, Value::text(v[9])}},
  };
  // lower() and upper() as the test database's ctype has them, read as preflight reads it.
  auto ctype = pg::database_ctype(db.conn());
  ASSERT_TRUE(ctype.ok()) << ctype.status().message();
  CallContext ctx;
  ctx.case_mapping = CaseMapping::for_ctype(*ctype);
  ColumnTypeOf type_of = [&](const std::string& c) -> std::optional<ValueType> {
    auto it = columns.find(c);
    if (it == columns.end()) return std::nullopt;
    return it->second.first;
  };
  const FunctionRegistry functions = builtin_functions();
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.ours);
    ExprInputs inputs;
    auto e = Expr::compile(c.ours, 0, functions, type_of, &inputs);
    ASSERT_TRUE(e.ok()) << e.status().message();
    std::vector<Value> in;
    for (const auto& name : inputs.columns) in.push_back(columns.at(name).second);
    Value out;
    Status st = (*e)->eval(in, ctx, &out);
    // Equal results, or an error on both sides.
    auto pg = db.conn().query(std::string("SELECT (") + (c.postgres ? c.postgres : c.ours) +
                              ")::text FROM (" + kInputRow + ") s");
    if (!pg.ok() || !st.is_ok()) {
      EXPECT_FALSE(st.is_ok()) << "PostgreSQL: " << pg.status().message();
      EXPECT_FALSE(pg.ok()) << "ours: " << st.message();
      continue;
    }
    const std::string ours = out.is_null() ? "NULL" : to_text(out);
    const std::string theirs = pg->is_null(0, 0) ? "NULL" : pg->text(0, 0);
    EXPECT_EQ(ours, theirs);
  }
}

// Every letter of the scripts a migration meets, one at a time, in databases of each kind of
// ctype: libc C.UTF-8 (the test server's default), C, and ICU (root and Turkish).
class CaseByCtype : public ::testing::TestWithParam<const char*> {};

TEST_P(CaseByCtype, LowerAndUpperAgreeWithPostgresOnEveryLetter) {
  TestDatabase db("case", GetParam());
  auto ctype = pg::database_ctype(db.conn());
  ASSERT_TRUE(ctype.ok()) << ctype.status().message();
  auto mapping = CaseMapping::for_ctype(*ctype);
  // Latin, Greek, Cyrillic (U+0041-U+052F), Armenian, Georgian, Cherokee, Latin Extended
  // Additional, Greek Extended, Glagolitic, fullwidth forms, Deseret.
  const auto rows = db.rows(
      "SELECT chr(i), lower(chr(i)), upper(chr(i)) FROM ("
      " SELECT generate_series(65, 1327) UNION ALL SELECT generate_series(1329, 1423)"
      " UNION ALL SELECT generate_series(4256, 4351) UNION ALL SELECT generate_series(5024, 5119)"
      " UNION ALL SELECT generate_series(7680, 8191) UNION ALL SELECT generate_series(11264, 11359)"
      " UNION ALL SELECT generate_series(65280, 65519)"
      " UNION ALL SELECT generate_series(66560, 66639)) s(i) ORDER BY i");
  ASSERT_EQ(rows.size(), 2478u);
  std::size_t differ = 0;
  std::string examples;
  for (const std::string& row : rows) {
    const std::size_t a = row.find('\t'), b = row.find('\t', a + 1);
    const std::string c = row.substr(0, a);
    std::string lower = c, upper = c;
    mapping->lower(&lower);
    mapping->upper(&upper);
    if (lower != row.substr(a + 1, b - a - 1) || upper != row.substr(b + 1)) {
      if (++differ <= 10) examples += " " + row + " (ours " + lower + " " + upper + ")";
    }
  }
  EXPECT_EQ(differ, 0u) << mapping->describe() << ":" << examples;
}

INSTANTIATE_TEST_SUITE_P(
    Databases, CaseByCtype,
    ::testing::Values("", "TEMPLATE template0 LC_CTYPE 'C' LC_COLLATE 'C'",
                      "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und'",
                      "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'tr-TR'"),
    [](const auto& p) {
      const std::string o = p.param;
      return o.empty()                              ? std::string("LibcCUtf8")
             : o.find("'C'") != std::string::npos   ? std::string("C")
             : o.find("tr-TR") != std::string::npos ? std::string("IcuTurkish")
                                                    : std::string("IcuRoot");
    });

// Preflight reads the target's ctype: into a database whose ctype is C, lower() leaves É as
// PostgreSQL there does; upper('ß') through ICU's root locale is SS.
TEST(MapFunctions, CopyFollowsTheTargetDatabasesCtype) {
  for (const char* options : {"TEMPLATE template0 LC_CTYPE 'C' LC_COLLATE 'C'",
                              "TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'und'"}) {
    SCOPED_TRACE(options);
    TestDatabase src("cs"), dst("cd", options);
    src.exec("CREATE TABLE w (id int PRIMARY KEY, t text)");
    src.exec("INSERT INTO w VALUES (1, 'ÉCOLE Straße'), (2, 'ԱԲԳ ǅ'), (3, NULL)");
    dst.exec("CREATE TABLE w (id int PRIMARY KEY, t text, lo text, up text)");
    auto r =
        run_backfill({"copy", "--source", src.dsn(), "--target", dst.dsn(), "--table", "w",
                      "--progress", "none", "--map", "lo = lower(t)", "--map", "up = upper(t)"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(dst.value("SELECT count(*) FROM w WHERE lo IS DISTINCT FROM lower(t) OR "
                        "up IS DISTINCT FROM upper(t)"),
              "0");
    EXPECT_EQ(dst.value("SELECT count(*) FROM w WHERE t IS NOT NULL"), "2");
  }
}

TEST(MapFunctions, OursWithoutAPostgresTwinGiveKnownValues) {
  const FunctionRegistry functions = builtin_functions();
  ColumnTypeOf none = [](const std::string&) -> std::optional<ValueType> { return std::nullopt; };
  auto eval = [&](const std::string& text) {
    ExprInputs inputs;
    auto e = Expr::compile(text, 0, functions, none, &inputs);
    if (!e.ok()) return e.status().message();
    Value out;
    CallContext ctx;
    ctx.now = 123456789;
    Status st = (*e)->eval({}, ctx, &out);
    if (!st.is_ok()) return st.message();
    return out.is_null() ? std::string("NULL") : to_text(out);
  };
  EXPECT_EQ(eval("xxh64('')"), "ef46db3751d8e999");  // XXH64's published empty-input value
  EXPECT_EQ(eval("xxh64(42)"), eval("xxh64('42')"));
  EXPECT_EQ(eval("xxh64(NULL)"), "NULL");
  EXPECT_EQ(eval("mask_email('jane.doe@example.com')"), "j***@example.com");
  EXPECT_EQ(eval("mask_email('Ørjan@example.no')"), "Ø***@example.no");
  EXPECT_EQ(eval("mask_email('no-at-sign')"), "***");
  EXPECT_EQ(eval("mask_email(NULL)"), "NULL");
  EXPECT_EQ(eval("now()"), timestamp_to_text(123456789));
}

// Ours and PostgreSQL's spelling of one expression over a column `@`.
struct PassThrough {
  std::string ours, theirs;
};

// Copies table v of db.src into a table w of text columns, one per (column, expression),
// plus each column back into one of its own type through coalesce(), with one `backfill
// copy`; then requires every value to equal what PostgreSQL computes from the same rows.
// Returns the number of values compared.
std::size_t expect_maps_agree(
    SourceAndTarget& db, const std::vector<std::string>& columns,
    const std::function<std::vector<PassThrough>(const std::string&)>& expressions_of) {
  std::string target = "CREATE TABLE w (id int PRIMARY KEY";
  std::vector<std::string> args = db.copy("v", {"--to", "w", "--chunk-rows", "5000"});
  std::string ours_cols = "id", theirs_cols = "id";
  std::vector<std::string> what{"id"};
  auto with = [](std::string text, const std::string& c) {
    for (std::size_t at; (at = text.find('@')) != std::string::npos;) text.replace(at, 1, c);
    return text;
  };
  int k = 0;
  for (const auto& c : columns) {
    for (const auto& e : expressions_of(c)) {
      const std::string out = "o" + std::to_string(k++);
      target += ", " + out + " text";
      args.insert(args.end(), {"--map", out + " = " + with(e.ours, c)});
      ours_cols += ", " + out;
      theirs_cols += ", " + with(e.theirs, c);
      what.push_back(with(e.ours, c));
    }
    // Back into a column of its own type, unchanged: the same value, every byte.
    const std::string same = "s_" + c;
    target += ", " + same + " " +
              db.src.value(
                  "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE "
                  "attrelid = 'v'::regclass AND attname = '" +
                  c + "'");
    args.insert(args.end(), {"--map", same + " = coalesce(" + c + ", " + c + ")"});
    ours_cols += ", " + same + "::text";
    theirs_cols += ", " + c + "::text";
    what.push_back("coalesce(" + c + ", " + c + ") into its own type");
  }
  db.dst.exec(target + ")");
  auto r = run_backfill(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto theirs = db.src.rows("SELECT " + theirs_cols + " FROM v ORDER BY id");
  const auto ours = db.dst.rows("SELECT " + ours_cols + " FROM w ORDER BY id");
  EXPECT_EQ(ours.size(), theirs.size());
  std::size_t compared = 0;
  for (std::size_t row = 0; row < std::min(ours.size(), theirs.size()); ++row) {
    std::stringstream a(ours[row]), b(theirs[row]);
    std::string x, y;
    for (std::size_t col = 0; std::getline(a, x, '\t') && std::getline(b, y, '\t'); ++col) {
      ++compared;
      EXPECT_EQ(x, y) << "row " << row + 1 << ": " << what[col];
    }
  }
  return compared - std::min(ours.size(), theirs.size());  // not the ids
}

// The expressions that print or pass on any value, for every column (json has no equality
// operator in PostgreSQL: its nullif is spelled on the text, the same value).
std::vector<PassThrough> pass_throughs(const std::string& column) {
  return {{"to_text(@)", "@::text"},
          {"concat(@)", "concat(@)"},
          {"concat_ws('|', @, @)", "concat_ws('|', @, @)"},
          {"coalesce(@, @)", "coalesce(@, @)::text"},
          {"nullif(@, NULL)", column == "js" ? "nullif(@::text, NULL)" : "nullif(@, NULL)::text"}};
}

// Every value as a copy reads it: each column of each type, its edge values and NULL, read
// from the real table (so each keeps its PostgreSQL type's form), through the built-ins that
// print or pass a value on, written by one `backfill copy` and compared with what
// PostgreSQL computes from the same rows. Columns x expressions x rows is the corpus's size.
TEST(MapFidelity, EveryTypeThroughEveryPassThroughGivesWhatPostgresGives) {
  SourceAndTarget db;
  db.src.exec(
      "CREATE TABLE v (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz, r real, "
      "f float8, ch char(6), vc varchar(8), n numeric, b bool, i int4, jb jsonb, js json)");
  db.src.exec(
      "INSERT INTO v VALUES"
      " (1, '2024-01-01', '2024-01-01 00:00:00', '2024-06-30 10:00:00.25+00', 0.1, 0.1, 'ab',"
      "  'ab  ', 1.50, true, 7, '{\"b\": 1, \"a\": [1, 2]}',"
      "  '{\"a\" : {\"b\":  [1,  2 ] }, \"a\": {\"b\": [3]}, \"e\": \"\\u00e9\\n\"}'),"
      " (2, '0001-01-01 BC', '4713-01-01 00:00:00 BC', '4713-01-01 00:00:00+00 BC', 1e6, 1e15,"
      "  'é', '', -0.000, false, -2147483648, '\"x\"', '[1, 2.50, -0, 1E+2]'),"
      " (3, '5874897-12-31', '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00',"
      "  1.17549435e-38, 1e-300, '', ' x', 123456789012345678901234567890.5, NULL, 0, 'null',"
      "  '  {}  '),"
      " (4, 'infinity', '-infinity', 'infinity', 'NaN', '-Infinity', 'abcdef', 'ÄÖ', 'NaN',"
      "  true, 2147483647, '[]', '\"\\ud83d\\ude00\"'),"
      " (5, '2000-02-29', '1999-12-31 23:59:59.5', '2000-01-01 00:00:00+00', 3.4028235e38, -0,"
      "  ' a', 'a ', 0, false, 1, '{}', 'null'),"
      " (6, '1970-01-01', '2024-06-30 12:34:56.000001', NULL, 123456.7, 2.5e-5, '123456',"
      "  '12345678', 1e-20, true, NULL, NULL, '1.50e2'),"
      " (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  const std::size_t compared = expect_maps_agree(
      db, {"d", "ts", "tz", "r", "f", "ch", "vc", "n", "b", "i", "jb", "js"}, pass_throughs);
  EXPECT_EQ(compared, 504u);  // 12 types x 6 expressions x 7 rows
}

// The randomised run: random values of every type (text from every script the case mapping
// covers, 4-byte UTF-8, padding; dates over a date's whole range; timestamps over theirs;
// reals and doubles from random bits, subnormals included; long numerics) through the
// pass-throughs and the text and number built-ins. BACKFILL_DIFF_SEED (default 1) and
// BACKFILL_DIFF_ROWS (default 200) choose the run; scripts/fuzz.sh runs it with a new seed.
TEST(MapDifferential, RandomValuesThroughTheBuiltinsAgreeWithPostgres) {
  const char* seed_env = std::getenv("BACKFILL_DIFF_SEED");
  const char* rows_env = std::getenv("BACKFILL_DIFF_ROWS");
  const std::uint64_t seed = seed_env ? std::strtoull(seed_env, nullptr, 10) : 1;
  const int rows = rows_env ? std::atoi(rows_env) : 200;
  SCOPED_TRACE("BACKFILL_DIFF_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto pick = [&](std::uint64_t n) { return rng() % n; };
  // Code points: ASCII, Latin-1 and Extended, Greek, Cyrillic, Armenian, Georgian, Latin
  // Extended Additional, Greek Extended, CJK, fullwidth, Deseret and emoji (4 bytes).
  const std::vector<std::pair<char32_t, char32_t>> blocks{
      {0x20, 0x7E},     {0xA0, 0x24F},      {0x370, 0x3FF},    {0x400, 0x52F},
      {0x531, 0x58F},   {0x10A0, 0x10FF},   {0x1E00, 0x1FFF},  {0x4E00, 0x4E40},
      {0xFF01, 0xFF5E}, {0x10400, 0x1044F}, {0x1F600, 0x1F64F}};
  auto utf8 = [](char32_t c, std::string* out) {
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out->push_back(static_cast<char>(0xC0 | c >> 6));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | c >> 12));
      out->push_back(static_cast<char>(0x80 | (c >> 6 & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | c >> 18));
      out->push_back(static_cast<char>(0x80 | (c >> 12 & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (c >> 6 & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  };
  auto text = [&](std::size_t max) {
    std::string s;
    for (std::size_t n = pick(max + 1); n > 0; --n) {
      const auto& [lo, hi] = blocks[pick(blocks.size())];
      const char32_t c = static_cast<char32_t>(lo + pick(hi - lo + 1));
      if (c == '\'' || c == '\\') continue;
      utf8(c, &s);
    }
    if (pick(4) == 0) s += std::string(pick(3) + 1, ' ');  // trailing spaces
    return "'" + s + "'";
  };
  auto real = [&] {
    const auto bits = static_cast<std::uint32_t>(rng());
    float f;
    std::memcpy(&f, &bits, 4);
    if (std::isnan(f)) return std::string("'NaN'");
    return "'" + real_to_text(f) + "'::real";
  };
  auto dbl = [&] {
    const std::uint64_t bits = rng();
    double f;
    std::memcpy(&f, &bits, 8);
    if (std::isnan(f)) return std::string("'NaN'");
    return "'" + float_to_text(f) + "'::float8";
  };
  auto date = [&] {
    const std::int64_t lo = kFirstTimestampDay, hi = pick(2) ? kEndTimestampDay : 2145031949;
    return "'" + date_to_text(lo + static_cast<std::int64_t>(pick(hi - lo))) + "'";
  };
  auto micros = [&] {
    const std::int64_t lo = kFirstTimestampDay * 86400000000LL,
                       hi = kEndTimestampDay * 86400000000LL;
    // In unsigned arithmetic: the range is wider than an int64 holds.
    const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + pick(span));
  };
  auto numeric = [&] {
    std::string d = pick(2) ? "-" : "";
    for (std::size_t n = pick(30) + 1; n > 0; --n) d.push_back(static_cast<char>('0' + pick(10)));
    if (pick(2)) {
      d += ".";
      for (std::size_t n = pick(12) + 1; n > 0; --n) d.push_back(static_cast<char>('0' + pick(10)));
    }
    return d;
  };
  SourceAndTarget db;
  db.src.exec(
      "CREATE TABLE v (id int PRIMARY KEY, t text, ch char(8), vc varchar(12), d date, "
      "ts timestamp, tz timestamptz, r real, f float8, n numeric, i int8, b bool)");
  std::string insert = "INSERT INTO v VALUES ";
  for (int id = 1; id <= rows; ++id) {
    auto maybe = [&](const std::string& v) { return pick(10) == 0 ? std::string("NULL") : v; };
    insert += (id > 1 ? ", (" : "(") + std::to_string(id) + ", " + maybe(text(12)) + ", " +
              maybe(text(8)) + ", " + maybe(text(12)) + ", " + maybe(date()) + ", " +
              maybe("'" + timestamp_to_text(micros(), false) + "'") + ", " +
              maybe("'" + timestamp_to_text(micros()) + "'") + ", " + maybe(real()) + ", " +
              maybe(dbl()) + ", " + maybe(numeric()) + ", " +
              maybe(std::to_string(static_cast<std::int64_t>(rng()))) + ", " +
              maybe(pick(2) ? "true" : "false") + ")";
  }
  db.src.exec(insert);
  const std::vector<std::string> texts{"t", "ch", "vc"}, numbers{"r", "f", "n", "i"};
  auto expressions = [&](const std::string& c) {
    std::vector<PassThrough> e = pass_throughs(c);
    if (std::find(texts.begin(), texts.end(), c) != texts.end()) {
      for (const char* f : {"lower(@)", "upper(@)", "length(@)", "md5(@)", "trim(@)",
                            "substr(@, 2, 3)", "left(@, 2)", "right(@, 2)"}) {
        e.push_back({f, f});
      }
      e.push_back({"trim(@)", "btrim(@)"});
      e.push_back({"regexp_replace(@, '\\w', 'X', 'g')", "regexp_replace(@, '\\w', 'X', 'g')"});
      e.push_back({"regexp_replace(@, '[[:alpha:]]+', '<\\&>', 'gi')",
                   "regexp_replace(@, '[[:alpha:]]+', '<\\&>', 'gi')"});
      e.push_back({"concat_ws(@, 'a', 'b')", "concat_ws(@, 'a', 'b')"});
    }
    if (std::find(numbers.begin(), numbers.end(), c) != numbers.end()) {
      e.push_back({"to_numeric(@)", "@::numeric"});
    }
    return e;
  };
  const std::size_t compared = expect_maps_agree(
      db, {"t", "ch", "vc", "d", "ts", "tz", "r", "f", "n", "i", "b"}, expressions);
  std::printf("[ differential ] seed %llu: %zu values compared (%d rows)\n",
              static_cast<unsigned long long>(seed), compared, rows);
}

// A json column into a jsonb one: the target stores jsonb's text (keys ordered by length,
// then bytes; of duplicates the last; numbers as numeric prints them; escapes resolved), and
// verify, which compares what the --map gives with the target's bytes, finds them equal.
TEST(MapFidelity, JsonIntoJsonbIsJsonbsTextAndVerifiesClean) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE v (id int PRIMARY KEY, js json)");
  db.src.exec(
      "INSERT INTO v VALUES"
      " (1, '{\"bb\": 1, \"a\": 2, \"ccc\": {\"z\": [], \"y\": {}}, \"aa\": 3, \"a\": 4}'),"
      " (2, '[1.50e2, -0, 0.10, 1e-3, 1E+2, -12.5E-1, 12345678901234567890123]'),"
      " (3, '\"tab\\there \\u00e9 \\\" \\\\ \\/ \\u001f \\ud83d\\ude00\"'),"
      " (4, '  {\"k\" :  [ true , false , null ] }  '), (5, 'true'), (6, '-0.0'),"
      " (7, '\"\"'), (8, NULL), (9, '{\"\\u00e9\": 1, \"e\": 2, \"\\n\": 3}')");
  db.dst.exec("CREATE TABLE v (id int PRIMARY KEY, js jsonb)");
  const std::vector<std::string> map{"--map", "js = coalesce(js, js)"};
  auto r = run_backfill(db.copy("v", map));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  db.expect_same("SELECT id, js::jsonb::text FROM v ORDER BY id",
                 "SELECT id, js::text FROM v ORDER BY id");
  auto verify = db.copy("v", map);
  verify[0] = "verify";
  auto v = run_backfill(verify);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("match: 9 rows"), std::string::npos) << v.out;
}

// Values PostgreSQL refuses are errors naming the --map and the row, never rounded: a
// double below a real's range (underflow) or above it (overflow).
TEST(MapFidelity, ADoubleOutOfARealsRangeIsAnErrorNotZeroOrInfinity) {
  for (const char* value : {"1e-300", "1e300"}) {
    SCOPED_TRACE(value);
    SourceAndTarget db;
    db.src.exec("CREATE TABLE v (id int PRIMARY KEY, f float8)");
    db.src.exec(std::string("INSERT INTO v VALUES (1, 1), (2, ") + value + ")");
    db.dst.exec("CREATE TABLE v (id int PRIMARY KEY, r real)");
    auto pg = db.src.conn().query(std::string("SELECT ") + value + "::float8::real");
    ASSERT_FALSE(pg.ok());  // PostgreSQL's own refusal
    auto r = run_backfill(db.copy("v", {"--map", "r = coalesce(f, f)"}));
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find(std::string("--map \"r = coalesce(f, f)\": value out of range for "
                                     "real: ") +
                         (value[1] == 'e' && value[2] == '-' ? "underflow" : "overflow")),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("(the row with key (id)=(2))"), std::string::npos) << r.err;
    EXPECT_EQ(db.dst.value("SELECT count(*) FROM v WHERE id = 2"), "0");
  }
}

class Map : public ::testing::Test {
 protected:
  void SetUp() override {
    both.src.exec(
        "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, first_name text, "
        "last_name text, profile jsonb, score int)");
    both.src.exec(
        "INSERT INTO users SELECT i, 'User' || i || '@Example.COM', 'First' || i,"
        " CASE WHEN i % 10 = 0 THEN NULL ELSE 'Last' || i END,"
        " jsonb_build_object('city', 'City' || (i % 7), 'zip', i), i % 100"
        " FROM generate_series(1, 20000) i");
    both.dst.exec(
        "CREATE TABLE users_new (id bigint PRIMARY KEY, email text NOT NULL, full_name text, "
        "city text, score numeric(6,1), initial char(3), created timestamptz)");
  }
  std::vector<std::string> maps() {
    return {"--to", "users_new", "--map", "email = lower(email)", "--map",
            "full_name = concat_ws(' ', first_name, upper(last_name))", "--map",
            "city = json_get(profile, 'city')", "--map", "score = to_numeric(score)",
            // Stored padded to three characters: verify must see the same bytes.
            "--map", "initial = left(first_name, 1)"};
  }
  std::vector<std::string> verify(std::vector<std::string> extra = {}) {
    auto a = both.copy("users", maps());
    a[0] = "verify";
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  SourceAndTarget both;
};

TEST_F(Map, CopyWithMapsThenVerifyWithTheSameMapsIsClean) {
  auto r = run_backfill(both.copy("users", maps()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Exactly what PostgreSQL computes from the same rows.
  both.expect_same(
      "SELECT id, lower(email), concat_ws(' ', first_name, upper(last_name)), profile->>'city', "
      "score::numeric(6,1), left(first_name, 1)::char(3) FROM users ORDER BY id",
      "SELECT id, email, full_name, city, score, initial FROM users_new ORDER BY id");
  EXPECT_EQ(both.dst.value("SELECT octet_length(initial::bytea) FROM users_new WHERE id = 1"), "3");
  EXPECT_EQ(both.dst.value("SELECT count(*) FROM users_new WHERE created IS NOT NULL"), "0");

  std::string report = temp_path("map_verify.json");
  auto v = run_backfill(verify({"--report", report}));
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(read_text(report).find("\"method\": \"streamed\""), std::string::npos)
      << read_text(report);
}

TEST_F(Map, ATamperedResultIsFoundByKeyAndRepaired) {
  ASSERT_EQ(run_backfill(both.copy("users", maps())).exit_code, 0);
  both.dst.exec("UPDATE users_new SET full_name = 'First7 LAST7 ' WHERE id = 7");
  both.dst.exec("UPDATE users_new SET city = NULL WHERE id = 19999");
  std::string report = temp_path("map_tampered.json");
  auto v = run_backfill(verify({"--report", report}));
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  const std::string json = read_text(report);
  EXPECT_NE(json.find("\"rows_different\": 2,"), std::string::npos) << json;
  EXPECT_TRUE(report_lists(json, "id", "7", "different")) << json;
  EXPECT_TRUE(report_lists(json, "id", "19999", "different")) << json;

  auto repaired = run_backfill(verify({"--repair"}));
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  EXPECT_EQ(both.dst.value("SELECT full_name || '|' || city FROM users_new WHERE id = 7"),
            "First7 LAST7|City0");
  EXPECT_EQ(run_backfill(verify({"--restart"})).exit_code, 0);
}

TEST_F(Map, PushDownCannotComputeAMapAndSaysSo) {
  auto v = run_backfill(verify({"--method", "push-down"}));
  EXPECT_EQ(v.exit_code, 2);
  EXPECT_NE(v.err.find("the servers cannot compute a --map expression"), std::string::npos)
      << v.err;
}

TEST_F(Map, BadExpressionsStopAtPreflightWithThePosition) {
  both.dst.exec(
      "ALTER TABLE users_new ADD COLUMN email_lc text GENERATED ALWAYS AS (lower(email)) STORED");
  struct Bad {
    const char* map;
    const char* message;
  };
  const Bad cases[] = {
      {"email = lowr(email)",
       "--map \"email = lowr(email)\": at position 9: unknown function lowr()"},
      {"email = lower(emial)",
       "--map \"email = lower(emial)\": at position 15: no column \"emial\" in public.users"},
      {"email = lower(email, 'x')",
       "--map \"email = lower(email, 'x')\": at position 9: lower() takes 1 argument, not 2"},
      {"email = lower(email", "--map \"email = lower(email\": at position 20: expected ',' or ')'"},
      {"score = lower(email)",
       "--map \"score = lower(email)\": the expression gives text, which target column \"score\" "
       "(numeric(6,1)) cannot store; convert it with to_numeric()"},
      {"email = upper(score)",
       "--map \"email = upper(score)\": at position 15: upper() argument 1 must be text, not "
       "integer"},
      {"nope = lower(email)",
       "--map \"nope = lower(email)\": target table public.users_new has no column \"nope\""},
      {"email = regexp_replace(email, '(', 'x')",
       "--map \"email = regexp_replace(email, '(', 'x')\": at position 9: regexp_replace(): "
       "invalid "
       "regular expression '('"},
      {"email_lc = upper(email)",
       "--map \"email_lc = upper(email)\": \"email_lc\" of public.users_new is a generated "
       "column, which the target computes; it takes no --map"},
  };
  for (const Bad& b : cases) {
    SCOPED_TRACE(b.map);
    auto r = run_backfill(both.copy("users", {"--to", "users_new", "--map", b.map}));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(b.message), std::string::npos) << r.err;
  }
  EXPECT_EQ(both.dst.value("SELECT count(*) FROM users_new"), "0");
  EXPECT_FALSE(both.ledger_exists());
  // update's --map likewise, before anything is written.
  auto u = run_backfill({"update", "--target", both.dst.dsn(), "--table", "users_new", "--map",
                         "email_lc = upper(email)"});
  EXPECT_EQ(u.exit_code, 2) << u.err;
  EXPECT_NE(u.err.find("\"email_lc\" of public.users_new is a generated column"), std::string::npos)
      << u.err;
  // And update's --set, the SQL it is.
  auto set = run_backfill(
      {"update", "--target", both.dst.dsn(), "--table", "users_new", "--set", "email_lc = 'x'"});
  EXPECT_EQ(set.exit_code, 2) << set.err;
  EXPECT_NE(set.err.find("--set \"email_lc = 'x'\": \"email_lc\" is a generated column"),
            std::string::npos)
      << set.err;
  EXPECT_FALSE(both.ledger_exists());
}

TEST_F(Map, AValueAFunctionCannotTakeStopsTheJobNamingTheMap) {
  both.src.exec("UPDATE users SET first_name = 'x' || id WHERE id = 5");
  auto r = run_backfill(
      both.copy("users", {"--to", "users_new", "--map", "score = to_int(substr(first_name, 6))"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(
      r.err.find(
          "--map \"score = to_int(substr(first_name, 6))\": to_int(): invalid input syntax for "
          "type bigint: \"\" (the row with key (id)=(5))"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("progress is kept"), std::string::npos) << r.err;
}

// A date past the timestamps' range (294276 AD) is a date still: through coalesce() into a
// date column it arrives as it is; into a timestamptz column it is PostgreSQL's error, which
// stops the job naming the --map and the row, never a date wrapped into another.
TEST_F(Map, ADatePastTheTimestampRangeStaysADateAndFailsOnlyAsATimestamp) {
  both.src.exec("ALTER TABLE users ADD COLUMN born date");
  both.src.exec("UPDATE users SET born = '5874897-12-31' WHERE id = 7");
  both.dst.exec("ALTER TABLE users_new ADD COLUMN born date");
  auto ok = run_backfill(both.copy(
      "users", {"--to", "users_new", "--job", "as-date", "--map", "born = coalesce(born, born)"}));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(both.dst.value("SELECT born FROM users_new WHERE id = 7"), "5874897-12-31");
  both.dst.exec("TRUNCATE users_new");
  auto r = run_backfill(both.copy("users", {"--to", "users_new", "--job", "as-timestamp", "--map",
                                            "created = coalesce(born, born)"}));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("--map \"created = coalesce(born, born)\": date out of range for "
                       "timestamp: 5874897-12-31 (the row with key (id)=(7))"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("chunk 1: chunk 1"), std::string::npos) << r.err;
  EXPECT_EQ(both.dst.value("SELECT count(*) FROM users_new WHERE created > '294276-01-01'"), "0");
}

TEST_F(Map, APluginsFunctionIsCallableFromMap) {
  const std::string plugin = BACKFILL_PLUGIN_PATH;
  auto r = run_backfill(both.copy("users", {"--to", "users_new", "--plugin", plugin, "--map",
                                            "full_name = initials(first_name, last_name)"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(both.dst.value("SELECT full_name FROM users_new WHERE id = 7"), "F.L.");
  EXPECT_EQ(both.dst.value("SELECT full_name FROM users_new WHERE id = 10"), "F.");
  // Without the plugin the name is unknown, before anything is written.
  auto missing =
      run_backfill(both.copy("users", {"--to", "users_new", "--map",
                                       "full_name = initials(first_name)", "--job", "other"}));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("unknown function initials()"), std::string::npos) << missing.err;
  const std::string not_a_library = std::string(BACKFILL_SOURCE_DIR) + "/README.md";
  auto bad = run_backfill(both.copy("users", {"--to", "users_new", "--plugin", not_a_library}));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--plugin " + not_a_library + ": "), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace backfill::testing
