#include "tests/support/pg_fixture.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace backfill::testing {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string unique_suffix() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
         std::to_string(rd() % 100000);
}

pid_t spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  std::string bin = BACKFILL_BINARY;
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(rc, 0) << "cannot start " << bin;
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string server_dsn() {
  const char* d = std::getenv("BACKFILL_TEST_DSN");
  if (d == nullptr || *d == '\0') {
    ADD_FAILURE() << "BACKFILL_TEST_DSN is not set: run the database tests through scripts/test.sh";
    return "";
  }
  return d;
}

TestDatabase::TestDatabase(const std::string& prefix, const std::string& create_options,
                           const std::string& server)
    : server_(server.empty() ? server_dsn() : server) {
  name_ = prefix + "_" + unique_suffix();
  auto admin = pg::PgConnection::connect(server_, pg::SessionSettings{});
  EXPECT_TRUE(admin.ok()) << admin.status().message();
  if (admin.ok()) {
    Status st = (*admin)->exec("CREATE DATABASE " + name_ + " " + create_options);
    EXPECT_TRUE(st.is_ok()) << st.message();
  }
  dsn_ = server_ + " dbname=" + name_;
  auto c = pg::PgConnection::connect(dsn_, pg::SessionSettings{});
  EXPECT_TRUE(c.ok()) << c.status().message();
  if (c.ok()) conn_ = std::move(c).value();
}

TestDatabase::~TestDatabase() {
  conn_.reset();
  auto admin = pg::PgConnection::connect(server_, pg::SessionSettings{});
  if (admin.ok()) (void)(*admin)->exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
}

void TestDatabase::exec(const std::string& sql) {
  ASSERT_TRUE(conn_);
  // The driver speaks the extended protocol, one statement per call: split on ";\n".
  std::size_t start = 0;
  while (start < sql.size()) {
    std::size_t end = sql.find(";\n", start);
    if (end == std::string::npos) end = sql.size();
    std::string stmt = sql.substr(start, end - start);
    start = end + 2;
    if (stmt.find_first_not_of(" \n\t;") == std::string::npos) continue;
    Status st = conn_->exec(stmt);
    ASSERT_TRUE(st.is_ok()) << st.message() << "\nin: " << stmt;
  }
}

std::string TestDatabase::value(const std::string& sql) {
  auto r = conn_->query(sql);
  EXPECT_TRUE(r.ok()) << r.status().message() << "\nin: " << sql;
  if (!r.ok() || r->rows() == 0) return "";
  return r->is_null(0, 0) ? "NULL" : r->text(0, 0);
}

std::vector<std::string> TestDatabase::rows(const std::string& sql) {
  auto r = conn_->query(sql);
  EXPECT_TRUE(r.ok()) << r.status().message() << "\nin: " << sql;
  std::vector<std::string> out;
  if (!r.ok()) return out;
  for (int i = 0; i < r->rows(); ++i) {
    std::string line;
    for (int c = 0; c < r->columns(); ++c) {
      if (c) line += '\t';
      line += r->is_null(i, c) ? "\\N" : r->text(i, c);
    }
    out.push_back(std::move(line));
  }
  return out;
}

RunResult run_backfill(const std::vector<std::string>& args) {
  BackgroundRun run(args);
  return run.wait();
}

BackgroundRun::BackgroundRun(const std::vector<std::string>& args) {
  std::string base = ::testing::TempDir() + "backfill_run_" + unique_suffix();
  out_path_ = base + ".out";
  err_path_ = base + ".err";
  pid_ = spawn(args, out_path_, err_path_);
}

BackgroundRun::~BackgroundRun() {
  if (!waited_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_);
  }
  std::remove(out_path_.c_str());
  std::remove(err_path_.c_str());
}

void BackgroundRun::signal(int sig) { ::kill(pid_, sig); }

std::string BackgroundRun::err_so_far() const { return read_file(err_path_); }

RunResult BackgroundRun::wait() {
  RunResult r;
  r.exit_code = wait_exit(pid_);
  waited_ = true;
  r.out = read_file(out_path_);
  r.err = read_file(err_path_);
  return r;
}

bool wait_until(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

bool blocked_by(TestDatabase& db, const pg::PgConnection& blocker) {
  return db.value("SELECT count(*) FROM pg_stat_activity WHERE " +
                  std::to_string(blocker.backend_pid()) + " = ANY(pg_blocking_pids(pid))") != "0";
}

}  // namespace backfill::testing
