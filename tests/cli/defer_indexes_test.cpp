// backfill copy --defer-indexes against a real PostgreSQL: the bare heap filled, then every
// index and constraint rebuilt as it was (pg_dump --schema-only agrees before and after),
// across a kill -9 in either phase, and refused where it cannot be exact.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

// A table with one of each deferred kind: primary key, unique and exclusion constraints,
// plain, partial and expression indexes, comments, CLUSTER ON, REPLICA IDENTITY, a foreign
// key of its own and one of another table that references it.
const char* kSchema =
    "CREATE TABLE parent (id int PRIMARY KEY);\n"
    "CREATE TABLE t (id bigint NOT NULL, code text NOT NULL, parent int NOT NULL REFERENCES "
    "parent, span int4range NOT NULL, v text, CONSTRAINT t_pk PRIMARY KEY (id) WITH "
    "(fillfactor = 80), CONSTRAINT t_code UNIQUE (code), CONSTRAINT t_span EXCLUDE USING gist "
    "(span WITH &&));\n"
    "CREATE INDEX t_v ON t (v) WHERE v IS NOT NULL;\n"
    "CREATE INDEX t_md5 ON t (md5(code)) INCLUDE (v);\n"
    "CREATE UNIQUE INDEX t_code_id ON t (code, id);\n"
    "COMMENT ON INDEX t_v IS 'partial';\n"
    "COMMENT ON CONSTRAINT t_pk ON t IS 'the key';\n"
    "ALTER TABLE t CLUSTER ON t_code_id;\n"
    "ALTER TABLE t REPLICA IDENTITY USING INDEX t_code_id;\n"
    "CREATE TABLE child (id int PRIMARY KEY, t_id bigint REFERENCES t);\n";
// The source needs only the rows and a key.
const char* kSourceSchema =
    "CREATE TABLE t (id bigint PRIMARY KEY, code text NOT NULL, parent int NOT NULL, span "
    "int4range "
    "NOT NULL, v text)";

std::string pg_dump_schema(const TestDatabase& db) {
  const char* bin = std::getenv("PGBIN");
  std::string cmd = std::string(bin ? bin : "/usr/lib/postgresql/15/bin") +
                    "/pg_dump --schema-only --no-owner -n public -d '" + db.dsn() + "' 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
  }
  // pg_dump's \restrict and \unrestrict lines carry a key of its own, new in every dump.
  std::string kept, line;
  std::istringstream lines(out);
  while (std::getline(lines, line)) {
    if (!line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict ")) kept += line + "\n";
  }
  return kept;
}

class DeferIndexes : public ::testing::Test {
 protected:
  void SetUp() override {
    db.src.exec(kSourceSchema);
    db.dst.exec(kSchema);
    db.dst.exec("INSERT INTO parent SELECT generate_series(1, 10)");
    db.src.exec(
        "INSERT INTO t SELECT i, 'c' || i, 1 + i % 10, int4range(i * 10, i * 10 + 5), "
        "CASE WHEN i % 3 = 0 THEN NULL ELSE 'v' || i END FROM generate_series(1, 200000) i");
    db.src.exec("ANALYZE t");
    before = pg_dump_schema(db.dst);
    ASSERT_NE(before.find("t_span"), std::string::npos) << before;
  }

  // Paced, so that a test can stop the copy after its first chunks.
  std::vector<std::string> slow_args(std::vector<std::string> extra = {}) {
    extra.insert(extra.end(), {"--max-rate", "20000", "--chunk-rows", "4000"});
    return args(extra);
  }

