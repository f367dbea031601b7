// Preflight: bad input gets a message naming the problem and exit 2, before anything is
// written (no rows in the target, no ledger schema).
#include <gtest/gtest.h>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

class Preflight : public ::testing::Test {
 protected:
  void SetUp() override {
    db.src.exec(
        "CREATE TABLE users (id int PRIMARY KEY, email text, created date, spot point, f float8 "
        "NOT NULL UNIQUE, maybe int UNIQUE, dup int)");
    db.src.exec("INSERT INTO users VALUES (1, 'a@x', '2024-01-01', '(1,2)', 1.5, 1, 1)");
    db.src.exec("CREATE TABLE nokey (a int, b text)");
    db.dst.exec("CREATE TABLE users (id int PRIMARY KEY, email text, created date)");
    db.dst.exec("CREATE TABLE strict (id int PRIMARY KEY, email text, must text NOT NULL)");
    db.dst.exec("CREATE TABLE pointy (id int PRIMARY KEY, spot int)");
    db.dst.exec("CREATE TABLE nokey (a int, b text)");
    db.dst.exec("CREATE TABLE plain (id int, email text)");
  }

  // Runs, expects exit 2 with `needle` in the message, and nothing written.
  void expect_refused(const std::vector<std::string>& args, const std::string& needle) {
    auto r = run_backfill(args);
    EXPECT_EQ(r.exit_code, 2) << r.err << r.out;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "message: " << r.err;
    EXPECT_EQ(r.err.find("s3cret"), std::string::npos) << "password printed: " << r.err;
    EXPECT_FALSE(db.ledger_exists()) << "the ledger was created";
    EXPECT_EQ(db.dst.value("SELECT count(*) FROM users"), "0");
  }

  SourceAndTarget db;
};

TEST_F(Preflight, MalformedDsn) {
  expect_refused({"copy", "--source", "host=x password=s3cret port", "--target", db.dst.dsn(),
                  "--table", "users"},
                 "--source: malformed connection string");
}

TEST_F(Preflight, TheDriverIsPickedFromTheConnectionString) {
  // A MySQL source is named as such (its driver is not built yet), not as a malformed libpq
  // string; the target and the ledger must be PostgreSQL.
  expect_refused({"copy", "--source", "mysql://app:s3cret@db1:3306/shop", "--target",
                  db.dst.dsn(), "--table", "users"},
                 "--source: a MySQL/MariaDB source needs the mysql driver");
  expect_refused({"verify", "--source", db.src.dsn(), "--target",
                  "mariadb://app:s3cret@db2/shop", "--table", "users"},
                 "--target: the target must be a PostgreSQL database");
  expect_refused({"copy", "--source", db.src.dsn(), "--target", db.dst.dsn(), "--state",
                  "mysql://app:s3cret@db3/state", "--table", "users"},
                 "--state: the ledger (--state) must be a PostgreSQL database");
  expect_refused({"copy", "--source", "sqlite://s3cret.db", "--target", db.dst.dsn(), "--table",
                  "users"},
                 "--source: unknown connection string scheme \"sqlite://\"");
}

TEST_F(Preflight, UnreachableServer) {
  expect_refused({"copy", "--source", db.src.dsn(), "--target",
                  "host=/nonexistent port=1 dbname=x password=s3cret", "--table", "users"},
                 "--target: cannot connect");
}

TEST_F(Preflight, MissingSourceTable) {
  expect_refused(db.copy("nosuch"), "source: table nosuch does not exist");
}

TEST_F(Preflight, MissingTargetTable) {
  expect_refused(db.copy("users", {"--to", "elsewhere"}), "target: table elsewhere does not exist");
}

TEST_F(Preflight, ATableNameIsNeverSql) {
  expect_refused(db.copy("users; drop table users"),
                 "table users; drop table users does not exist");
  EXPECT_EQ(db.src.value("SELECT count(*) FROM users"), "1");
}

// A table without a key is copied in TID ranges (tests/cli/keyless_test.cpp), but only
// where nothing needs to match a row to its key: no conflict policy, no in-place update.
TEST_F(Preflight, NoPrimaryKeyAndNoKeyOption) {
  expect_refused(db.copy("nokey", {"--on-conflict", "overwrite"}),
                 "table public.nokey has no key, so a conflict cannot be told");
  expect_refused({"update", "--target", db.dst.dsn(), "--table", "nokey", "--set", "b = 'x'"},
                 "has no primary key");
}

