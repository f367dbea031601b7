// Every common column type survives a copy exactly: binary COPY at both ends, cast on read.
#include <gtest/gtest.h>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

const char* kTypes =
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\n"
    "CREATE DOMAIN positive AS int CHECK (VALUE > 0);\n"
    "CREATE TABLE t (id int PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,"
    " n numeric, nbig numeric(40,20), tx text, vc varchar(50), ch char(5), by bytea, js json,"
    " jb jsonb, ai int[], at text[], u uuid, m mood, p positive, d date, tm time,"
    " ts timestamp, tz timestamptz, iv interval, ip inet, big text)";

const char* kRows =
    "INSERT INTO t VALUES"
    " (1, true, 1, 2, 3, 1.5, 2.25, 1.0, 12345678901234567890.12345678901234567890, 'héllo wörld "
    "☃',"
    "  'v', 'ab', '\\x00ff10', '{\"a\": [1, 2]}', '{\"b\": {\"c\": null}}', '{1,2,NULL}',"
    "  '{\"x\",\"y,z\",NULL}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', 7, '2024-02-29',"
    "  '23:59:59.999999', '2024-01-01 00:00:00.000001', '2024-06-30 12:00:00+02', '1 year 2 mons 3 "
    "days 04:05:06.789',"
    "  '192.168.0.1/24', 'small'),"
    " (2, false, -32768, -2147483648, -9223372036854775808, 'NaN', 'Infinity', 'NaN', 0, '',"
    "  '', '', '', '[]', '[]', '{}', '{}', '00000000-0000-0000-0000-000000000000', 'sad', 1,"
    "  '0001-01-01 BC', '00:00', '-infinity', 'infinity', '-1 day', '::1', repeat('x', 0)),"
    " (3, NULL, NULL, NULL, NULL, '-Infinity', '-0', NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
    " (4, true, 32767, 2147483647, 9223372036854775807, '-0', '-Infinity', '-0.000', '-1e-20',"
    "  E'tab\\tnewline\\nquote\\'', 'x', 'abcde', '\\x', '\"str\"', '1', '{-1}', '{\"\"}',"
    "  'ffffffff-ffff-ffff-ffff-ffffffffffff', 'ok', 2147483647, '294276-12-31', '24:00:00',"
    "  '294276-12-31 23:59:59.999999', '4713-01-01 00:00:00+00 BC', '178000000 years', "
    "'2001:db8::/32',"
    "  NULL),"
    " (5, false, 0, 0, 0, 1e-45, 1.7976931348623157e308, 1e-1000, 1, 'NULL', 'null', 'N', '\\x00',"
    "  'null', 'null', '{{1,2},{3,4}}', '{\"{\",\"}\"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',"
    "  'ok', 3, '2000-01-01', '12:00', '2000-01-01', '2000-01-01', '0', '0.0.0.0', NULL)";

TEST(CopyTypes, EveryCommonTypeIncludingEdgeValuesAndAToastedValueIsCopiedExactly) {
  SourceAndTarget db;
  db.src.exec(kTypes);
  db.dst.exec(kTypes);
  db.src.exec(kRows);
  // A few MB of incompressible text: stored out of line (TOAST), sent in one field.
  db.src.exec(
      "INSERT INTO t (id, big) SELECT 6, string_agg(md5(g::text), '') FROM generate_series(1, "
      "150000) g");
  ASSERT_EQ(db.src.value("SELECT length(big) FROM t WHERE id = 6"), "4800000");
  auto r = run_backfill(db.copy("t", {"--chunk-rows", "2"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Text output of every column (floats with extra_float_digits=3: exact), sorted by key.
  db.expect_same("SELECT * FROM t ORDER BY id", "SELECT * FROM t ORDER BY id");
  // And the exact bytes where text output could hide a difference.
  db.expect_same(
      "SELECT id, float4send(f4), float8send(f8), numeric_send(n), md5(big), jsonb_send(jb) FROM t "
      "ORDER BY id",
      "SELECT id, float4send(f4), float8send(f8), numeric_send(n), md5(big), jsonb_send(jb) FROM t "
      "ORDER BY id");
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM t"), "6");
}

TEST(CopyTypes, CastsOnReadToTheTargetsTypes) {
  SourceAndTarget db;
  db.src.exec(
      "CREATE TABLE t (id int PRIMARY KEY, a int, b text, c numeric(10,4), d timestamp, e "
      "varchar(10))");
  db.src.exec(
      "INSERT INTO t VALUES (1, 7, '2024-05-01', 1.23456, '2024-01-01 10:00', 'happy'), (2, NULL, "
      "NULL, NULL, NULL, 'sad')");
  db.dst.exec("CREATE TYPE mood AS ENUM ('sad', 'happy')");
  db.dst.exec(
      "CREATE TABLE t (id bigint PRIMARY KEY, a bigint, b date, c numeric(10,2), d timestamptz, e "
      "mood)");
  auto r = run_backfill(db.copy("t"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(db.dst.rows("SELECT * FROM t ORDER BY id"),
            (std::vector<std::string>{"1\t7\t2024-05-01\t1.23\t2024-01-01 10:00:00+00\thappy",
                                      "2\t\\N\t\\N\t\\N\t\\N\tsad"}));
}

}  // namespace
}  // namespace backfill::testing
