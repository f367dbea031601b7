// Faults the job must ride through: its server lost in the middle of a run, its sessions
// terminated one after another while it runs, its target out of disk; a connection pooler,
// which works in session mode and is refused in transaction mode; a password, which
// appears nowhere; and roles with only the grants the README lists.
//
// The suite has a cluster of its own (scripts/test.sh starts it with PostgreSQL's durable
// settings, so that a commit the server acknowledged survives its crash, and names it in
// BACKFILL_FAULT_CLUSTER and BACKFILL_FAULT_DSN), since its tests crash it, change its
// pg_hba.conf and create roles. ServerLost crashes it, with every session cut and no
// checkpoint, while copy, verify or update is half way, and starts it again once backfill
// has shown it is waiting; source, target and ledger are one database, so the one crash
// takes all three away at once.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "tests/cli/cli_support.hpp"

namespace backfill::testing {
namespace {

constexpr int kRows = 20000;

// Chaos: terminates one of backfill's sessions of a database, picked at random, about every
// 0.5 s, until it is destroyed; never `spared` (the test's own). The pause paces the chaos;
// nothing waits on it.
class Terminator {
 public:
  Terminator(const std::string& dsn, const std::string& database, int spared) {
    pg::SessionSettings s;
    s.application_name = "test terminator";
    auto c = pg::PgConnection::connect(dsn, s);
    EXPECT_TRUE(c.ok()) << c.status().message();
    if (!c.ok()) return;
    thread_ = std::thread([this, conn = std::move(c).value(), database, spared] {
      while (!stop_) {
        auto r = conn->query(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM (SELECT pid FROM "
            "pg_stat_activity WHERE datname = $1 AND application_name LIKE 'backfill%' AND pid <> "
            "$2::int ORDER BY random() LIMIT 1) s",
            {database, std::to_string(spared)});
        if (r.ok()) terminated_ += std::stoi(r->text(0, 0));
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    });
  }
  ~Terminator() { stop(); }
  int stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return terminated_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> terminated_{0};
  std::thread thread_;
};

class ServerLost : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* cluster = std::getenv("BACKFILL_FAULT_CLUSTER");
    const char* dsn = std::getenv("BACKFILL_FAULT_DSN");
    if (cluster == nullptr || dsn == nullptr) {
      GTEST_SKIP() << "BACKFILL_FAULT_CLUSTER and BACKFILL_FAULT_DSN are not set: run the "
                      "database tests through scripts/test.sh";
    }
    cluster_ = cluster;
    db = std::make_unique<TestDatabase>("fault", "", dsn);
    db->exec(
        "CREATE TABLE src (id int PRIMARY KEY, v text, v2 text);\n"
        "INSERT INTO src SELECT g, md5(g::text), NULL FROM generate_series(1, " +
        std::to_string(kRows) +
        ") g;\n"
        "CREATE TABLE dst (id int PRIMARY KEY, v text, v2 text);\n"
        "VACUUM ANALYZE src");
  }

  // A failed test leaves the server up for the next one.
  void TearDown() override {
    if (!cluster_.empty()) start();
  }

  void pg(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }
  void crash() {
    pg("bash '" BACKFILL_SOURCE_DIR "/scripts/pg.sh' crash " + cluster_ + " >/dev/null 2>&1");
  }
  // On its own port again, and durable as scripts/test.sh started it (start is a no-op when
  // it runs).
  void start() {
    pg("bash '" BACKFILL_SOURCE_DIR "/scripts/pg.sh' start " + cluster_ +
       " '' durable >/dev/null 2>&1");
  }

  std::vector<std::string> args(std::vector<std::string> a) {
    a.insert(a.end(), {"--progress", "log", "--chunk-rows", "1000", "--jobs", "2"});
    return a;
  }

