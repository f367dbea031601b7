// `backfill tune`'s grid, its trials' measurements, the recommendation, and what it writes
// (the terminal's table, CSV, JSON, an SVG plot and gnuplot's PNG). The pure parts (the
// grid, the order, the summary and the pick) are unit-tested; run_tune (cli/tune.cpp) runs
// the trials against the servers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/jobs/log.hpp"
#include "engine/jobs/report.hpp"
#include "engine/util/status.hpp"

namespace backfill::cli {

// What --grid asks for: --jobs values, and chunk sizes either as --chunk-time (ms, chunks
// sized toward it) or as fixed --chunk-rows; one of the two lists is empty.
struct TuneGrid {
  std::vector<std::int64_t> jobs;
  std::vector<std::int64_t> chunk_time_ms;
  std::vector<std::int64_t> chunk_rows;
};
// "jobs=1,2,4 chunk-time=250,500,1000" (one or several strings); kInvalid naming what is
// wrong. Defaults: jobs in powers of two up to twice the cores, chunk-time 250, 500, 1000.
Result<TuneGrid> parse_tune_grid(const std::vector<std::string>& specs);

// One point of the grid: chunk_time_ms or chunk_rows is 0.
struct TrialSetting {
  int jobs = 0;
  std::int64_t chunk_time_ms = 0;
  std::int64_t chunk_rows = 0;
  bool operator==(const TrialSetting&) const = default;
  // The size as the plot's x value: ms or rows.
  std::int64_t size() const { return chunk_time_ms > 0 ? chunk_time_ms : chunk_rows; }
};
// "--jobs 2 --chunk-time 500"
std::string setting_text(const TrialSetting& s);
// The trials in the order they run: the grid (jobs, then size) `rounds` times, every other
// round backwards.
std::vector<TrialSetting> tune_order(const TuneGrid& g, int rounds);

// A load signal over a trial, sampled at each chunk's end.
struct SignalStat {
  double mean = 0, max = 0, limit = 0;
  std::string unit;
};

struct TrialResult {
  int index = 0, round = 0;
  TrialSetting setting;
  std::int64_t rows = 0, bytes = 0, chunks = 0, retries = 0;
  double seconds = 0;        // the pipeline's time: first chunk planned to last one done
  double bytes_per_row = 0;  // the source's average, for MB/s where bytes are not counted
  double chunk_p50 = 0, chunk_p95 = 0;  // seconds
  double throttled_seconds = 0;
  std::int64_t chunk_rows_end = 0;            // the chunk size the trial ended with
  std::map<std::string, SignalStat> signals;  // by Reading::name(): "target active backends"
  double rows_per_second() const { return seconds > 0 ? static_cast<double>(rows) / seconds : 0; }
  double mb_per_second() const {
    const double b =
        bytes > 0 ? static_cast<double>(bytes) : bytes_per_row * static_cast<double>(rows);
    return seconds > 0 ? b / seconds / 1e6 : 0;
  }
};

// A setting over its rounds.
struct SettingSummary {
  TrialSetting setting;
  int trials = 0;
  double median_rows_per_second = 0, min_rows_per_second = 0, max_rows_per_second = 0;
  double median_mb_per_second = 0, chunk_p50 = 0, chunk_p95 = 0;
  double throttled_seconds = 0;
  std::int64_t retries = 0, chunk_rows = 0;
  bool within_limits = false;  // the throttle held it back for at most 10% of its time
};
// One summary a setting, in the grid's order (`order`'s first appearance of each).
std::vector<SettingSummary> summarize(const std::vector<TrialSetting>& order,
                                      const std::vector<TrialResult>& trials);
// The recommended setting: of those within the load limits, the lightest (fewest jobs, then
// smallest chunks) within 5% of the fastest median; nullopt when none is within the limits.
std::optional<std::size_t> recommend(const std::vector<SettingSummary>& settings);

struct TuneResult {
  std::string command;  // "copy" or "verify"
  std::string table;
  std::vector<TrialResult> trials;
  std::vector<SettingSummary> settings;
  std::optional<std::size_t> pick;
  std::string command_line, job_file;  // for the pick
};

Json trial_json(const TrialResult& t);
Json tune_json(const TuneResult& r);
// The table of settings and the recommendation, as the terminal shows them.
std::string tune_table_text(const TuneResult& r);
// "jobs,chunk_time_ms,...": a header and one line a trial.
std::string tune_csv(const TuneResult& r);
// The median throughput against chunk size, one polyline a --jobs value.
std::string tune_svg(const TuneResult& r);
// DIR/trials.csv, trials.json, throughput.svg, and throughput.png when gnuplot runs.
Status write_tune_files(const TuneResult& r, const std::string& dir, Log* log);

}  // namespace backfill::cli
