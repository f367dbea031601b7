// --tables: a whole schema as one job, against a real server. The schema is
// scripts/sql/schema/shop.sql (17 tables: foreign-key chains, a two-table cycle,
// self-references, a partitioned table, serial and identity keys, an enum, a domain, a
// composite type, text and composite keys, a table without a key whose rows come in pairs); the
// target is its `pg_dump --schema-only` clone, every constraint in place.
#include <signal.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

constexpr int kOrders = 3000;  // the schema's size: orders has this many rows

const std::vector<std::string> kShopTables = {
    "countries", "customers", "departments",  "employees", "events",    "order_items",
    "orders",    "payments",  "product_tags", "products",  "regions",   "reviews",
    "shipments", "stock",     "tags",         "visits",    "warehouses"};

std::string pg_bin() {
  const char* bin = std::getenv("PGBIN");
  return bin ? bin : "/usr/lib/postgresql/15/bin";
}

int shell(const std::string& cmd) { return std::system(cmd.c_str()); }

class Tables : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(shell(pg_bin() + "/psql -X -q -v ON_ERROR_STOP=1 -v rows=" + std::to_string(kOrders) +
                    " -d '" + db.src.dsn() + "' -f " +
                    BACKFILL_SOURCE_DIR "/scripts/sql/schema/shop.sql > /dev/null"),
              0);
    ASSERT_EQ(shell(pg_bin() + "/pg_dump --schema-only --no-owner -n shop -d '" + db.src.dsn() +
                    "' | grep -v '^\\\\\\(un\\)\\?restrict ' | " + pg_bin() +
                    "/psql -X -q -v ON_ERROR_STOP=1 -d '" + db.dst.dsn() + "' > /dev/null"),
              0);
  }

  std::vector<std::string> copy(const std::string& tables, std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"copy",       "--source",     db.src.dsn(), "--target",
                               db.dst.dsn(), "--tables",     tables,       "--progress",
                               "none",       "--chunk-rows", "500"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  std::vector<std::string> verify(std::vector<std::string> extra = {}) {
    std::vector<std::string> a{"verify",     "--source",     db.src.dsn(), "--target",
                               db.dst.dsn(), "--tables",     "shop.*",     "--progress",
                               "none",       "--chunk-rows", "500"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Every row of every table, as the row's text, sorted: equal means every value is equal.
  void expect_exact(const std::vector<std::string>& tables = kShopTables) {
    for (const auto& t : tables) {
      SCOPED_TRACE(t);
      const std::string sql = "SELECT x::text FROM shop." + t + " x ORDER BY 1";
      db.expect_same(sql, sql);
      EXPECT_NE(db.dst.value("SELECT count(*) FROM shop." + t), "0");
    }
  }

  SourceAndTarget db;
};

TEST_F(Tables, AWholeSchemaIsCopiedInForeignKeyOrderWithItsSequencesAndVerified) {
  std::string report = temp_path("tables_copy.json");
  auto r = run_backfill(copy("shop.*", {"--disable-triggers", "--report", report}));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("ok: 17 of 17 tables"), std::string::npos) << r.out;
  expect_exact();
  // Through the partitioned parent, never also through its partitions.
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM shop.events"), std::to_string(kOrders));
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM backfill.jobs WHERE name LIKE '%events_2%'"), "0");

  auto json = nlohmann::json::parse(read_text(report));
  EXPECT_EQ(json["status"], "ok");
  EXPECT_EQ(json["tables_total"], 17);
  EXPECT_EQ(json["tables"].size(), 17u);
  // A table comes after every table it references: regions before countries, orders before
  // order_items.
  auto position = [&](const std::string& name) {
    for (std::size_t i = 0; i < json["tables"].size(); ++i) {
      if (json["tables"][i]["table"] == "shop." + name) return i;
    }
    return std::size_t{99};
  };
  EXPECT_LT(position("regions"), position("countries"));
  EXPECT_LT(position("countries"), position("customers"));
  EXPECT_LT(position("orders"), position("order_items"));
  EXPECT_LT(position("products"), position("order_items"));

  // Sequences, serial and identity alike, stand where the source's do: the application's next
  // insert into the target does not collide.
  for (const char* seq : {"orders_id_seq", "customers_id_seq", "tags_id_seq", "products_id_seq"}) {
    SCOPED_TRACE(seq);
    const std::string sql = std::string("SELECT last_value FROM shop.") + seq;
    EXPECT_EQ(db.dst.value(sql), db.src.value(sql));
  }
  db.dst.exec("INSERT INTO shop.tags (name) VALUES ('new tag')");
  db.dst.exec("INSERT INTO shop.customers (country, email) VALUES ('C1', 'new@example.com')");
  EXPECT_EQ(db.dst.value("SELECT max(id) FROM shop.customers"),
            std::to_string(std::stoi(db.src.value("SELECT max(id) FROM shop.customers")) + 1));
  db.dst.exec("DELETE FROM shop.tags WHERE name = 'new tag'");
  db.dst.exec("DELETE FROM shop.customers WHERE email = 'new@example.com'");

  auto v = run_backfill(verify());
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("match: 17 tables"), std::string::npos) << v.out;

  // A missing, an extra and a different row, in three tables (a text key among them), and
  // in the table without a key one of a pair of equal rows gone: one verdict, exit 1, each
  // named in the report, the keyless one by its values.
  db.dst.exec("SET session_replication_role = replica");
  db.dst.exec("DELETE FROM shop.orders WHERE id = 77");
  db.dst.exec("INSERT INTO shop.tags (id, name) VALUES (9999, 'extra')");
  db.dst.exec("UPDATE shop.countries SET name = 'changed' WHERE code = 'C7'");
  db.dst.exec(
      "DELETE FROM shop.visits WHERE ctid = (SELECT min(ctid) FROM shop.visits WHERE "
      "customer_id = 6 AND path = '/p/5' AND referrer IS NULL)");
  std::string vreport = temp_path("tables_verify.json");
  v = run_backfill(verify({"--restart", "--report", vreport}));
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("DIFFERENT: 4 of 17 tables: 2 missing, 1 extra, 1 different"),
            std::string::npos)
      << v.out;
  auto vj = nlohmann::json::parse(read_text(vreport));
  EXPECT_EQ(vj["status"], "differences");
  EXPECT_EQ(vj["tables_differing"], 4);
  for (const auto& t : vj["tables"]) {
    const std::string text = t.dump();
    if (t["table"] == "shop.orders") {
      EXPECT_TRUE(report_lists(text, "id", "77", "missing")) << text;
    }
    if (t["table"] == "shop.tags") {
      EXPECT_TRUE(report_lists(text, "id", "9999", "extra")) << text;
    }
    if (t["table"] == "shop.countries") {
      EXPECT_TRUE(report_lists(text, "code", "C7", "different")) << text;
    }
    if (t["table"] == "shop.visits") {
      EXPECT_EQ(t["rows_missing"], 1) << text;
      EXPECT_EQ(t["rows_extra"], 0) << text;
      ASSERT_EQ(t["differences"].size(), 1u) << text;
      EXPECT_EQ(t["differences"][0]["key"]["path"], "/p/5") << text;
      EXPECT_EQ(t["differences"][0]["key"]["referrer"], "NULL") << text;
    }
  }
}

