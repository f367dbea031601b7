// Progress: what a running job shows while it works.
//
// On a terminal, one line redrawn in place (percent, rows, rows/s, ETA); without one, a log
// line every few seconds, so cron mail and CI logs show a job is alive. The printer runs
// on its own thread and pulls a snapshot from the job through a callback, so the job's hot
// path only bumps counters. start()/stop() are called by one thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "engine/jobs/log.hpp"

namespace backfill {

enum class ProgressMode { kAuto, kBar, kLog, kNone };

struct ProgressSnapshot {
  std::int64_t rows = 0;  // rows copied, this run and earlier ones
  std::int64_t rows_this_run = 0;
  std::optional<std::int64_t> total_rows;  // estimate
  std::int64_t chunks_done = 0;
  std::int64_t chunks_planned = 0;
  bool plan_done = false;
  int in_flight = 0;
  std::int64_t retries = 0;
  double seconds = 0;           // this run
  std::string state;            // "copying", "stopping", ...
  std::int64_t chunk_rows = 0;  // the current chunk size, when it adapts (0: not shown)
  std::string throttle;         // "throttled: <why>" or "paused: <why>"; empty when running free
  std::string tables;           // a set of tables: "tables 3/16 done, in flight: a, b"
};

// "1,234,567"
std::string with_thousands(std::int64_t n);
// "1h02m", "3m05s", "42s"
std::string format_duration(double seconds);
// The one line of progress, for the bar and the log alike.
std::string progress_line(const ProgressSnapshot& s);
// The same as the fields of a JSON log's "progress" event.
Json progress_fields(const ProgressSnapshot& s);
// Rows a second this run, and the seconds left at that rate (nullopt: unknown).
double progress_rate(const ProgressSnapshot& s);
std::optional<double> progress_eta(const ProgressSnapshot& s);

class ProgressPrinter {
 public:
  // kAuto picks the bar when `out` is a terminal, the log otherwise. With a `log` (not
  // owned), a log line is a "progress" event of it, a JSON log (--log-format json) never
  // draws a bar, and a change of the throttle's word is a "throttle" event.
  ProgressPrinter(ProgressMode mode, std::FILE* out, Log* log = nullptr);
  ~ProgressPrinter();
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  void start(std::function<ProgressSnapshot()> snapshot);
  // Prints a last line and stops the thread.
  void stop();

 private:
  void run();
  void print(const ProgressSnapshot& s, bool final);

  ProgressMode mode_;
  std::FILE* out_;
  Log* log_;
  std::string last_throttle_;  // the throttle's word at the last line
  std::chrono::milliseconds interval_;
  std::function<ProgressSnapshot()> snapshot_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace backfill