TEST_F(Preflight, KeyColumnThatIsNullable) {
  expect_refused(db.copy("users", {"--key", "maybe"}), "is nullable");
}

TEST_F(Preflight, KeyWithoutAUniqueIndex) {
  db.src.exec("ALTER TABLE users ALTER dup SET NOT NULL");
  expect_refused(db.copy("users", {"--key", "dup"}), "no unique index");
}

TEST_F(Preflight, KeyOfATypeWeCannotChunkOn) {
  expect_refused(db.copy("users", {"--key", "f"}), "has type double precision");
}

TEST_F(Preflight, MissingColumnInKeyMapAndColumns) {
  expect_refused(db.copy("users", {"--key", "nosuch"}), "has no column \"nosuch\"");
  expect_refused(db.copy("users", {"--map", "email = nosuch"}),
                 "at position 9: no column \"nosuch\" in public.users");
  expect_refused(db.copy("users", {"--map", "nosuch = email"}),
                 "target table public.users has no column \"nosuch\"");
  expect_refused(db.copy("users", {"--columns", "id,nosuch"}), "has no column \"nosuch\"");
}

TEST_F(Preflight, TargetColumnWithNoCastFromItsSource) {
  expect_refused(
      db.copy("users", {"--to", "pointy"}),
      "target column \"spot\" (integer) cannot be filled from source column \"spot\" (point)");
}

TEST_F(Preflight, NotNullTargetColumnThatNothingFills) {
  expect_refused(db.copy("users", {"--to", "strict"}),
                 "target column \"must\" of public.strict is NOT NULL");
}

TEST_F(Preflight, BadOptionValues) {
  expect_refused(db.copy("users", {"--chunk-rows", "0"}), "--chunk-rows");
  expect_refused(db.copy("users", {"--jobs", "many"}), "--jobs");
  expect_refused(db.copy("users", {"--on-conflict", "sometimes"}), "--on-conflict must be");
  expect_refused(db.copy("users", {"--progress", "loud"}), "--progress");
}

TEST_F(Preflight, TableCopiedOntoItself) {
  expect_refused({"copy", "--source", db.dst.dsn(), "--target", db.dst.dsn(), "--table", "users"},
                 "source and target are the same table");
}

TEST_F(Preflight, WhereThatDoesNotParseOrSmugglesAStatement) {
  expect_refused(db.copy("users", {"--where", "id >"}), "--where:");
  expect_refused(db.copy("users", {"--where", "true); DROP TABLE users; SELECT (1"}), "--where:");
  EXPECT_EQ(db.src.value("SELECT count(*) FROM users"), "1");
}

TEST_F(Preflight, WhereThatWritesIsRefused) {
  db.src.exec(
      "CREATE SEQUENCE s;\n"
      "CREATE TABLE audit (n int);\n"
      "CREATE FUNCTION noted() RETURNS boolean LANGUAGE sql AS "
      "'INSERT INTO audit VALUES (1) RETURNING true'");
  expect_refused(db.copy("users", {"--where", "nextval('s') > 0"}),
                 "--where \"nextval('s') > 0\" writes to the database, and may only compute "
                 "values: ");
  expect_refused(db.copy("users", {"--where", "noted()"}), "--where \"noted()\" writes");
  EXPECT_EQ(db.src.value("SELECT last_value || ' ' || is_called FROM s"), "1 false");
  EXPECT_EQ(db.src.value("SELECT count(*) FROM audit"), "0");
}

// Regression: skip into a target without a unique index was accepted, and a rerun with
// --restart wrote every row a second time.
TEST_F(Preflight, EveryPolicyButErrorNeedsAUniqueKeyInTheTarget) {
  for (const char* policy : {"skip", "overwrite", "newer:id"}) {
    SCOPED_TRACE(policy);
    expect_refused(db.copy("users", {"--to", "plain", "--on-conflict", policy}),
                   std::string("--on-conflict ") + policy +
                       " needs the key copied into public.plain and a unique index there on "
                       "(\"id\"), which it does not have");
  }
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM plain"), "0");
}

TEST_F(Preflight, ExistingJobWithOtherArguments) {
  ASSERT_EQ(run_backfill(db.copy("users", {"--columns", "id"})).exit_code, 0);
  auto r = run_backfill(db.copy("users", {"--columns", "id,email"}));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("exists in the ledger with different arguments"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace backfill::testing
