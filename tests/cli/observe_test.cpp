// What others watch a job through, against a real PostgreSQL: the Prometheus metrics (the
// textfile and /metrics while the job runs), the JSON log, and `status --json`.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <optional>

#include "tests/cli/cli_support.hpp"
#include "tests/support/prometheus_text.hpp"

namespace backfill::testing {
namespace {

using nlohmann::json;

// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

// GET http://127.0.0.1:PORT/metrics: the body of a 200 answer, nullopt when nothing
// listens. HTTP/1.0, so the server closes the connection at the end of the body.
std::optional<std::string> scrape(int port) {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(s);
    return std::nullopt;
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  if (send(s, request.data(), request.size(), MSG_NOSIGNAL) < 0) {
    close(s);
    return std::nullopt;
  }
  std::string answer;
  char buf[8192];
  for (ssize_t n; (n = recv(s, buf, sizeof buf, 0)) > 0;) answer.append(buf, n);
  close(s);
  const auto body = answer.find("\r\n\r\n");
  if (answer.rfind("HTTP/1.", 0) != 0 || answer.find(" 200 ") == std::string::npos ||
      body == std::string::npos) {
    return std::nullopt;
  }
  return answer.substr(body + 4);
}

// Every counter series of `later` is at least what it was in `earlier`.
void expect_counters_grew(const Exposition& earlier, const Exposition& later) {
  for (const auto& [series, value] : earlier.samples) {
    const std::string name = series.substr(0, series.find('{'));
    const std::string family =
        name.ends_with("_bucket") || name.ends_with("_count") || name.ends_with("_sum")
            ? name.substr(0, name.rfind('_'))
            : name;
    auto type = earlier.types.find(family);
    if (type == earlier.types.end() || (type->second != "counter" && type->second != "histogram"))
      continue;
    auto now = later.samples.find(series);
    ASSERT_NE(now, later.samples.end()) << series << " went away";
    EXPECT_GE(now->second, value) << series;
  }
}

struct Observe : ::testing::Test {
  SourceAndTarget db;
  static constexpr int kRows = 20000;
  static constexpr int kBlockedKey = 15000;
  void SetUp() override {
    const char* ddl = "CREATE TABLE t (id int PRIMARY KEY, v text)";
    db.src.exec(ddl);
    db.dst.exec(ddl);
    db.src.exec("INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, " +
                std::to_string(kRows) + ") g");
    db.src.exec("ANALYZE t");
  }
};

TEST_F(Observe, TheEndpointCountsUpWhileTheCopyRunsAndTheFileMatchesTheReport) {
  // An uncommitted row of the target holds the copy at its chunk: the job is running, with
  // the chunks before it done.
  auto blocker = pg::PgConnection::connect(db.dst.dsn(), pg::SessionSettings{});
  ASSERT_TRUE(blocker.ok());
  ASSERT_TRUE((*blocker)->exec("BEGIN").is_ok());
  ASSERT_TRUE((*blocker)
                  ->exec("INSERT INTO t VALUES (" + std::to_string(kBlockedKey) + ", 'blocker')")
                  .is_ok());
  const int port = free_port();
  const std::string file = temp_path("observe_metrics.prom");
  const std::string report = temp_path("observe_metrics_report.json");
  std::remove(file.c_str());
  BackgroundRun run(db.copy(
      "t", {"--jobs", "1", "--chunk-rows", "1000", "--lock-timeout", "0", "--metrics-file", file,
            "--metrics-listen", "127.0.0.1:" + std::to_string(port), "--report", report}));
  ASSERT_TRUE(wait_until([&] { return blocked_by(db.dst, **blocker); }));

  auto first = scrape(port);
  ASSERT_TRUE(first.has_value()) << "nothing answers on port " << port;
  Exposition during = parse_exposition(*first);
  ASSERT_TRUE(during.ok()) << during.errors.front() << "\n" << *first;
  const std::string labels = "command=\"copy\",job=\"copy:public.t:public.t\",table=\"public.t\"";
  EXPECT_GE(during.at("backfill_rows_total{" + labels + "}"), kBlockedKey - 1000) << *first;
  EXPECT_LT(during.at("backfill_rows_total{" + labels + "}"), kRows) << *first;
  EXPECT_EQ(during.at("backfill_running{command=\"copy\",job=\"copy:public.t:public.t\"}"), 1)
      << *first;
  EXPECT_EQ(during.types["backfill_chunk_duration_seconds"], "histogram");

  // A second scrape while the copy is still held: two scrapes of a running job whatever the
  // timing after the lock goes.
  auto second = scrape(port);
  ASSERT_TRUE(second.has_value());
  Exposition last = parse_exposition(*second);
  ASSERT_TRUE(last.ok()) << last.errors.front();
  expect_counters_grew(during, last);
  int scrapes = 2;

  ASSERT_TRUE((*blocker)->exec("ROLLBACK").is_ok());
  // Scrapes until the endpoint goes: each one parses, and no counter goes down.
  while (auto body = scrape(port)) {
    Exposition now = parse_exposition(*body);
    ASSERT_TRUE(now.ok()) << now.errors.front();
    expect_counters_grew(last, now);
    last = std::move(now);
    ++scrapes;
  }
  auto r = run.wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(scrapes, 2);
  EXPECT_FALSE(scrape(port).has_value()) << "the endpoint outlived the job";

  const json rep = json::parse(read_text(report));
  Exposition final_file = parse_exposition(read_text(file));
  ASSERT_TRUE(final_file.ok()) << final_file.errors.front();
  EXPECT_EQ(final_file.at("backfill_rows_total{" + labels + "}"), rep["rows"].get<double>());
  EXPECT_EQ(final_file.at("backfill_chunks_total{command=\"copy\",job=\"copy:public.t:public.t\","
                          "outcome=\"done\",table=\"public.t\"}"),
            rep["chunks"].get<double>());
  EXPECT_EQ(
      final_file.at("backfill_last_run_success{command=\"copy\",job=\"copy:public.t:public.t\"}"),
      1);
  EXPECT_EQ(final_file.at("backfill_running{command=\"copy\",job=\"copy:public.t:public.t\"}"), 0);
  EXPECT_EQ(rep["rows"], kRows);
  // Every row read: the bytes to read, estimated at the bytes a row so far, are the bytes read.
  const double bytes = final_file.at("backfill_bytes_total{" + labels + "}");
  EXPECT_GT(bytes, kRows * 32.0);  // an md5 hex text a row, at least
  EXPECT_DOUBLE_EQ(final_file.at("backfill_job_bytes_estimated{" + labels + "}"), bytes);
}

TEST_F(Observe, ABadAddressOrAnUnwritableFileExitsTwoBeforeAnythingIsWritten) {
  // A port already taken, as another exporter would hold it.
  const int taken = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(taken, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(taken, 1), 0);
  socklen_t len = sizeof a;
  getsockname(taken, reinterpret_cast<sockaddr*>(&a), &len);
  const std::string busy = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));

  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--metrics-listen", "nonsense"}, "--metrics-listen"},
      {{"--metrics-listen", busy}, "--metrics-listen"},
      {{"--metrics-file", "/nonexistent-dir/backfill.prom"}, "--metrics-file"},
      {{"--log-format", "yaml"}, "--log-format"}};
  for (const auto& [args, named] : cases) {
    auto r = run_backfill(db.copy("t", args));
    EXPECT_EQ(r.exit_code, 2) << args.back() << "\n" << r.err;
    EXPECT_NE(r.err.find(named), std::string::npos) << r.err;
  }
  close(taken);
  EXPECT_FALSE(db.ledger_exists());
  EXPECT_EQ(db.dst.value("SELECT count(*) FROM t"), "0");
}