  // Lets `run` get `rows` rows in, then crashes the server, waits until the run says it is
  // waiting for it (a log line, then the progress line's state), and starts it again.
  void crash_after(BackgroundRun& run, const std::function<std::int64_t()>& rows_done,
                   std::int64_t rows) {
    ASSERT_TRUE(wait_until([&] { return rows_done() >= rows; })) << run.err_so_far();
    crash();
    ASSERT_TRUE(wait_until([&] {
      const std::string err = run.err_so_far();
      // "waiting: server unreachable" from the job's own retries, or "waiting: <where>
      // unreachable for 6 s" from the throttle's probe, whichever noticed first.
      return err.find("backfill: server unreachable for") != std::string::npos &&
             err.find("waiting: ") != std::string::npos;
    })) << run.err_so_far();
    start();
    ASSERT_TRUE(db->conn().reconnect().is_ok());
  }

  std::int64_t count(const std::string& sql) {
    auto r = db->conn().query(sql);
    if (!r.ok() || r->rows() == 0) return -1;  // the server is away; try again later
    return std::stoll(r->text(0, 0));
  }

  std::int64_t rows_differing(const std::string& a, const std::string& b) {
    return count("SELECT count(*) FROM (SELECT id, v, v2 FROM " + a +
                 " EXCEPT ALL SELECT id, v, v2 FROM " + b + ") x");
  }

  // The copy done, then a row changed and one deleted in the target, for a verify to find.
  void copy_and_plant_two_differences() {
    ASSERT_EQ(run_backfill({"copy", "--source", db->dsn(), "--target", db->dsn(), "--table", "src",
                            "--to", "dst", "--progress", "none"})
                  .exit_code,
              0);
    db->exec("UPDATE dst SET v = 'changed' WHERE id = 17000;\nDELETE FROM dst WHERE id = 18000");
  }
  // A whole pass's report that names exactly what copy_and_plant_two_differences() planted.
  nlohmann::json expect_the_two_planted_differences(const std::string& report) {
    auto j = nlohmann::json::parse(read_text(report));
    EXPECT_EQ(j["rows"], kRows) << j.dump();
    EXPECT_EQ(j["rows_missing"], 1) << j.dump();
    EXPECT_EQ(j["rows_extra"], 0) << j.dump();
    EXPECT_EQ(j["rows_different"], 1) << j.dump();
    EXPECT_EQ(j["pass_complete"], true) << j.dump();
    return j;
  }
  // Rows of the chunks a verify has finished.
  std::int64_t verified_rows() {
    return count(
        "SELECT coalesce(sum(c.rows), 0) FROM backfill.chunks c JOIN backfill.jobs j ON j.name = "
        "c.job WHERE c.status = 'done' AND j.command = 'verify'");
  }

  std::string cluster_;
  std::unique_ptr<TestDatabase> db;
};

TEST_F(ServerLost, ACopyWaitsOutACrashedServerAndEndsExact) {
  const std::string report = temp_path("fault_copy.json");
  // Paced, so that the crash comes half way through; the limit is lifted by nothing.
  BackgroundRun run(args({"copy", "--source", db->dsn(), "--target", db->dsn(), "--table", "src",
                          "--to", "dst", "--max-rate", "4000", "--report", report}));
  ASSERT_NO_FATAL_FAILURE(crash_after(
      run, [&] { return count("SELECT count(*) FROM dst"); }, 4000));
  RunResult r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count("SELECT count(*) FROM dst"), kRows);
  EXPECT_EQ(rows_differing("src", "dst"), 0);
  EXPECT_EQ(rows_differing("dst", "src"), 0);
  auto j = nlohmann::json::parse(read_text(report));
  EXPECT_EQ(j["rows"], kRows) << j.dump();
  EXPECT_EQ(j["job_done"], true) << j.dump();
  EXPECT_GT(j["retries"].get<int>(), 0) << j.dump();
}

TEST_F(ServerLost, AServerAwayLongerThanRetryForEndsTheRunWithProgressKept) {
  const std::vector<std::string> copy =
      args({"copy", "--source", db->dsn(), "--target", db->dsn(), "--table", "src", "--to", "dst",
            "--max-rate", "4000", "--retry-for", "3s"});
  BackgroundRun run(copy);
  ASSERT_TRUE(wait_until([&] { return count("SELECT count(*) FROM dst") >= 4000; }))
      << run.err_so_far();
  crash();
  // Not started again until the run has given up.
  RunResult r = run.wait();
  start();
  ASSERT_TRUE(db->conn().reconnect().is_ok());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("--retry-for"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("progress is kept; the same command resumes"), std::string::npos) << r.err;
  RunResult again = run_backfill(copy);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(rows_differing("src", "dst"), 0);
  EXPECT_EQ(rows_differing("dst", "src"), 0);
}

TEST_F(ServerLost, AVerifyWaitsOutACrashedServerAndCountsExactly) {
  ASSERT_NO_FATAL_FAILURE(copy_and_plant_two_differences());
  const std::string report = temp_path("fault_verify.json");
  BackgroundRun run(args({"verify", "--source", db->dsn(), "--target", db->dsn(), "--table", "src",
                          "--to", "dst", "--max-rate", "4000", "--report", report}));
  ASSERT_NO_FATAL_FAILURE(crash_after(
      run, [&] { return verified_rows(); }, 4000));
  RunResult r = run.wait();
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  const nlohmann::json j = expect_the_two_planted_differences(report);
  EXPECT_GT(j["retries"].get<int>(), 0) << j.dump();
}

TEST_F(ServerLost, AnUpdateWaitsOutACrashedServerAndChangesEveryRowOnce) {
  const std::string report = temp_path("fault_update.json");
  BackgroundRun run(args({"update", "--target", db->dsn(), "--table", "src", "--set",
                          "v2 = upper(v)", "--max-rate", "4000", "--report", report}));
  ASSERT_NO_FATAL_FAILURE(crash_after(
      run, [&] { return count("SELECT count(*) FROM src WHERE v2 IS NOT NULL"); }, 4000));
  RunResult r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count("SELECT count(*) FROM src WHERE v2 IS DISTINCT FROM upper(v)"), 0);
  auto j = nlohmann::json::parse(read_text(report));
  EXPECT_EQ(j["rows"], kRows) << j.dump();
  EXPECT_GT(j["retries"].get<int>(), 0) << j.dump();
}

}  // namespace
}  // namespace backfill::testing

