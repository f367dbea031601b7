// Shared pieces of the CLI suites: a source and a target database, the copy command line,
// and exact comparison of two tables across databases.
#pragma once

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/pg_fixture.hpp"

namespace backfill::testing {

// A table with a column of each common type, and rows of edge values (NULLs in every
// nullable column, NaN, infinities, -0, empty strings and arrays, extreme dates).
inline const char* kTypes =
    "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\n"
    "CREATE DOMAIN positive AS int CHECK (VALUE > 0);\n"
    "CREATE TABLE t (id int PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,"
    " n numeric, nbig numeric(40,20), tx text, vc varchar(50), ch char(5), by bytea, js json,"
    " jb jsonb, ai int[], at text[], u uuid, m mood, p positive, d date, tm time,"
    " ts timestamp, tz timestamptz, iv interval, ip inet, big text)";

inline const char* kRows =
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

struct SourceAndTarget {
  TestDatabase src{"src"};
  TestDatabase dst{"dst"};

  std::vector<std::string> copy(const std::string& table, std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"copy",    "--source", src.dsn(),    "--target", dst.dsn(),
                               "--table", table,      "--progress", "none"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Both tables' rows, sorted by `order`, as text: equal means every value is equal.
  void expect_same(const std::string& src_select, const std::string& dst_select) {
    auto a = src.rows(src_select);
    auto b = dst.rows(dst_select);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "row " << i;
  }

  // The type table of kTypes on both sides, filled on the source with kRows and a few MB
  // of incompressible text (stored out of line, TOAST) in row 6.
  void load_type_table() {
    src.exec(kTypes);
    dst.exec(kTypes);
    src.exec(kRows);
    src.exec(
        "INSERT INTO t (id, big) SELECT 6, string_agg(md5(g::text), '') FROM "
        "generate_series(1, 150000) g");
  }

  bool ledger_exists() {
    return dst.value("SELECT to_regclass('backfill.jobs') IS NOT NULL") == "t";
  }
};

inline std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Whether a verify report lists the row whose single key column `column` is `key` as `kind`
// (missing, extra, different).
inline bool report_lists(const std::string& report_json, const std::string& column,
                         const std::string& key, const std::string& kind) {
  auto report = nlohmann::json::parse(report_json, nullptr, false);
  if (report.is_discarded() || !report.contains("differences")) return false;
  for (const auto& d : report["differences"]) {
    if (d.value("kind", "") == kind && d.contains("key") && d["key"].value(column, "") == key) {
      return true;
    }
  }
  return false;
}

inline std::string temp_path(const std::string& name) { return ::testing::TempDir() + name; }

}  // namespace backfill::testing