  std::vector<std::string> args(std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"--defer-indexes", "--chunk-rows", "10000"};
    a.insert(a.end(), extra.begin(), extra.end());
    return db.copy("t", a);
  }

  void expect_exact() {
    db.expect_same("SELECT * FROM t ORDER BY id", "SELECT * FROM t ORDER BY id");
    EXPECT_EQ(pg_dump_schema(db.dst), before);
    EXPECT_EQ(db.dst.value("SELECT count(*) FROM backfill.deferred WHERE NOT created"), "0");
    EXPECT_EQ(db.dst.value("SELECT status FROM backfill.jobs"), "done");
  }

  // The job's writers wait on a lock: some chunks are in, none is half written.
  bool copy_is_blocked() {
    return db.dst.value(
               "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backfill' AND "
               "wait_event_type = 'Lock' AND datname = current_database()") != "0";
  }
  int chunks_done() {
    if (db.dst.value("SELECT to_regclass('backfill.chunks') IS NOT NULL") != "t") return 0;
    return std::stoi(db.dst.value("SELECT count(*) FROM backfill.chunks WHERE status = 'done'"));
  }
  // The killed run's sessions are gone (they end once they notice their client is).
  bool no_backfill_session() {
    return db.dst.value(
               "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
               "'backfill%' AND datname = current_database() AND pid <> "
               "pg_backend_pid()") == "0";
  }
  // Starts the paced copy, lets `chunks` chunks in, holds the next ones back with a lock on
  // the table, kills the run with SIGKILL and waits until its sessions are gone.
  void kill_copy_after(int chunks) {
    auto lock = blocker();
    ASSERT_TRUE(lock);
    BackgroundRun run(slow_args({"--lock-timeout", "600000"}));
    ASSERT_TRUE(wait_until([&] { return chunks_done() >= chunks; }));
    ASSERT_TRUE(lock->exec("BEGIN").is_ok());
    ASSERT_TRUE(lock->exec("LOCK TABLE t IN SHARE MODE").is_ok());
    ASSERT_TRUE(wait_until([&] { return copy_is_blocked(); }));
    run.signal(SIGKILL);
    EXPECT_EQ(run.wait().exit_code, 128 + SIGKILL);
    ASSERT_TRUE(lock->exec("ROLLBACK").is_ok());
    ASSERT_TRUE(wait_until([&] { return no_backfill_session(); }));
  }

  // A connection of the test's own, under a name of its own.
  std::unique_ptr<pg::PgConnection> blocker() {
    pg::SessionSettings s;
    s.application_name = "test blocker";
    auto c = pg::PgConnection::connect(db.dst.dsn(), s);
    EXPECT_TRUE(c.ok());
    return c.ok() ? std::move(c).value() : nullptr;
  }

  SourceAndTarget db;
  std::string before;
};

