// Job files: every option of a subcommand in a TOML file (`--config FILE`, a [section] per
// subcommand), flags overriding it. The examples in examples/ run as they are, pointed at
// the test databases by flags, and a job file gives the same result as the same flags.
#include <gtest/gtest.h>

#include <fstream>
#include <tuple>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

std::string example(const std::string& name) {
  return std::string(BACKFILL_SOURCE_DIR) + "/examples/" + name;
}

std::string read_repo_file(const std::string& path) {
  return read_text(std::string(BACKFILL_SOURCE_DIR) + "/" + path);
}

// The demo's source table, with a few rows.
void load_users(TestDatabase& db, int rows) {
  db.exec(
      "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, first_name text NOT "
      "NULL, last_name text, created_at timestamptz NOT NULL, balance numeric(12,2) NOT NULL "
      "DEFAULT 0, settings jsonb)");
  db.exec("INSERT INTO users SELECT i, 'User' || i || '@Example.COM', 'Ada' || i, CASE WHEN i % "
          "5 = 0 THEN NULL ELSE 'Lovelace' END, '2020-01-01'::timestamptz + i * interval '1 h', "
          "i / 3.0, jsonb_build_object('i', i) FROM generate_series(1, " +
          std::to_string(rows) + ") i");
}

TEST(JobFiles, TheMoveExampleCopiesAndVerifies) {
  SourceAndTarget db;
  load_users(db.src, 500);
  db.src.exec("UPDATE users SET last_name = 'Hopper' WHERE last_name IS NULL");  // NOT NULL there
  db.dst.exec(read_repo_file("scripts/sql/users_v2.sql"));
  const std::string report = temp_path("move.json");
  const std::vector<std::string> here{"--source", db.src.dsn(), "--target", db.dst.dsn(),
                                      "--report", report, "--progress", "none"};
  std::vector<std::string> copy{"--config", example("move_users.toml"), "copy"};
  copy.insert(copy.end(), here.begin(), here.end());
  auto c = run_backfill(copy);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM users WHERE email_address LIKE 'User%'"), "500");
  EXPECT_NE(read_text(report).find("\"on_conflict\": \"skip\""), std::string::npos);
  // --config after the subcommand, as most people type it.
  std::vector<std::string> verify{"verify", "--config", example("move_users.toml")};
  verify.insert(verify.end(), here.begin(), here.end());
  auto v = run_backfill(verify);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("match: 500 rows"), std::string::npos) << v.out;
}

TEST(JobFiles, TheExpandContractExampleFillsTheNewColumn) {
  TestDatabase db;
  load_users(db, 400);
  db.exec("ALTER TABLE users ADD COLUMN email_address text");
  const std::string file = example("expand_contract_email.toml");
  auto p = run_backfill({"--config", file, "plan", "update", "--target", db.dsn()});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_NE(p.out.find("SET \"email_address\" = (lower(email))"), std::string::npos) << p.out;
  auto u = run_backfill({"--config", file, "update", "--target", db.dsn(), "--report",
                         temp_path("expand.json"), "--progress", "none"});
  ASSERT_EQ(u.exit_code, 0) << u.err;
  EXPECT_EQ(db.value("SELECT count(*) FROM users WHERE email_address = lower(email)"), "400");
}

TEST(JobFiles, TheShadowTableExampleComputesFullNameAndVerifies) {
  TestDatabase db;
  load_users(db, 300);
  db.exec("CREATE TABLE users_new (id bigint PRIMARY KEY, email text NOT NULL, full_name text "
          "NOT NULL, created_at timestamptz NOT NULL, balance numeric(12,2), settings jsonb)");
  const std::vector<std::string> here{"--source", db.dsn(), "--target", db.dsn(), "--report",
                                      temp_path("shadow.json"), "--progress", "none"};
  for (const char* command : {"copy", "verify"}) {
    std::vector<std::string> a{"--config", example("shadow_users_new.toml"), command};
    a.insert(a.end(), here.begin(), here.end());
    auto r = run_backfill(a);
    ASSERT_EQ(r.exit_code, 0) << command << r.out << r.err;
  }
  EXPECT_EQ(db.value("SELECT full_name FROM users_new WHERE id = 4"), "Ada4 Lovelace");
  EXPECT_EQ(db.value("SELECT full_name FROM users_new WHERE id = 5"), "Ada5");
}

// The same update from flags and from a job file, on two identical tables: same rows
// changed, same data, same report; a flag given with the file overrides it.
TEST(JobFiles, AJobFileGivesTheSameResultAsTheSameFlags) {
  TestDatabase db;
  for (const char* t : {"a", "b"}) {
    db.exec(std::string("CREATE TABLE ") + t + " (id int PRIMARY KEY, email text, e text)");
    db.exec(std::string("INSERT INTO ") + t +
            " SELECT i, 'X' || i || '@Y.Z', NULL FROM generate_series(1, 1000) i");
  }
  const std::string file = temp_path("update_job.toml");
  std::ofstream(file) << "[update]\ntarget = \"" << db.dsn()
                      << "\"\ntable = \"b\"\nset = [\"e = lower(email)\"]\nwhere = \"id > "
                         "100\"\nchunk-rows = 70\njobs = 1\nprogress = \"none\"\n";
  const std::string ra = temp_path("flags.json"), rb = temp_path("file.json");
  auto a = run_backfill({"update", "--target", db.dsn(), "--table", "a", "--set",
                         "e = lower(email)", "--where", "id > 100", "--chunk-rows", "70",
                         "--jobs", "1", "--progress", "none", "--report", ra});
  auto b = run_backfill({"--config", file, "update", "--report", rb});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(db.rows("SELECT id, e FROM a ORDER BY id"), db.rows("SELECT id, e FROM b ORDER BY id"));
  for (const auto& r : {ra, rb}) {
    const std::string json = read_text(r);
    EXPECT_NE(json.find("\"rows\": 900,"), std::string::npos) << json;
    EXPECT_NE(json.find("\"chunk_rows\": 70,"), std::string::npos) << json;
  }
  auto over = run_backfill({"--config", file, "update", "--restart", "--chunk-rows", "500",
                            "--report", rb});
  ASSERT_EQ(over.exit_code, 0) << over.err;
  EXPECT_NE(read_text(rb).find("\"chunk_rows\": 500,"), std::string::npos) << read_text(rb);
}