// Every line of stderr, each parsed as one JSON object.
std::vector<json> json_lines(const std::string& err) {
  std::vector<json> out;
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    if (j.is_discarded()) continue;
    EXPECT_TRUE(j.is_object()) << line;
    for (const char* field : {"time", "level", "event", "message"}) {
      EXPECT_TRUE(j.contains(field)) << field << " missing: " << line;
    }
    out.push_back(std::move(j));
  }
  return out;
}

const json* event(const std::vector<json>& lines, const std::string& name) {
  for (const auto& j : lines) {
    if (j.value("event", "") == name) return &j;
  }
  return nullptr;
}

TEST_F(Observe, EveryJsonLogLineParsesAndTheSummaryIsTheReport) {
  const std::string report = temp_path("observe_json_report.json");
  auto r = run_backfill(db.copy("t", {"--chunk-rows", "2000", "--log-format", "json", "--progress",
                                      "log", "--report", report}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = json_lines(r.err);
  ASSERT_FALSE(lines.empty());
  for (const auto& j : lines) {
    EXPECT_EQ(j.value("command", ""), "copy") << j.dump();
    EXPECT_EQ(j.value("job", ""), "copy:public.t:public.t") << j.dump();
  }
  const json* start = event(lines, "start");
  ASSERT_NE(start, nullptr) << r.err;
  EXPECT_NE(start->value("message", "").find("starting job copy:public.t:public.t"),
            std::string::npos);
  ASSERT_NE(event(lines, "progress_end"), nullptr) << r.err;
  EXPECT_EQ((*event(lines, "progress_end"))["rows"], kRows);
  const json* summary = event(lines, "summary");
  ASSERT_NE(summary, nullptr) << r.err;
  EXPECT_EQ((*summary)["report"], json::parse(read_text(report)));

  // verify's verdict too, and the error that ends a run, as events.
  db.dst.exec("UPDATE t SET v = 'changed' WHERE id = 7");
  auto v = run_backfill({"verify", "--source", db.src.dsn(), "--target", db.dst.dsn(), "--table",
                         "t", "--log-format", "json", "--progress", "none"});
  EXPECT_EQ(v.exit_code, 1) << v.err;
  const auto vlines = json_lines(v.err);
  const json* vsummary = event(vlines, "summary");
  ASSERT_NE(vsummary, nullptr) << v.err;
  EXPECT_EQ((*vsummary)["report"]["status"], "differences");
  EXPECT_EQ((*vsummary)["report"]["rows_different"], 1);

  auto bad = run_backfill(db.copy("no_such_table", {"--log-format", "json"}));
  EXPECT_EQ(bad.exit_code, 2);
  const auto blines = json_lines(bad.err);
  ASSERT_FALSE(blines.empty()) << bad.err;
  EXPECT_EQ(blines.back().value("level", ""), "error") << bad.err;
  EXPECT_EQ(blines.back().value("event", ""), "error");
  EXPECT_EQ(blines.back().value("exit_code", 0), 2);
  EXPECT_NE(blines.back().value("message", "").find("no_such_table"), std::string::npos);
}

// A job seconds old: its rate is over the seconds it ran, not the last minute's rows / 60.
TEST_F(Observe, StatusRateIsOverTheWindowTheJobRan) {
  BackgroundRun run(db.copy("t", {"--chunk-rows", "100", "--max-rate", "2000", "--job", "r"}));
  ASSERT_TRUE(
      wait_until([&] { return std::stoll(db.dst.value("SELECT count(*) FROM t")) >= 3000; }));
  // The ledger's own rate over the same window, read just before and after status.
  const std::string ran =
      "SELECT sum(rows) / extract(epoch FROM now() - min(started_at)) FROM backfill.chunks "
      "WHERE job = 'r' AND status = 'done'";
  const double low = std::stod(db.dst.value(ran));
  const auto j =
      json::parse(run_backfill({"status", "--state", db.dst.dsn(), "--job", "r", "--json"}).out);
  const double high = std::stod(db.dst.value(ran));
  const double rate = j["jobs"][0]["rows_per_second"].get<double>();
  EXPECT_EQ(j["jobs"][0]["status"], "running") << j.dump();
  EXPECT_GE(rate, 0.7 * std::min(low, high)) << j.dump();
  EXPECT_LE(rate, 1.5 * std::max(low, high)) << j.dump();
  EXPECT_FALSE(j["jobs"][0]["eta_seconds"].is_null()) << j.dump();
  run.signal(SIGINT);
  run.wait();
  const auto done =
      json::parse(run_backfill({"status", "--state", db.dst.dsn(), "--job", "r", "--json"}).out);
  EXPECT_EQ(done["jobs"][0]["status"], "interrupted") << done.dump();
  EXPECT_TRUE(done["jobs"][0]["eta_seconds"].is_null()) << done.dump();
}

TEST_F(Observe, StatusJsonListsTheJobWithItsCountsAndWorkers) {
  auto c = run_backfill(db.copy("t", {"--chunk-rows", "5000"}));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto st = run_backfill({"status", "--state", db.dst.dsn(), "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  const json j = json::parse(st.out);
  EXPECT_EQ(j["ledger"], true);
  ASSERT_EQ(j["jobs"].size(), 1u) << st.out;
  const json& job = j["jobs"][0];
  EXPECT_EQ(job["job"], "copy:public.t:public.t");
  EXPECT_EQ(job["kind"], "table");
  EXPECT_EQ(job["status"], "done");
  EXPECT_EQ(job["rows_done"], kRows);
  EXPECT_GE(job["chunks_done"], 4);
  EXPECT_EQ(job["chunks_done"], job["chunks_planned"]);
  EXPECT_EQ(job["plan_done"], true);
  EXPECT_TRUE(job["eta_seconds"].is_null());
  ASSERT_EQ(job["workers"].size(), 1u);
  EXPECT_EQ(job["workers"][0]["state"], "ok");

  auto none = run_backfill({"status", "--state", db.dst.dsn(), "--json", "--job", "nope"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("no job named 'nope'"), std::string::npos) << none.err;
  auto empty = run_backfill({"status", "--state", db.src.dsn(), "--json"});
  ASSERT_EQ(empty.exit_code, 0);
  EXPECT_EQ(json::parse(empty.out), json::parse(R"({"ledger": false, "jobs": []})"));
}

}  // namespace
}  // namespace backfill::testing