TEST_F(Tables, TablesWithoutACycleNeedNoTriggersOffAndGoInReferenceOrder) {
  // Alphabetically countries and warehouses come before regions, which both reference: a
  // copy in name order would break their foreign keys.
  // A target sequence that already starts past the source's values stays where it is.
  db.dst.exec("ALTER SEQUENCE shop.regions_id_seq RESTART WITH 1000");
  auto r = run_backfill(copy("shop.countries, shop.WAREHOUSES, shop.\"regions\""));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto regions = r.err.find("table 1 of 3: shop.regions");
  const auto countries = r.err.find("shop.countries -> shop.countries, after shop.regions");
  ASSERT_NE(regions, std::string::npos) << r.err;
  ASSERT_NE(countries, std::string::npos) << r.err;
  EXPECT_LT(regions, countries);
  expect_exact({"regions", "countries", "warehouses"});
  EXPECT_EQ(db.dst.value("SELECT nextval('shop.regions_id_seq')"), "1000");

  // The same set with other arguments is refused before anything is written, naming the
  // table's job, rather than stopping half-way.
  auto other = run_backfill(
      copy("shop.countries, shop.WAREHOUSES, shop.\"regions\"", {"--on-conflict", "skip"}));
  EXPECT_EQ(other.exit_code, 2) << other.err;
  EXPECT_NE(other.err.find("exists in the ledger with different arguments"), std::string::npos)
      << other.err;
  EXPECT_EQ(db.dst.value("SELECT nextval('shop.warehouses_id_seq')"), "13");
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM shop.orders"), "0");
}

