// The metrics' address parsing and exposition, and the JSON log's lines, without a server.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli/metrics.hpp"
#include "engine/jobs/log.hpp"

namespace backfill::cli {
namespace {

TEST(MetricsListenAddress, APortAloneListensOnLoopbackAndAHostIsKept) {
  EXPECT_EQ(metrics_listen_address("9187").value(), "127.0.0.1:9187");
  EXPECT_EQ(metrics_listen_address(":9187").value(), "127.0.0.1:9187");
  EXPECT_EQ(metrics_listen_address("0.0.0.0:9187").value(), "0.0.0.0:9187");
}

TEST(MetricsListenAddress, WhatIsNoPortIsInvalidAndNamesTheOption) {
  for (const char* bad : {"", "abc", "host:", "127.0.0.1:0", "127.0.0.1:70000", "1:2:x"}) {
    auto r = metrics_listen_address(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().kind(), ErrorKind::kInvalid) << bad;
    EXPECT_NE(r.status().message().find("--metrics-listen"), std::string::npos) << bad;
  }
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(JobMetrics, ChunksAreCountedAndTheFileIsWrittenAtTheEnd) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("backfill_metrics_unit_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = dir / "backfill.prom";
  std::filesystem::remove(file);
  auto m = JobMetrics::start({file.string(), ""}, "copy");
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_NE(m.value(), nullptr);
  JobObserver* o = m.value()->observer("j1", "public.t");
  EXPECT_EQ(o, m.value()->observer("j1", "public.t"));
  ChunkEvent done;
  done.rows = 1000;
  done.bytes = 64000;
  done.seconds = 0.25;
  o->chunk_finished(done);
  o->chunk_finished(done);
  ChunkEvent failed;
  failed.outcome = ChunkEvent::Outcome::kFailed;
  o->chunk_finished(failed);
  const std::string text = m.value()->text();
  EXPECT_NE(text.find("backfill_rows_total{command=\"copy\",job=\"j1\",table=\"public.t\"} 2000"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("backfill_bytes_total{command=\"copy\",job=\"j1\",table=\"public.t\"} 128000"),
      std::string::npos)
      << text;
  // Every outcome's series exists from the start (at 0): the counts are what can fail.
  EXPECT_NE(text.find("backfill_chunks_total{command=\"copy\",job=\"j1\",outcome=\"done\","
                      "table=\"public.t\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("backfill_chunks_total{command=\"copy\",job=\"j1\",outcome=\"failed\","
                      "table=\"public.t\"} 1"),
            std::string::npos)
      << text;
  // Until the job is named its run's series say job ""; then its name, and only that.
  EXPECT_NE(m.value()->text().find("backfill_running{command=\"copy\",job=\"\"} 1"),
            std::string::npos);
  m.value()->set_job("j1");
  m.value()->finish("ok", nullptr);
  const std::string written = slurp(file);
  EXPECT_EQ(written.find("job=\"\""), std::string::npos) << written;
  EXPECT_NE(written.find("backfill_running{command=\"copy\",job=\"j1\"} 0"), std::string::npos)
      << written;
  EXPECT_NE(written.find("backfill_rows_total"), std::string::npos) << written;
  EXPECT_NE(written.find("backfill_last_run_success{command=\"copy\",job=\"j1\"} 1"),
            std::string::npos)
      << written;
  // The temporary file was renamed over it: the directory holds the file alone.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path(), file);
    ++files;
  }
  EXPECT_EQ(files, 1);
  std::filesystem::remove_all(dir);
}

TEST(JobMetrics, AFileThatCannotBeWrittenIsInvalidBeforeTheJobStarts) {
  auto m = JobMetrics::start({"/nonexistent-dir/backfill.prom", ""}, "copy");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().kind(), ErrorKind::kInvalid);
}

TEST(JobMetrics, NoOptionsNoMetrics) {
  auto m = JobMetrics::start({}, "copy");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m.value(), nullptr);
}

TEST(Log, AJsonLineIsOneObjectWithItsEventAndFields) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  Log log(LogFormat::kJson, f);
  log.set_job("copy", "j1");
  log.warning("retry", "backfill: retrying \"x\"\n", {{"attempt", 2}});
  std::rewind(f);
  char buf[4096] = {};
  ASSERT_NE(std::fgets(buf, sizeof buf, f), nullptr);
  std::fclose(f);
  const Json line = Json::parse(buf);
  EXPECT_EQ(line["level"], "warning");
  EXPECT_EQ(line["event"], "retry");
  EXPECT_EQ(line["command"], "copy");
  EXPECT_EQ(line["job"], "j1");
  EXPECT_EQ(line["attempt"], 2);
  EXPECT_TRUE(line.contains("time"));
  EXPECT_TRUE(line.contains("message"));
}

}  // namespace
}  // namespace backfill::cli
