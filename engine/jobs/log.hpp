// The job's log: one line per event (a job starting, a retry, a throttle change, a chunk
// compared again, the summary, the error that ended it), as text for a terminal and cron
// mail, or as one JSON object a line for a log shipper (`--log-format json`):
//
//   {"time":"2026-12-03T12:00:01.250Z","level":"info","command":"copy","job":"copy:a:b",
//    "event":"retry","message":"retrying in 0.2 s ...","attempt":1,...}
//
// Thread-safe: each line is written whole under a lock. Does not own `out`.
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/jobs/report.hpp"

namespace backfill {

enum class LogFormat { kText, kJson };
enum class LogLevel { kInfo, kWarning, kError };

class Log {
 public:
  explicit Log(LogFormat format = LogFormat::kText, std::FILE* out = stderr);
  // The text log on stderr: the default of every job that is given none. Text lines name no
  // job, so one instance serves every job.
  static Log& standard();

  // The command and job every JSON line names, once they are known (text lines name none).
  void set_job(const std::string& command, const std::string& job);
  // One event. `text` is the line the text format prints (and JSON's "message"); `fields`,
  // an object, adds the event's values to its JSON line. On a terminal the text line first
  // clears the progress bar that owns the current line; the bar is drawn again below it.
  void write(LogLevel level, std::string_view event, const std::string& text,
             const Json& fields = Json::object());
  void info(std::string_view event, const std::string& text, const Json& fields = Json::object()) {
    write(LogLevel::kInfo, event, text, fields);
  }
  void warning(std::string_view event, const std::string& text,
               const Json& fields = Json::object()) {
    write(LogLevel::kWarning, event, text, fields);
  }
  void error(std::string_view event, const std::string& text, const Json& fields = Json::object()) {
    write(LogLevel::kError, event, text, fields);
  }

  bool json() const { return format_ == LogFormat::kJson; }
  std::FILE* out() const { return out_; }

 private:
  LogFormat format_;
  std::FILE* out_;
  bool terminal_;
  std::mutex mu_;
  std::string command_, job_;
};

// "--log-format": "text" or "json"; kInvalid naming the option otherwise.
Result<LogFormat> parse_log_format(const std::string& text);
// printf's formatting into a string, for a log line's text (GCC 12 has no std::format).
std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));
// "2026-12-03T12:00:01.250Z": now, in UTC, to the millisecond.
std::string utc_timestamp();

}  // namespace backfill