// Keys may be written with '_' for '-': `on_conflict = "skip"` is the skip policy, so the row
// the target already has stays and the copy ends with exit 0 (under the error policy it
// would stop at the conflict).
TEST(JobFiles, AKeyWithUnderscoresIsTheOptionWithDashes) {
  SourceAndTarget db;
  for (TestDatabase* d : {&db.src, &db.dst}) d->exec("CREATE TABLE t (id int PRIMARY KEY, v text)");
  db.src.exec("INSERT INTO t SELECT g, 'src' FROM generate_series(1, 500) g");
  db.dst.exec("INSERT INTO t VALUES (7, 'mine')");
  const std::string file = temp_path("underscores.toml");
  std::ofstream(file) << "[copy]\nsource = \"" << db.src.dsn() << "\"\ntarget = \"" << db.dst.dsn()
                      << "\"\ntable = \"t\"\non_conflict = \"skip\"\nchunk_rows = 100\n"
                         "progress = \"none\"\n";
  auto r = run_backfill({"copy", "--config", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(db.dst.value("SELECT count(*) || ':' || (SELECT v FROM t WHERE id = 7) FROM t"),
            "500:mine");
  // chunk_rows = 100 too: 500 rows in five chunks or so, not the default's one.
  EXPECT_EQ(db.dst.value("SELECT count(*) BETWEEN 5 AND 6 FROM backfill.chunks"), "t");
}

// A key the section's subcommand does not take, a section that is no subcommand's: exit 2
// naming the file, the section, the key and the nearest valid one, before anything is read
// or written (the servers are never reached: no ledger appears).
TEST(JobFiles, AnUnknownKeyOrSectionIsRefusedNamingTheNearestValidOne) {
  SourceAndTarget db;
  db.src.exec("CREATE TABLE t (id int PRIMARY KEY)");
  db.dst.exec("CREATE TABLE t (id int PRIMARY KEY)");
  const std::string head =
      "source = \"" + db.src.dsn() + "\"\ntarget = \"" + db.dst.dsn() + "\"\ntable = \"t\"\n";
  const std::string set = "source = \"" + db.src.dsn() + "\"\ntarget = \"" + db.dst.dsn() +
                          "\"\ntables = \"public.*\"\n";
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"copy", "[copy]\n" + head + "filter = \"id > 5\"\n",
       "[copy]: 'filter' is not an option of copy; did you mean 'where'?"},
      {"verify", "[verify]\n" + head + "jobz = 2\n",
       "[verify]: 'jobz' is not an option of verify; did you mean 'jobs'?"},
      {"verify", "[verify]\n" + head + "tabel = \"t\"\n",
       "[verify]: 'tabel' is not an option of verify; did you mean 'table'?"},
      {"verify", "[verify]\n" + head + "on_conflict = \"skip\"\n",
       "[verify]: 'on-conflict' is not an option of verify (it is one of copy, plan, tune)"},
      // Another subcommand's section is checked too: a typo waits for no night.
      {"copy", "[copy]\n" + head + "[verify]\nrechek = 3\n",
       "[verify]: 'rechek' is not an option of verify; did you mean 'recheck'?"},
      // An empty section is named too.
      {"copy", "[copy]\n" + head + "[verfy]\n",
       "[verfy]: no such section (a section is named after its subcommand); did you mean "
       "'verify'?"},
      {"copy", "[cpy]\n" + head,
       "[cpy]: no such section (a section is named after its subcommand); did you mean 'copy'?"},
      // (A set's file: `table` and a [copy.table."..."] section cannot both be in TOML.)
      {"copy", "[copy]\n" + set + "[copy.table.\"public.t\"]\nwher = \"id > 1\"\n",
       "[copy.table.\"public.t\"]: 'wher' is not a key of a table's section (key, columns, "
       "where, map, source-expr); did you mean 'where'?"},
      {"update", "[update]\nset = [\"id = id\"]\n[update.table.t]\nkey = \"id\"\n",
       "[update.table]: no such section of [update], which has no sections of its own"},
      {"copy", head + "[copy]\n", "'source' is outside any section"}};
  for (const auto& [command, text, message] : cases) {
    const std::string file = temp_path("strict.toml");
    std::ofstream(file) << text;
    auto r = run_backfill({command, "--config", file});
    EXPECT_EQ(r.exit_code, 2) << text << "\n" << r.err;
    EXPECT_NE(r.err.find("--config " + file + ": " + message), std::string::npos) << text << "\n"
                                                                                  << r.err;
  }
  EXPECT_FALSE(db.ledger_exists());
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM t"), "0");
}

}  // namespace
}  // namespace backfill::testing