TEST_F(DeferIndexes, RebuildsEveryIndexAndConstraintAsItWas) {
  std::string report = temp_path("defer_report.json");
  auto r = run_backfill(args({"--report", report}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("deferred 8 indexes and constraints of public.t"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("rebuilt primary key t_pk"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("rebuilt foreign key child_t_id_fkey on public.child"), std::string::npos);
  // One lane: source and target are one server here.
  EXPECT_NE(r.err.find(", 1 lane,"), std::string::npos) << r.err;
  EXPECT_NE(read_text(report).find("\"deferred_objects\": 8"), std::string::npos);
  // Still what it was made as: the key with its fillfactor, made from its index.
  EXPECT_EQ(db.dst.value("SELECT reloptions::text FROM pg_class WHERE relname = 't_pk'"),
            "{fillfactor=80}");
  expect_exact();
}

// A partitioned table's foreign key is one key to drop and rebuild: its partitions' copies
// come and go with it. A finished job run again reports itself done, rows and all.
TEST_F(DeferIndexes, PartitionedReferencingTableThenASecondRunFindsTheJobDone) {
  db.dst.exec(
      "CREATE TABLE pchild (id int, t_id bigint REFERENCES t) PARTITION BY RANGE (id);\n"
      "CREATE TABLE pchild_1 PARTITION OF pchild FOR VALUES FROM (0) TO (100);\n"
      "CREATE TABLE pchild_2 PARTITION OF pchild FOR VALUES FROM (100) TO (200)");
  before = pg_dump_schema(db.dst);
  auto r = run_backfill(args());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("deferred 9 indexes and constraints of public.t"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("rebuilt foreign key pchild_t_id_fkey on public.pchild "),
            std::string::npos)
      << r.err;
  expect_exact();
  auto again = run_backfill(args());
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("is already done"), std::string::npos) << again.out << again.err;
  expect_exact();
}

TEST_F(DeferIndexes, PlanListsWhatItWouldDropAndWritesNothing) {
  std::vector<std::string> a = args();
  a[0] = "plan";
  a.insert(a.begin() + 1, "copy");
  auto r = run_backfill(a);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("--defer-indexes: dropped before the copy"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("primary key t_pk"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CREATE INDEX t_v ON public.t USING btree (v) WHERE (v IS NOT NULL)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(pg_dump_schema(db.dst), before);
  EXPECT_FALSE(db.ledger_exists());
}

TEST_F(DeferIndexes, KillNineWhileCopyingThenTheSameCommandFinishesAndRebuilds) {
  ASSERT_NO_FATAL_FAILURE(kill_copy_after(3));
  // The indexes are gone, the rows so far are in, and the ledger knows what to rebuild.
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM pg_indexes WHERE tablename = 't'"), "0");
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM backfill.deferred"), "8");
  EXPECT_NE(db.dst.value("SELECT count(*) FROM t"), "0");
  // Without the flag too: the job that dropped them rebuilds them.
  auto again = run_backfill(db.copy("t", {"--chunk-rows", "10000"}));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("resuming job"), std::string::npos) << again.err;
  expect_exact();
}

TEST_F(DeferIndexes, KillNineWhileRebuildingThenTheSameCommandRebuildsTheRest) {
  // An index that takes seconds to build (twenty md5s a row): long enough to be caught
  // while it builds.
  db.dst.exec(
      "CREATE FUNCTION slow(text) RETURNS text IMMUTABLE LANGUAGE sql AS "
      "$$ SELECT string_agg(md5($1 || g), '') FROM generate_series(1, 20) g $$;\n"
      "CREATE INDEX t_slow ON t (slow(code));");
  before = pg_dump_schema(db.dst);
  BackgroundRun run(args());
  // The slow index is being built (its catalog row is not visible before it commits, so
  // by the statement): the copy is done, some objects are back.
  ASSERT_TRUE(wait_until([&] {
    return db.dst.value(
               "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
               "'backfill' AND query LIKE 'CREATE INDEX t_slow %'") != "0";
  }));
  run.signal(SIGKILL);
  EXPECT_EQ(run.wait().exit_code, 128 + SIGKILL);
  ASSERT_TRUE(wait_until([&] { return no_backfill_session(); }));
  EXPECT_NE(db.dst.value("SELECT count(*) FROM backfill.deferred WHERE NOT created"), "0");
  EXPECT_NE(db.dst.value("SELECT count(*) FROM backfill.deferred WHERE created"), "0");
  auto again = run_backfill(args());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.err.find("rebuilt primary key t_pk"), std::string::npos)
      << "built twice: " << again.err;
  EXPECT_NE(again.err.find("rebuilt index t_slow"), std::string::npos) << again.err;
  expect_exact();
}

TEST_F(DeferIndexes, IsRefusedWhereItCannotBeExactAndNothingIsWritten) {
  struct Case {
    std::vector<std::string> extra;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{"--on-conflict", "skip"}, "--defer-indexes needs --on-conflict error, not skip"},
      {{"--state", db.src.dsn()}, "--defer-indexes needs the ledger in the target database"},
  };
  for (const auto& c : cases) {
    auto r = run_backfill(args(c.extra));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
  }
  db.dst.exec("INSERT INTO t VALUES (1, 'c1', 1, int4range(10, 15), 'v')");
  auto r = run_backfill(args());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--defer-indexes fills an empty table, and public.t has rows"),
            std::string::npos)
      << r.err;
  db.dst.exec("DELETE FROM t");
  EXPECT_EQ(pg_dump_schema(db.dst), before);
  EXPECT_FALSE(db.ledger_exists());
  EXPECT_EQ(db.src.value("SELECT to_regclass('backfill.jobs') IS NOT NULL"), "f");
}

TEST_F(DeferIndexes, RestartIsRefusedWhileDroppedObjectsAreNotRebuilt) {
  ASSERT_NO_FATAL_FAILURE(kill_copy_after(1));
  auto r = run_backfill(args({"--restart"}));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("run the same command without --restart"), std::string::npos) << r.err;
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM backfill.deferred"), "8");
  ASSERT_EQ(run_backfill(args()).exit_code, 0);
  expect_exact();
}

}  // namespace
}  // namespace backfill::testing