TEST_F(Tables, PreflightRefusesACycleAMissingTargetAndAPatternThatMatchesNothing) {
  auto cycle = run_backfill(copy("shop.*"));
  EXPECT_EQ(cycle.exit_code, 2) << cycle.err;
  EXPECT_NE(cycle.err.find("shop.departments <-> shop.employees"), std::string::npos) << cycle.err;
  EXPECT_NE(cycle.err.find("shop.customers references itself"), std::string::npos) << cycle.err;
  EXPECT_NE(cycle.err.find("--disable-triggers"), std::string::npos) << cycle.err;

  auto nothing = run_backfill(copy("shop.regions,shop.nope"));
  EXPECT_EQ(nothing.exit_code, 2);
  EXPECT_NE(nothing.err.find("'shop.nope' matches no table"), std::string::npos) << nothing.err;

  db.dst.exec("DROP TABLE shop.reviews");
  auto missing = run_backfill(copy("shop.*", {"--disable-triggers"}));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("the target has no table shop.reviews"), std::string::npos)
      << missing.err;

  db.src.exec("CREATE SCHEMA other");
  db.src.exec("CREATE TABLE other.regions (id int PRIMARY KEY, name text)");
  auto clash = run_backfill(copy("shop.regions, other.regions", {"--to-schema", "shop"}));
  EXPECT_EQ(clash.exit_code, 2);
  EXPECT_NE(clash.err.find("other.regions and shop.regions would both be copied into "
                           "shop.regions"),
            std::string::npos)
      << clash.err;

  auto both = run_backfill(copy("shop.regions", {"--table", "shop.tags"}));
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--table and --tables"), std::string::npos) << both.err;
  auto per_table = run_backfill(copy("shop.regions", {"--where", "id > 3"}));
  EXPECT_EQ(per_table.exit_code, 2);
  EXPECT_NE(per_table.err.find("--where is one table's option"), std::string::npos)
      << per_table.err;

  // Nothing was written by any of them.
  EXPECT_FALSE(db.ledger_exists());
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM shop.regions"), "0");
}

TEST_F(Tables, KillNineMidSetThenTheSameCommandFinishesEveryTableExactly) {
  // An uncommitted row of the target's orders holds the copy at that key: the tables before
  // orders are done, orders' earlier chunks committed, the rest not started.
  auto blocker = pg::PgConnection::connect(db.dst.dsn(), pg::SessionSettings{});
  ASSERT_TRUE(blocker.ok());
  ASSERT_TRUE((*blocker)->exec("SET session_replication_role = replica").is_ok());
  ASSERT_TRUE((*blocker)->exec("BEGIN").is_ok());
  ASSERT_TRUE(
      (*blocker)->exec("INSERT INTO shop.orders VALUES (1600, 1, 'new', now(), NULL)").is_ok());
  const auto args = copy("shop.*", {"--disable-triggers", "--jobs", "1", "--lock-timeout", "0"});
  BackgroundRun run(args);
  ASSERT_TRUE(wait_until([&] { return blocked_by(db.dst, **blocker); }));
  run.signal(SIGKILL);
  EXPECT_EQ(run.wait().exit_code, 128 + SIGKILL);
  ASSERT_TRUE((*blocker)->exec("ROLLBACK").is_ok());
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM shop.orders"), "1500");
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM shop.order_items"), "0");

  // status names the set and each of its tables with its state: the ledger says running,
  // but the worker's session is gone (once the server has seen it close), so stalled.
  RunResult st;
  ASSERT_TRUE(wait_until([&] {
    st = run_backfill({"status", "--state", db.dst.dsn(), "--job", "copy:shop.*"});
    return st.out.find("copy:shop.*  [stalled]") != std::string::npos;
  })) << st.out;
  EXPECT_EQ(st.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("set of 8 tables started: 7 done, 1 stalled; 6,518 rows"),
            std::string::npos)
      << st.out;
  EXPECT_NE(st.out.find("copy:shop.*/shop.orders  [stalled]"), std::string::npos) << st.out;
  EXPECT_EQ(st.out.find("ETA"), std::string::npos) << st.out;

  // `control` pauses the set as a whole: the next run holds every table until resumed. A
  // table of the set is not controlled alone.
  auto one = run_backfill(
      {"control", "--state", db.dst.dsn(), "--job", "copy:shop.*/shop.orders", "--pause"});
  EXPECT_EQ(one.exit_code, 2) << one.out << one.err;
  EXPECT_NE(one.err.find("is a table of the set 'copy:shop.*'"), std::string::npos) << one.err;
  auto paused =
      run_backfill({"control", "--state", db.dst.dsn(), "--job", "copy:shop.*", "--pause"});
  ASSERT_EQ(paused.exit_code, 0) << paused.out << paused.err;
  BackgroundRun resumed(args);
  ASSERT_TRUE(wait_until([&] {
    return db.dst.value(
               "SELECT count(*) FROM backfill.workers WHERE job = 'copy:shop.*' AND "
               "state = 'paused' AND heartbeat_at > now() - interval '1 minute' AND "
               "worker LIKE '%:" +
               std::to_string(resumed.pid()) + "'") == "1";
  }));
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM shop.orders"), "1500");
  auto resume =
      run_backfill({"control", "--state", db.dst.dsn(), "--job", "copy:shop.*", "--resume"});
  ASSERT_EQ(resume.exit_code, 0) << resume.out << resume.err;
  auto again = resumed.wait();
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("job copy:shop.*/shop.customers is already done"), std::string::npos)
      << again.out;
  EXPECT_NE(again.err.find("resuming job copy:shop.*/shop.orders"), std::string::npos) << again.err;
  expect_exact();
  // No chunk was written twice: each done once, the one in flight at the kill tried again.
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM backfill.chunks WHERE status <> 'done'"), "0");
  EXPECT_EQ(db.dst.value("SELECT sum(rows) FROM backfill.chunks c JOIN backfill.jobs j ON"
                         " j.name = c.job WHERE j.name LIKE '%/shop.orders'"),
            std::to_string(kOrders));
}