namespace backfill::testing {
namespace {

// The same jobs with their sessions terminated at random all along (after preflight, which
// exits 2 on a lost session by design): each ends exact, with the right counts.
using Chaos = ServerLost;

TEST_F(Chaos, ACopyWhoseSessionsAreTerminatedAtRandomEndsExact) {
  const std::string report = temp_path("chaos_copy.json");
  BackgroundRun run(args({"copy", "--source", db->dsn(), "--target", db->dsn(), "--table", "src",
                          "--to", "dst", "--max-rate", "4000", "--report", report}));
  ASSERT_TRUE(wait_until([&] { return count("SELECT count(*) FROM dst") > 0; }));
  Terminator chaos(db->dsn(), db->name(), db->conn().backend_pid());
  RunResult r = run.wait();
  const int terminated = chaos.stop();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(terminated, 5);
  EXPECT_EQ(rows_differing("src", "dst"), 0);
  EXPECT_EQ(rows_differing("dst", "src"), 0);
  auto j = nlohmann::json::parse(read_text(report));
  EXPECT_EQ(j["rows"], kRows) << j.dump();
  EXPECT_EQ(j["rows_written"], kRows) << j.dump();
  EXPECT_EQ(j["job_done"], true) << j.dump();
  std::printf("copy: %d sessions terminated, %d retries\n", terminated, j["retries"].get<int>());
}

TEST_F(Chaos, AVerifyWhoseSessionsAreTerminatedAtRandomCountsExactly) {
  ASSERT_NO_FATAL_FAILURE(copy_and_plant_two_differences());
  const std::string report = temp_path("chaos_verify.json");
  BackgroundRun run(args({"verify", "--source", db->dsn(), "--target", db->dsn(), "--table", "src",
                          "--to", "dst", "--max-rate", "4000", "--report", report}));
  ASSERT_TRUE(wait_until([&] { return verified_rows() > 0; }));
  Terminator chaos(db->dsn(), db->name(), db->conn().backend_pid());
  RunResult r = run.wait();
  const int terminated = chaos.stop();
  ASSERT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_GE(terminated, 5);
  const nlohmann::json j = expect_the_two_planted_differences(report);
  std::printf("verify: %d sessions terminated, %d retries\n", terminated, j["retries"].get<int>());
}

TEST_F(Chaos, AnUpdateWhoseSessionsAreTerminatedAtRandomChangesEveryRowOnce) {
  const std::string report = temp_path("chaos_update.json");
  BackgroundRun run(args({"update", "--target", db->dsn(), "--table", "src", "--set",
                          "v2 = upper(v)", "--max-rate", "4000", "--report", report}));
  ASSERT_TRUE(
      wait_until([&] { return count("SELECT count(*) FROM src WHERE v2 IS NOT NULL") > 0; }));
  Terminator chaos(db->dsn(), db->name(), db->conn().backend_pid());
  RunResult r = run.wait();
  const int terminated = chaos.stop();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(terminated, 5);
  EXPECT_EQ(count("SELECT count(*) FROM src WHERE v2 IS DISTINCT FROM upper(v)"), 0);
  auto j = nlohmann::json::parse(read_text(report));
  EXPECT_EQ(j["rows"], kRows) << j.dump();
  std::printf("update: %d sessions terminated, %d retries\n", terminated, j["retries"].get<int>());
}

}  // namespace
}  // namespace backfill::testing

