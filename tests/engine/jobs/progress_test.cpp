#include "engine/jobs/progress.hpp"

#include <gtest/gtest.h>

namespace backfill {
namespace {

TEST(Progress, FormatsCountsAndDurations) {
  EXPECT_EQ(with_thousands(0), "0");
  EXPECT_EQ(with_thousands(999), "999");
  EXPECT_EQ(with_thousands(1234567), "1,234,567");
  EXPECT_EQ(with_thousands(-1000), "-1,000");
  EXPECT_EQ(format_duration(42), "42s");
  EXPECT_EQ(format_duration(185), "3m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  EXPECT_EQ(format_duration(-1), "?");
}

TEST(Progress, TheLineShowsPercentRowsRateAndEta) {
  ProgressSnapshot s;
  s.state = "copying";
  s.rows = 250000;
  s.rows_this_run = 200000;
  s.total_rows = 1000000;
  s.chunks_done = 5;
  s.chunks_planned = 8;
  s.in_flight = 4;
  s.seconds = 2;
  std::string line = progress_line(s);
  EXPECT_NE(line.find(" 25.0%"), std::string::npos) << line;
  EXPECT_NE(line.find("250,000/~1,000,000 rows"), std::string::npos) << line;
  EXPECT_NE(line.find("100,000 rows/s"), std::string::npos) << line;  // this run's rate
  EXPECT_NE(line.find("chunks 5/8+"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 8s"), std::string::npos) << line;  // 750,000 rows at 100,000/s
  EXPECT_EQ(line.find("retries"), std::string::npos);
}

TEST(Progress, ALowEstimateNeverShowsMoreThanAHundredPercent) {
  ProgressSnapshot s;
  s.state = "copying";
  s.rows = 1500;
  s.rows_this_run = 1500;
  s.total_rows = 1000;
  s.seconds = 1;
  std::string line = progress_line(s);
  EXPECT_NE(line.find("100.0%"), std::string::npos) << line;
  EXPECT_EQ(line.find("ETA"), std::string::npos) << line;
}

// Regression: the planned count is refreshed once a second and the done count live, which
// printed "chunks 17/16+".
TEST(Progress, NeverShowsMoreChunksDoneThanPlanned) {
  ProgressSnapshot s;
  s.state = "copying";
  s.chunks_done = 17;
  s.chunks_planned = 16;
  EXPECT_NE(progress_line(s).find("chunks 17/17+"), std::string::npos) << progress_line(s);
}

TEST(Progress, UnknownTotalsShowRowsWithoutPercentOrEta) {
  ProgressSnapshot s;
  s.state = "copying";
  s.rows = 10;
  s.rows_this_run = 10;
  s.seconds = 1;
  s.retries = 2;
  std::string line = progress_line(s);
  EXPECT_EQ(line.find('%'), std::string::npos) << line;
  EXPECT_EQ(line.find("ETA"), std::string::npos) << line;
  EXPECT_NE(line.find("retries 2"), std::string::npos) << line;
}

}  // namespace
}  // namespace backfill