TEST_F(Tables, VerifyRunTimeSpansTheSetAndTheNextRunGoesOnWithThePass) {
  std::string copied = temp_path("tables_runtime_copy.json");
  auto c = run_backfill(copy("shop.*", {"--disable-triggers", "--jobs", "1", "--report", copied}));
  ASSERT_EQ(c.exit_code, 0) << c.out << c.err;
  // With --jobs 1 the tables run one by one in the set's order: the first is verified first.
  const std::string first_table = nlohmann::json::parse(read_text(copied))["tables"][0]["table"];

  // A lock on the first table's target holds the verify there past its --run-time: once the
  // lock goes, that table's chunk ends the run, and no other table starts.
  auto blocker = pg::PgConnection::connect(db.dst.dsn(), pg::SessionSettings{});
  ASSERT_TRUE(blocker.ok());
  ASSERT_TRUE((*blocker)->exec("BEGIN").is_ok());
  ASSERT_TRUE((*blocker)->exec("LOCK TABLE " + first_table + " IN ACCESS EXCLUSIVE MODE").is_ok());
  std::string report = temp_path("tables_runtime_verify.json");
  const auto args = verify({"--jobs", "1", "--lock-timeout", "0", "--report", report});
  std::vector<std::string> timed = args;
  timed.insert(timed.end(), {"--run-time", "1s"});
  BackgroundRun run(timed);
  ASSERT_TRUE(wait_until([&] {
    return db.dst.value(
               "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'backfill' AND "
               "wait_event_type = 'Lock' AND datname = current_database() AND "
               "clock_timestamp() - query_start > interval '1.2 s'") != "0";
  }));
  ASSERT_TRUE((*blocker)->exec("ROLLBACK").is_ok());
  auto r1 = run.wait();
  ASSERT_EQ(r1.exit_code, 0) << r1.out << r1.err;
  EXPECT_NE(r1.out.find("match so far: "), std::string::npos) << r1.out;
  EXPECT_NE(r1.out.find("; 1 of 17 tables verified to the end (--run-time reached)"),
            std::string::npos)
      << r1.out;
  auto j1 = nlohmann::json::parse(read_text(report));
  EXPECT_EQ(j1["pass_complete"], false);
  EXPECT_EQ(j1["tables_complete"], 1);
  int not_started = 0;
  for (const auto& t : j1["tables"]) not_started += t.value("status", "") == "not started";
  EXPECT_EQ(not_started, 16) << j1.dump();

  // The next run goes on with the pass: the table verified already is not read again.
  auto r2 = run_backfill(args);
  ASSERT_EQ(r2.exit_code, 0) << r2.out << r2.err;
  EXPECT_NE(r2.err.find("continuing the verify pass of set verify:shop.*"), std::string::npos)
      << r2.err;
  EXPECT_NE(r2.out.find("match: 17 tables"), std::string::npos) << r2.out;
  EXPECT_EQ(r2.out.find("so far"), std::string::npos) << r2.out;
  auto j2 = nlohmann::json::parse(read_text(report));
  EXPECT_EQ(j2["pass_complete"], true);
  EXPECT_EQ(j2["tables_complete"], 17);
  for (const auto& t : j2["tables"]) {
    SCOPED_TRACE(t.dump());
    EXPECT_EQ(t["pass_complete"], true);
    if (t["table"] == first_table) {
      EXPECT_EQ(t["chunks_this_run"], 0);
    } else {
      EXPECT_GT(t["chunks_this_run"].get<int>(), 0);
    }
  }

  // The pass is complete: the run after it starts the next pass, every table read again.
  auto r3 = run_backfill(args);
  ASSERT_EQ(r3.exit_code, 0) << r3.out << r3.err;
  auto j3 = nlohmann::json::parse(read_text(report));
  for (const auto& t : j3["tables"]) {
    SCOPED_TRACE(t.dump());
    EXPECT_GT(t["chunks_this_run"].get<int>(), 0);
  }
}