namespace backfill::testing {
namespace {

// The target table in a tablespace on a tmpfs too small for it (mounting needs root, as CI
// and scripts/test.sh run; elsewhere the test is skipped): the chunk that finds the disk
// full fails whole, the job exits 3 with what is in kept, and once the tmpfs is made larger
// the same command finishes exactly.
class OutOfSpace : public ServerLost {
 protected:
  void SetUp() override {
    ServerLost::SetUp();
    if (IsSkipped()) return;
    if (geteuid() != 0) GTEST_SKIP() << "mounting a tmpfs needs root";
    dir_ = ::testing::TempDir() + "backfill_small_" + std::to_string(getpid());
    pg("mkdir -p " + dir_);
    // Root in a container without CAP_SYS_ADMIN may not mount: skipped, not failed.
    if (std::system(("mount -t tmpfs -o size=2M tmpfs " + dir_).c_str()) != 0) {
      GTEST_SKIP() << "cannot mount a tmpfs here";
    }
    mounted_ = true;
    pg("chown postgres:postgres " + dir_);
    tablespace_ = "small_" + std::to_string(getpid());
    db->exec("CREATE TABLESPACE " + tablespace_ + " LOCATION '" + dir_ + "'");
    // About 4 MB of rows for 2 MB of disk.
    db->exec(
        "UPDATE src SET v = repeat(v, 6);\nVACUUM FULL src;\nDROP TABLE dst;\n"
        "CREATE TABLE dst (id int, v text, v2 text) TABLESPACE " +
        tablespace_ +
        ";\n"
        "ALTER TABLE dst ADD PRIMARY KEY (id) USING INDEX TABLESPACE " +
        tablespace_);
  }
  void TearDown() override {
    if (db && !tablespace_.empty()) {
      db->exec("DROP TABLE dst");
      db->exec("DROP TABLESPACE " + tablespace_);
    }
    if (mounted_) pg("umount " + dir_ + " && rmdir " + dir_);
    ServerLost::TearDown();
  }
  void grow() { pg("mount -o remount,size=64M " + dir_); }

