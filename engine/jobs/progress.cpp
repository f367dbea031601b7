#include "engine/jobs/progress.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace backfill {
namespace {
// Redrawing a terminal line 4 times a second looks live without costing anything.
constexpr std::chrono::milliseconds kBarInterval{250};
// A log line every 5 s shows a job is alive without flooding cron mail.
constexpr std::chrono::milliseconds kLogInterval{5000};
}  // namespace

std::string with_thousands(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%llds", s);
  }
  return buf;
}

namespace {
// The estimate, raised to what is done when it was low.
std::optional<std::int64_t> shown_total(const ProgressSnapshot& s) {
  std::optional<std::int64_t> total = s.total_rows;
  if (total && *total < s.rows) total = s.rows;
  return total;
}
}  // namespace

double progress_rate(const ProgressSnapshot& s) {
  return s.seconds > 0 ? static_cast<double>(s.rows_this_run) / s.seconds : 0;
}

std::optional<double> progress_eta(const ProgressSnapshot& s) {
  const std::optional<std::int64_t> total = shown_total(s);
  const double rate = progress_rate(s);
  if (!total || *total <= s.rows || rate <= 0) return std::nullopt;
  return static_cast<double>(*total - s.rows) / rate;
}

std::string progress_line(const ProgressSnapshot& s) {
  const double rate = progress_rate(s);
  std::string line = s.state + " ";
  const std::optional<std::int64_t> total = shown_total(s);
  if (total && *total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%5.1f%%",
                  100.0 * static_cast<double>(s.rows) / static_cast<double>(*total));
    line += pct;
    line += " " + with_thousands(s.rows) + "/~" + with_thousands(*total) + " rows";
  } else {
    line += with_thousands(s.rows) + " rows";
  }
  line += "  " + with_thousands(static_cast<std::int64_t>(rate)) + " rows/s";
  // The planned count is refreshed less often than the done count: never show fewer.
  line += "  chunks " + with_thousands(s.chunks_done) + "/" +
          with_thousands(std::max(s.chunks_planned, s.chunks_done)) + (s.plan_done ? "" : "+");
  line += "  in flight " + std::to_string(s.in_flight);
  if (const auto eta = progress_eta(s)) line += "  ETA " + format_duration(*eta);
  if (s.retries > 0) line += "  retries " + std::to_string(s.retries);
  if (s.chunk_rows > 0) line += "  chunk " + with_thousands(s.chunk_rows) + " rows";
  if (!s.tables.empty()) line += "  " + s.tables;
  if (!s.throttle.empty()) line += "  " + s.throttle;
  return line;
}

Json progress_fields(const ProgressSnapshot& s) {
  auto thousandths = [](double x) { return std::round(x * 1000) / 1000; };
  Json f = Json::object();
  f["state"] = s.state;
  f["rows"] = s.rows;
  f["rows_this_run"] = s.rows_this_run;
  const std::optional<std::int64_t> total = shown_total(s);
  f["rows_estimated"] = total ? Json(*total) : Json();
  f["rows_per_second"] = thousandths(progress_rate(s));
  const auto eta = progress_eta(s);
  f["eta_seconds"] = eta ? Json(thousandths(*eta)) : Json();
  f["chunks_done"] = s.chunks_done;
  f["chunks_planned"] = std::max(s.chunks_planned, s.chunks_done);
  f["plan_done"] = s.plan_done;
  f["in_flight"] = s.in_flight;
  f["retries"] = s.retries;
  f["seconds"] = thousandths(s.seconds);
  if (s.chunk_rows > 0) f["chunk_rows"] = s.chunk_rows;
  if (!s.tables.empty()) f["tables"] = s.tables;
  f["throttle"] = s.throttle.empty() ? Json() : Json(s.throttle);
  return f;
}

ProgressPrinter::ProgressPrinter(ProgressMode mode, std::FILE* out, Log* log)
    : mode_(mode), out_(out), log_(log) {
  if (log_ != nullptr && log_->json() && mode_ != ProgressMode::kNone) mode_ = ProgressMode::kLog;
  if (mode_ == ProgressMode::kAuto) {
    mode_ = isatty(fileno(out_)) ? ProgressMode::kBar : ProgressMode::kLog;
  }
  interval_ = mode_ == ProgressMode::kBar ? kBarInterval : kLogInterval;
}

ProgressPrinter::~ProgressPrinter() { stop(); }

void ProgressPrinter::start(std::function<ProgressSnapshot()> snapshot) {
  if (mode_ == ProgressMode::kNone || thread_.joinable()) return;
  snapshot_ = std::move(snapshot);
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void ProgressPrinter::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  print(snapshot_(), true);
}

void ProgressPrinter::run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    print(snapshot_(), false);
    lock.lock();
  }
}

void ProgressPrinter::print(const ProgressSnapshot& s, bool final) {
  std::string line = progress_line(s);
  if (mode_ == ProgressMode::kLog && log_ != nullptr) {
    if (s.throttle != last_throttle_) {
      log_->info("throttle",
                 "backfill: " + (s.throttle.empty() ? std::string("running free") : s.throttle),
                 {{"throttle", s.throttle.empty() ? Json() : Json(s.throttle)}});
      last_throttle_ = s.throttle;
    }
    log_->info(final ? "progress_end" : "progress", line, progress_fields(s));
    return;
  }
  if (mode_ == ProgressMode::kBar) {
    // \33[K clears what a longer previous line left behind.
    std::fprintf(out_, "\r%s\33[K%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

}  // namespace backfill