// A job file gives one table of the set its own options: a section [copy.table."NAME"].
TEST_F(Tables, AJobFileSectionGivesOneTableOfTheSetItsOwnOptions) {
  const std::string file = temp_path("tables_job.toml");
  auto write = [&](const std::string& sections) {
    std::ofstream(file) << "[copy]\ntables = \"shop.*\"\ndisable-triggers = true\n"
                        << "progress = \"none\"\nchunk-rows = 500\n\n"
                        << "[verify]\ntables = \"shop.*\"\nprogress = \"none\"\n\n"
                        << sections;
  };
  auto with_file = [&](const std::string& command) {
    return std::vector<std::string>{"--config",   file,       command,     "--source",
                                    db.src.dsn(), "--target", db.dst.dsn()};
  };
  const std::string reviews = "where = \"rating >= 3\"\nmap = [\"body = upper(body)\"]\n";

  // Bad sections stop the set at preflight, with nothing written.
  write("[copy.table.\"shop.reviews\"]\nfilter = \"rating >= 3\"\n");
  auto bad = run_backfill(with_file("copy"));
  EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
  EXPECT_NE(bad.err.find(
                "[copy.table.\"shop.reviews\"]: 'filter' is not a key of a table's section (key, "
                "columns, where, map, source-expr); did you mean 'where'?"),
            std::string::npos)
      << bad.err;
  write("[copy.table.\"shop.nosuch\"]\n" + reviews);
  bad = run_backfill(with_file("copy"));
  EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("[table.\"shop.nosuch\"] names no table of the set"), std::string::npos)
      << bad.err;
  EXPECT_EQ(db.dst.value("SELECT to_regclass('backfill.jobs') IS NULL"), "t");

  write("[copy.table.\"shop.reviews\"]\n" + reviews + "\n[verify.table.\"shop.reviews\"]\n" +
        reviews);
  auto r = run_backfill(with_file("copy"));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM shop.reviews"),
            db.src.value("SELECT count(*) FROM shop.reviews WHERE rating >= 3"));
  EXPECT_NE(db.dst.value("SELECT count(*) FROM shop.reviews"), "0");
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM shop.reviews WHERE body IS DISTINCT FROM "
                         "upper(body)"),
            "0");
  std::vector<std::string> others;
  for (const auto& t : kShopTables) {
    if (t != "reviews") others.push_back(t);
  }
  expect_exact(others);

  // The verify of the same file compares that table as its section says: a match.
  auto v = run_backfill(with_file("verify"));
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("match: 17 tables"), std::string::npos) << v.out;
  // Without the section, the table's verify has other arguments: refused at preflight, and
  // with --restart the rows the where left out are missing.
  write("");
  v = run_backfill(with_file("verify"));
  EXPECT_EQ(v.exit_code, 2) << v.out << v.err;
  EXPECT_NE(v.err.find("job 'verify:shop.*/shop.reviews' exists in the ledger with different "
                       "arguments"),
            std::string::npos)
      << v.err;
  auto args = with_file("verify");
  args.push_back("--restart");
  v = run_backfill(args);
  EXPECT_EQ(v.exit_code, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("DIFFERENT: 1 of 17 tables"), std::string::npos) << v.out;
}

}  // namespace
}  // namespace backfill::testing
