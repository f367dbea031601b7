// Every common column type survives a copy exactly: binary COPY at both ends, cast on read.
#include <gtest/gtest.h>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

TEST(CopyTypes, EveryCommonTypeIncludingEdgeValuesAndAToastedValueIsCopiedExactly) {
  SourceAndTarget db;
  db.load_type_table();
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
