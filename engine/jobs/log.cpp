#include "engine/jobs/log.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <ctime>

namespace backfill {

Log::Log(LogFormat format, std::FILE* out)
    : format_(format), out_(out), terminal_(out != nullptr && isatty(fileno(out))) {}

Log& Log::standard() {
  static Log log(LogFormat::kText, stderr);
  return log;
}

void Log::set_job(const std::string& command, const std::string& job) {
  std::lock_guard lock(mu_);
  command_ = command;
  job_ = job;
}

namespace {
const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
    default:
      return "info";
  }
}
}  // namespace

void Log::write(LogLevel level, std::string_view event, const std::string& text,
                const Json& fields) {
  if (out_ == nullptr) return;
  std::lock_guard lock(mu_);
  if (format_ == LogFormat::kJson) {
    Json line = Json::object();
    line["time"] = utc_timestamp();
    line["level"] = level_name(level);
    if (!command_.empty()) line["command"] = command_;
    if (!job_.empty()) line["job"] = job_;
    line["event"] = std::string(event);
    line["message"] = text;
    if (fields.is_object()) {
      for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
    }
    // One line: no indent; a byte that is not UTF-8 replaced rather than the line lost.
    std::string s = line.dump(-1, ' ', false, Json::error_handler_t::replace);
    std::fprintf(out_, "%s\n", s.c_str());
  } else {
    std::fprintf(out_, "%s%s\n", terminal_ ? "\r\x1b[K" : "", text.c_str());
  }
  std::fflush(out_);
}

Result<LogFormat> parse_log_format(const std::string& text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return Status::invalid("--log-format: '" + text + "' is not text or json");
}

std::string utc_timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

std::string strprintf(const char* format, ...) {
  std::va_list args;
  va_start(args, format);
  std::va_list again;
  va_copy(again, args);
  const int n = std::vsnprintf(nullptr, 0, format, args);
  va_end(args);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, format, again);
  va_end(again);
  return out;
}

}  // namespace backfill