  std::string dir_, tablespace_;
  bool mounted_ = false;
};

TEST_F(OutOfSpace, AFullDiskFailsTheChunkCleanlyAndTheSameCommandFinishesOnceThereIsRoom) {
  const std::vector<std::string> copy =
      args({"copy", "--source", db->dsn(), "--target", db->dsn(), "--table", "src", "--to", "dst"});
  RunResult full = run_backfill(copy);
  ASSERT_EQ(full.exit_code, 3) << full.err;
  EXPECT_NE(full.err.find("No space left on device"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("progress is kept; the same command resumes"), std::string::npos)
      << full.err;
  // What is in is whole chunks, each recorded: nothing of the chunk that failed.
  const std::int64_t in = count("SELECT count(*) FROM dst");
  EXPECT_LT(in, kRows);
  EXPECT_EQ(in, count("SELECT coalesce(sum(rows), 0) FROM backfill.chunks WHERE status = 'done'"));
  EXPECT_EQ(rows_differing("dst", "src"), 0);
  std::printf("the disk filled after %lld of %d rows\n", static_cast<long long>(in), kRows);

  grow();
  RunResult again = run_backfill(copy);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(count("SELECT count(*) FROM dst"), kRows);
  EXPECT_EQ(rows_differing("src", "dst"), 0);
  EXPECT_EQ(rows_differing("dst", "src"), 0);
}

}  // namespace
}  // namespace backfill::testing

namespace backfill::testing {
namespace {

// PgBouncer (Debian's pgbouncer) in front of the test's database, on a unix socket of its
// own, with one pool per mode. Skipped where pgbouncer is not installed; scripts/setup.sh
// installs it.
class Pooler : public ServerLost {
 protected:
  void SetUp() override {
    ServerLost::SetUp();
    if (IsSkipped()) return;
    if (std::system("command -v pgbouncer >/dev/null") != 0) GTEST_SKIP() << "no pgbouncer";
    dir_ = ::testing::TempDir() + "backfill_pgbouncer_" + std::to_string(getpid());
    pg("mkdir -p " + dir_);
    const std::string server = std::getenv("BACKFILL_FAULT_DSN");
    const std::string target = server + " dbname=" + db->name();
    std::ofstream(dir_ + "/users.txt") << "\"postgres\" \"\"\n";
    std::ofstream(dir_ + "/pgbouncer.ini")
        << "[databases]\n"
        << "session_pool = " << target << " pool_mode=session\n"
        << "transaction_pool = " << target << " pool_mode=transaction\n"
        << "[pgbouncer]\nlisten_addr =\nlisten_port = " << kPort << "\nunix_socket_dir = " << dir_
        << "\nauth_type = trust\nauth_file = " << dir_ << "/users.txt\npidfile = " << dir_
        << "/pgbouncer.pid\nlogfile = " << dir_ << "/pgbouncer.log\n"
        << "default_pool_size = 20\nmax_client_conn = 200\n";
    // PgBouncer will not run as root: as postgres then, who owns the server's socket too.
    const std::string as = geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (geteuid() == 0) pg("chown -R postgres:postgres " + dir_);
    pg(as + "pgbouncer -d " + dir_ + "/pgbouncer.ini");
    started_ = true;
    ASSERT_TRUE(wait_until([&] {
      return std::ifstream(dir_ + "/.s.PGSQL." + std::to_string(kPort)).good() ||
             std::system(("test -S " + dir_ + "/.s.PGSQL." + std::to_string(kPort)).c_str()) == 0;
    }));
  }
  void TearDown() override {
    if (started_) {
      // SIGINT: PgBouncer's safe shutdown; then wait until its pid file is gone.
      (void)std::system(("kill -INT $(cat " + dir_ + "/pgbouncer.pid)").c_str());
      EXPECT_TRUE(wait_until([&] { return !std::ifstream(dir_ + "/pgbouncer.pid").good(); }));
    }
    if (!dir_.empty()) (void)std::system(("rm -rf " + dir_).c_str());
    ServerLost::TearDown();
  }
  std::string through(const std::string& pool) const {
    return "host=" + dir_ + " port=" + std::to_string(kPort) + " user=postgres dbname=" + pool;
  }

