// tune's grid, order, summary, pick and plot, without a server.
#include <gtest/gtest.h>

#include <algorithm>

#include "cli/tune.hpp"

namespace backfill::cli {
namespace {

TEST(TuneGrid, ParsesJobsAndOneKindOfSizeAndDefaultsTheRest) {
  auto g = parse_tune_grid({"jobs=4,1,2,2 chunk-time=1000,250"});
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g.value().jobs, (std::vector<std::int64_t>{1, 2, 4}));
  EXPECT_EQ(g.value().chunk_time_ms, (std::vector<std::int64_t>{250, 1000}));
  EXPECT_TRUE(g.value().chunk_rows.empty());

  auto split = parse_tune_grid({"jobs=1", "chunk-rows=5000"});
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split.value().chunk_rows, (std::vector<std::int64_t>{5000}));

  auto d = parse_tune_grid({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value().chunk_time_ms, (std::vector<std::int64_t>{250, 500, 1000}));
  ASSERT_FALSE(d.value().jobs.empty());
  EXPECT_EQ(d.value().jobs.front(), 1);
}

TEST(TuneGrid, WhatIsWrongIsNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"jobs=0", "'0' is not a whole number from 1 to 64"},
      {"jobs=1,x", "'x' is not a whole number"},
      {"jobs=", "has no values"},
      {"chunk-time=100 chunk-rows=10", "give one"},
      {"width=3", "'width=3'"}};
  for (const auto& [spec, message] : cases) {
    auto g = parse_tune_grid({spec});
    ASSERT_FALSE(g.ok()) << spec;
    EXPECT_EQ(g.status().kind(), ErrorKind::kInvalid);
    EXPECT_NE(g.status().message().find("--grid"), std::string::npos) << g.status().message();
    EXPECT_NE(g.status().message().find(message), std::string::npos) << g.status().message();
  }
}

TEST(TuneOrder, EveryOtherRoundRunsTheGridBackwards) {
  TuneGrid g{{1, 2}, {250, 500}, {}};
  auto order = tune_order(g, 3);
  ASSERT_EQ(order.size(), 12u);
  const std::vector<TrialSetting> grid = {{1, 250, 0}, {1, 500, 0}, {2, 250, 0}, {2, 500, 0}};
  EXPECT_TRUE(std::equal(grid.begin(), grid.end(), order.begin()));
  EXPECT_TRUE(std::equal(grid.rbegin(), grid.rend(), order.begin() + 4));
  EXPECT_TRUE(std::equal(grid.begin(), grid.end(), order.begin() + 8));
}

TrialResult trial(TrialSetting s, std::int64_t rows, double seconds, double throttled = 0) {
  TrialResult t;
  t.setting = s;
  t.rows = rows;
  t.seconds = seconds;
  t.throttled_seconds = throttled;
  return t;
}

TEST(TuneRecommend, TheLightestSettingNearTheFastestWithinTheLimits) {
  const TrialSetting a{1, 250, 0}, b{2, 250, 0}, c{4, 250, 0};
  const std::vector<TrialSetting> order = {a, b, c};
  // b is 2% slower than c: as fast, and lighter. a is far slower.
  std::vector<TrialResult> trials = {trial(a, 50000, 1), trial(b, 98000, 1), trial(c, 100000, 1),
                                     trial(a, 52000, 1), trial(b, 98000, 1), trial(c, 100000, 1)};
  auto s = summarize(order, trials);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].trials, 2);
  EXPECT_DOUBLE_EQ(s[0].median_rows_per_second, 51000);
  EXPECT_DOUBLE_EQ(s[0].min_rows_per_second, 50000);
  EXPECT_DOUBLE_EQ(s[0].max_rows_per_second, 52000);
  EXPECT_EQ(recommend(s), std::optional<std::size_t>(1));

  // c throttled for half its time is out; with b throttled too, a is what is left.
  trials[2].throttled_seconds = trials[5].throttled_seconds = 0.5;
  s = summarize(order, trials);
  EXPECT_FALSE(s[2].within_limits);
  EXPECT_EQ(recommend(s), std::optional<std::size_t>(1));
  trials[1].throttled_seconds = trials[4].throttled_seconds = 0.5;
  EXPECT_EQ(recommend(summarize(order, trials)), std::optional<std::size_t>(0));
  trials[0].throttled_seconds = trials[3].throttled_seconds = 0.5;
  EXPECT_EQ(recommend(summarize(order, trials)), std::nullopt);
}

TEST(TunePlot, OneLineAJobsValueAndTheTableMarksThePick) {
  TuneResult r;
  r.command = "copy";
  r.table = "public.t";
  const std::vector<TrialSetting> order = {{1, 250, 0}, {1, 500, 0}, {2, 250, 0}, {2, 500, 0}};
  for (const auto& s : order) r.trials.push_back(trial(s, 1000 * s.jobs + s.chunk_time_ms, 1));
  r.settings = summarize(order, r.trials);
  r.pick = recommend(r.settings);
  r.command_line = "backfill copy --jobs 2 --chunk-time 500";
  r.job_file = "[copy]\njobs = 2\nchunk-time = 500\n";
  const std::string svg = tune_svg(r);
  std::size_t lines = 0;
  for (std::size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1))
    ++lines;
  EXPECT_EQ(lines, 2u);
  EXPECT_NE(svg.find("data-jobs=\"2\""), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  const std::string text = tune_table_text(r);
  EXPECT_NE(text.find("<- recommended"), std::string::npos) << text;
  EXPECT_NE(text.find("recommended: --jobs 2 --chunk-time 500"), std::string::npos) << text;
  EXPECT_NE(text.find("  chunk-time = 500"), std::string::npos) << text;
  const std::string csv = tune_csv(r);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 5);
}

}  // namespace
}  // namespace backfill::cli
