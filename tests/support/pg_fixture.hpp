// Test support for suites that run against the throwaway PostgreSQL of scripts/test.sh:
// a fresh database per test, SQL helpers, and the `backfill` binary run as a subprocess
// (in the foreground, or in the background to be signalled or killed).
// Waiting is done on conditions (a row appears in the ledger, a backend waits on a lock),
// polled with a deadline; never on a fixed sleep.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "drivers/postgres/connection.hpp"

namespace backfill::testing {

// BACKFILL_TEST_DSN, the server's DSN without dbname. Fails the test if unset.
std::string server_dsn();

// A database created for one test and dropped after it.
class TestDatabase {
 public:
  // `create_options`: what CREATE DATABASE adds, e.g. "TEMPLATE template0 LC_CTYPE 'C'";
  // `server`: the server's DSN without dbname (default: server_dsn()).
  explicit TestDatabase(const std::string& prefix = "t", const std::string& create_options = "",
                        const std::string& server = "");
  ~TestDatabase();
  const std::string& dsn() const { return dsn_; }
  const std::string& name() const { return name_; }
  // Runs SQL (several statements allowed); fails the test on error.
  void exec(const std::string& sql);
  // The first column of the first row, "" for no row, "NULL" for NULL.
  std::string value(const std::string& sql);
  // Every row as tab-separated text, in the order the query gives: for exact comparisons.
  std::vector<std::string> rows(const std::string& sql);
  pg::PgConnection& conn() { return *conn_; }

 private:
  std::string server_;
  std::string name_;
  std::string dsn_;
  std::unique_ptr<pg::PgConnection> conn_;
};

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `backfill args...` to its end.
RunResult run_backfill(const std::vector<std::string>& args);

// `backfill args...` in the background.
class BackgroundRun {
 public:
  explicit BackgroundRun(const std::vector<std::string>& args);
  ~BackgroundRun();
  pid_t pid() const { return pid_; }
  void signal(int sig);
  // What the run has written to stderr so far, to wait on a line it prints.
  std::string err_so_far() const;
  RunResult wait();

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
  bool waited_ = false;
};

// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held.
bool wait_until(const std::function<bool()>& cond,
                std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Whether a session of `db`'s server waits on a lock `blocker` holds. A lock wait of any
// kind (the ledger's own sessions briefly queue on each other's rows) is not the wait a
// test plants: this names the blocker.
bool blocked_by(TestDatabase& db, const pg::PgConnection& blocker);

}  // namespace backfill::testing