  static constexpr int kPort = 6440;
  std::string dir_;
  bool started_ = false;
};

TEST_F(Pooler, ACopyAndItsVerifyWorkThroughASessionPool) {
  const std::string dsn = through("session_pool");
  RunResult c = run_backfill({"copy", "--source", dsn, "--target", dsn, "--table", "src", "--to",
                              "dst", "--progress", "none", "--chunk-rows", "1000"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(rows_differing("src", "dst"), 0);
  EXPECT_EQ(rows_differing("dst", "src"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM dst"), kRows);
  RunResult v = run_backfill({"verify", "--source", dsn, "--target", dsn, "--table", "src", "--to",
                              "dst", "--progress", "none", "--chunk-rows", "1000"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("match: 20,000 rows"), std::string::npos) << v.out;
}

TEST_F(Pooler, ATransactionPoolIsRefusedAtPreflightAndNothingIsWritten) {
  const std::string dsn = through("transaction_pool");
  const std::vector<std::vector<std::string>> commands{
      {"copy", "--source", db->dsn(), "--target", dsn, "--table", "src", "--to", "dst"},
      {"copy", "--source", dsn, "--target", db->dsn(), "--table", "src", "--to", "dst"},
      {"copy", "--source", db->dsn(), "--target", db->dsn(), "--state", dsn, "--table", "src",
       "--to", "dst"},
      {"verify", "--source", db->dsn(), "--target", dsn, "--table", "src", "--to", "dst"},
      {"update", "--target", dsn, "--table", "src", "--set", "v2 = upper(v)"},
      {"plan", "--source", db->dsn(), "--target", dsn, "--table", "src", "--to", "dst"},
  };
  for (const auto& command : commands) {
    RunResult r = run_backfill(command);
    EXPECT_EQ(r.exit_code, 2) << command[0] << ": " << r.err;
    EXPECT_NE(r.err.find("leads through a connection pooler in transaction or statement mode"),
              std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("pool_mode = session"), std::string::npos) << r.err;
  }
  EXPECT_EQ(count("SELECT count(*) FROM dst"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM src WHERE v2 IS NOT NULL"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM pg_tables WHERE schemaname = 'backfill'"), 0);
}

}  // namespace
}  // namespace backfill::testing

namespace backfill::testing {
namespace {

// A password, given in a key=value DSN, in a URI, in PGPASSWORD and in a .pgpass file, to a
// role the server makes prove it (scram-sha-256), and looked for in everything backfill
// writes: stdout, stderr, reports, the ledger and `status`, on success and on failure.
class Secrets : public ServerLost {
 protected:
  static constexpr const char* kPassword = "s3cret-Pw-4711";
  static constexpr const char* kRole = "backfill_secret";

  void SetUp() override {
    ServerLost::SetUp();
    if (IsSkipped()) return;
    // The role signs in with its password; every other connection stays as it was.
    const std::string hba = "/tmp/backfill-pg/" + cluster_ + "/data/pg_hba.conf";
    const std::string line = std::string("local all ") + kRole + " scram-sha-256";
    pg("grep -qx '" + line + "' " + hba + " || sed -i '1i " + line + "' " + hba);
    db->exec(std::string("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '") +
             kRole + "') THEN CREATE ROLE " + kRole + " LOGIN; END IF; END $$;\n" + "ALTER ROLE " +
             kRole + " PASSWORD '" + kPassword + "';\n" + "SELECT pg_reload_conf();\n" +
             "GRANT ALL ON DATABASE " + db->name() + " TO " + kRole +
             ";\nALTER TABLE src OWNER TO " + kRole + ";\nALTER TABLE dst OWNER TO " + kRole);
  }

  std::string key_value(const std::string& password) const {
    return db->dsn() + " user=" + kRole + " password=" + password;
  }
  std::string uri(const std::string& password) const {
    return std::string("postgresql://") + kRole + ":" + password + "@/" + db->name() +
           "?host=/tmp/backfill-pg/" + cluster_ + "&port=" + port();
  }
  std::string port() const {
    const std::string dsn = db->dsn();
    const auto at = dsn.find("port=");
    return dsn.substr(at + 5, dsn.find(' ', at) - at - 5);
  }
  // Everything the ledger holds, as text.
  std::string ledger_text() {
    std::string all;
    for (const std::string& t : db->rows("SELECT tablename FROM pg_tables WHERE schemaname = "
                                         "'backfill'")) {
      for (const std::string& row : db->rows("SELECT x::text FROM backfill." + t + " x")) {
        all += row + "\n";
      }
    }
    return all;
  }
  void expect_no_password(const std::string& what, const std::string& text) {
    EXPECT_EQ(text.find(kPassword), std::string::npos) << what << ": " << text;
  }
};

TEST_F(Secrets, APasswordIsNeverPrintedReportedOrStored) {
  const std::string report = temp_path("secret_report.json");
  std::vector<std::pair<std::string, RunResult>> runs;
  auto run = [&](const std::string& what, const std::vector<std::string>& a, int code) {
    RunResult r = run_backfill(a);
    EXPECT_EQ(r.exit_code, code) << what << ": " << r.err;
    expect_no_password(what + " stdout", r.out);
    expect_no_password(what + " stderr", r.err);
    if (std::ifstream(report).good()) {
      expect_no_password(what + " report", read_text(report));
      std::remove(report.c_str());
    }
    return r;
  };
  // In a key=value string and in a URI.
  run("copy",
      {"copy", "--source", key_value(kPassword), "--target", uri(kPassword), "--table", "src",
       "--to", "dst", "--progress", "log", "--report", report},
      0);
  EXPECT_EQ(count("SELECT count(*) FROM dst"), kRows);
  run("verify",
      {"verify", "--source", uri(kPassword), "--target", key_value(kPassword), "--table", "src",
       "--to", "dst", "--progress", "log", "--report", report},
      0);
  run("plan",
      {"plan", "--source", uri(kPassword), "--target", uri(kPassword), "--table", "src", "--to",
       "dst"},
      0);
  run("status", {"status", "--state", uri(kPassword)}, 0);
  // In PGPASSWORD, and in a password file.
  ::setenv("PGPASSWORD", kPassword, 1);
  run("update",
      {"update", "--target", db->dsn() + " user=" + kRole, "--table", "src", "--set",
       "v2 = upper(v)", "--progress", "log", "--report", report},
      0);
  ::unsetenv("PGPASSWORD");
  const std::string pgpass = temp_path("secret_pgpass");
  std::ofstream(pgpass) << "*:*:*:" << kRole << ":" << kPassword << "\n";
  ::chmod(pgpass.c_str(), 0600);
  ::setenv("PGPASSFILE", pgpass.c_str(), 1);
  run("status with .pgpass", {"status", "--state", db->dsn() + " user=" + kRole}, 0);
  ::unsetenv("PGPASSFILE");
  // Failures: a wrong password that begins with the right one, and a table that is not there.
  const std::string wrong = std::string(kPassword) + "-wrong";
  RunResult denied = run("a wrong password",
                         {"copy", "--source", uri(wrong), "--target", uri(kPassword), "--table",
                          "src", "--to", "dst", "--restart"},
                         2);
  EXPECT_NE(denied.err.find("password authentication failed"), std::string::npos) << denied.err;
  run("a missing table",
      {"copy", "--source", key_value(kPassword), "--target", key_value(kPassword), "--table",
       "nope", "--report", report},
      2);
  expect_no_password("the ledger", ledger_text());
  EXPECT_NE(ledger_text().find(kRole), std::string::npos);  // what is stored names the user
}

}  // namespace
}  // namespace backfill::testing

namespace backfill::testing {
namespace {

// Each subcommand as roles that hold exactly the grants the README lists, and each grant
// taken away in turn: found at preflight, exit 2 naming the privilege and the object, and
// nothing written.
class LeastPrivilege : public ServerLost {
 protected:
  void SetUp() override {
    ServerLost::SetUp();
    if (IsSkipped()) return;
    for (const char* role : {"bf_reader", "bf_writer"}) {
      db->exec(std::string("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '") +
               role + "') THEN CREATE ROLE " + role + " LOGIN; END IF; END $$");
    }
    db->exec(
        "GRANT SELECT ON src TO bf_reader;\nGRANT INSERT ON dst TO bf_writer;\n"
        "GRANT CREATE ON DATABASE " +
        db->name() + " TO bf_writer");
  }
  void TearDown() override {
    if (db) db->exec("DROP OWNED BY bf_reader, bf_writer");  // their grants, in this database
    ServerLost::TearDown();
  }
  std::string as(const std::string& role) const { return db->dsn() + " user=" + role; }
  std::vector<std::string> copy(std::vector<std::string> extra = {}) const {
    std::vector<std::string> a{"copy",          "--source",   as("bf_reader"), "--target",
                               as("bf_writer"), "--table",    "src",           "--to",
                               "dst",           "--progress", "none"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  void expect_refused(const std::vector<std::string>& args, const std::string& message) {
    RunResult r = run_backfill(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(count("SELECT count(*) FROM dst"), 0);
    EXPECT_EQ(count("SELECT count(*) FROM src WHERE v2 IS NOT NULL"), 0);
  }
  bool has_ledger() {
    return count("SELECT count(*) FROM pg_namespace WHERE nspname = 'backfill'") > 0;
  }
};

TEST_F(LeastPrivilege, EachMissingGrantIsNamedAtPreflightAndNothingIsWritten) {
  db->exec("REVOKE SELECT ON src FROM bf_reader");
  expect_refused(copy(),
                 "--source: role bf_reader lacks SELECT on public.src (GRANT SELECT ON "
                 "\"public\".\"src\" TO \"bf_reader\")");
  db->exec("GRANT SELECT ON src TO bf_reader;\nREVOKE INSERT ON dst FROM bf_writer");
  expect_refused(copy(), "--target: role bf_writer lacks INSERT on public.dst");
  db->exec("GRANT INSERT ON dst TO bf_writer");
  expect_refused(copy({"--on-conflict", "overwrite"}), "--target: role bf_writer lacks SELECT");
  db->exec("GRANT SELECT ON dst TO bf_writer");
  expect_refused(copy({"--on-conflict", "overwrite"}), "--target: role bf_writer lacks UPDATE");
  db->exec("REVOKE SELECT ON dst FROM bf_writer;\nREVOKE CREATE ON DATABASE " + db->name() +
           " FROM bf_writer");
  expect_refused(copy(), "--state: role bf_writer may not create the ledger (schema backfill)");
  EXPECT_FALSE(has_ledger());
  // A ledger made by someone else needs its tables granted.
  db->exec("GRANT CREATE ON DATABASE " + db->name() + " TO bf_writer");
  ASSERT_EQ(run_backfill({"copy", "--source", db->dsn(), "--target", db->dsn(), "--table", "src",
                          "--to", "dst", "--progress", "none", "--restart"})
                .exit_code,
            0);
  db->exec("TRUNCATE dst;\nTRUNCATE backfill.jobs CASCADE");
  expect_refused(copy(), "--state: role bf_writer may not use the ledger: it lacks ");
  // The update and verify of these roles, each lacking what it needs.
  expect_refused({"update", "--target", as("bf_reader"), "--table", "src", "--set", "v2 = upper(v)",
                  "--progress", "none"},
                 "--target: role bf_reader lacks UPDATE on public.src");
  expect_refused({"verify", "--source", as("bf_reader"), "--target", as("bf_writer"), "--table",
                  "src", "--to", "dst", "--progress", "none"},
                 "--target: role bf_writer lacks SELECT on public.dst");
}

TEST_F(LeastPrivilege, TheListedGrantsAreEnough) {
  // copy: SELECT on the source; INSERT on the target; CREATE on the ledger's database.
  RunResult c = run_backfill(copy());
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(rows_differing("src", "dst"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM dst"), kRows);
  // verify: SELECT on both; the ledger is bf_writer's, who made it.
  db->exec("GRANT SELECT ON dst TO bf_writer");
  RunResult v = run_backfill({"verify", "--source", as("bf_reader"), "--target", as("bf_writer"),
                              "--table", "src", "--to", "dst", "--progress", "none"});
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // verify --repair: and INSERT, UPDATE and DELETE on the target.
  RunResult refused =
      run_backfill({"verify", "--source", as("bf_reader"), "--target", as("bf_writer"), "--table",
                    "src", "--to", "dst", "--progress", "none", "--repair", "--restart"});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("lacks UPDATE on public.dst"), std::string::npos) << refused.err;
  db->exec("GRANT UPDATE, DELETE ON dst TO bf_writer;\nDELETE FROM dst WHERE id = 5");
  RunResult repaired =
      run_backfill({"verify", "--source", as("bf_reader"), "--target", as("bf_writer"), "--table",
                    "src", "--to", "dst", "--progress", "none", "--repair", "--restart"});
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out << repaired.err;
  EXPECT_EQ(rows_differing("src", "dst"), 0);
  // update: SELECT and UPDATE on the table; the ledger in the same database.
  db->exec("GRANT SELECT, UPDATE ON src TO bf_writer");
  RunResult u = run_backfill({"update", "--target", as("bf_writer"), "--table", "src", "--set",
                              "v2 = upper(v)", "--progress", "none"});
  EXPECT_EQ(u.exit_code, 0) << u.err;
  EXPECT_EQ(count("SELECT count(*) FROM src WHERE v2 IS DISTINCT FROM upper(v)"), 0);
}

}  // namespace
}  // namespace backfill::testing
