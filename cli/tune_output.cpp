// What tune writes: the terminal's table, CSV, JSON, the SVG plot and gnuplot's PNG.
//
// The SVG is written here: a few polylines, circles and labels need no library, and no
// plotting library is in Debian's C++ set; the PNG is gnuplot's, where it is installed.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "cli/tune.hpp"
#include "engine/jobs/progress.hpp"
#include "engine/throttle/throttle.hpp"

namespace backfill::cli {

namespace {

// A signal over a trial: the largest of the readings whose name holds `part`, on any server.
std::optional<double> signal_max(const std::map<std::string, SignalStat>& signals,
                                 const std::string& part, bool mean = false) {
  std::optional<double> out;
  for (const auto& [name, s] : signals) {
    if (name.find(part) == std::string::npos) continue;
    const double v = mean ? s.mean : s.max;
    out = out ? std::max(*out, v) : v;
  }
  return out;
}

// The largest over a setting's trials.
std::optional<double> setting_signal(const TuneResult& r, const TrialSetting& s,
                                     const std::string& part, bool mean = false) {
  std::optional<double> out;
  for (const auto& t : r.trials) {
    if (!(t.setting == s)) continue;
    if (auto v = signal_max(t.signals, part, mean)) out = out ? std::max(*out, *v) : *v;
  }
  return out;
}

std::string size_header(const TuneResult& r) {
  return !r.settings.empty() && r.settings.front().setting.chunk_rows > 0 ? "chunk rows"
                                                                          : "chunk time";
}

std::string size_text(const TrialSetting& s) {
  return s.chunk_time_ms > 0 ? std::to_string(s.chunk_time_ms) + " ms"
                             : with_thousands(s.chunk_rows);
}

std::string opt_text(std::optional<double> v, const char* format) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, format, *v);
  return buf;
}

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;  // no control character in XML
    }
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// gnuplot's single-quoted string: a quote is doubled, and a control character (a newline
// would end the command, and the next line would run) becomes a space.
std::string gnuplot_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "''";
    } else {
      out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
    }
  }
  return out + "'";
}

// Whether `name` is an executable on PATH.
bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  std::size_t at = 0;
  while (at <= dirs.size()) {
    const std::size_t colon = std::min(dirs.find(':', at), dirs.size());
    const std::string dir = dirs.substr(at, colon - at);
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
    at = colon + 1;
  }
  return false;
}

std::vector<int> jobs_values(const TuneResult& r) {
  std::set<int> jobs;
  for (const auto& s : r.settings) jobs.insert(s.setting.jobs);
  return {jobs.begin(), jobs.end()};
}

std::vector<std::int64_t> size_values(const TuneResult& r) {
  std::set<std::int64_t> sizes;
  for (const auto& s : r.settings) sizes.insert(s.setting.size());
  return {sizes.begin(), sizes.end()};
}

}  // namespace

std::string setting_text(const TrialSetting& s) {
  return "--jobs " + std::to_string(s.jobs) +
         (s.chunk_time_ms > 0 ? " --chunk-time " + std::to_string(s.chunk_time_ms)
                              : " --chunk-rows " + std::to_string(s.chunk_rows));
}

Json trial_json(const TrialResult& t) {
  Json signals = Json::object();
  for (const auto& [name, s] : t.signals) {
    signals[name] = {{"mean", s.mean},
                     {"max", s.max},
                     {"limit", s.limit == kNoLimit ? Json(nullptr) : Json(s.limit)}};
  }
  return {{"trial", t.index},
          {"round", t.round},
          {"jobs", t.setting.jobs},
          {"chunk_time_ms", t.setting.chunk_time_ms > 0 ? Json(t.setting.chunk_time_ms) : nullptr},
          {"chunk_rows", t.setting.chunk_rows > 0 ? Json(t.setting.chunk_rows) : nullptr},
          {"rows", t.rows},
          {"chunks", t.chunks},
          {"seconds", t.seconds},
          {"rows_per_second", t.rows_per_second()},
          {"mb_per_second", t.mb_per_second()},
          {"chunk_p50_seconds", t.chunk_p50},
          {"chunk_p95_seconds", t.chunk_p95},
          {"retries", t.retries},
          {"throttled_seconds", t.throttled_seconds},
          {"chunk_rows_end", t.chunk_rows_end},
          {"signals", std::move(signals)}};
}

Json tune_json(const TuneResult& r) {
  Json trials = Json::array();
  for (const auto& t : r.trials) trials.push_back(trial_json(t));
  Json settings = Json::array();
  for (const auto& s : r.settings) {
    settings.push_back(
        {{"jobs", s.setting.jobs},
         {"chunk_time_ms", s.setting.chunk_time_ms > 0 ? Json(s.setting.chunk_time_ms) : nullptr},
         {"chunk_rows", s.setting.chunk_rows > 0 ? Json(s.setting.chunk_rows) : nullptr},
         {"trials", s.trials},
         {"median_rows_per_second", s.median_rows_per_second},
         {"min_rows_per_second", s.min_rows_per_second},
         {"max_rows_per_second", s.max_rows_per_second},
         {"median_mb_per_second", s.median_mb_per_second},
         {"chunk_p50_seconds", s.chunk_p50},
         {"chunk_p95_seconds", s.chunk_p95},
         {"retries", s.retries},
         {"throttled_seconds", s.throttled_seconds},
         {"within_limits", s.within_limits}});
  }
  Json pick = nullptr;
  if (r.pick) {
    const SettingSummary& s = r.settings[*r.pick];
    pick = {
        {"jobs", s.setting.jobs},
        {"chunk_time_ms", s.setting.chunk_time_ms > 0 ? Json(s.setting.chunk_time_ms) : nullptr},
        {"chunk_rows", s.setting.chunk_rows > 0 ? Json(s.setting.chunk_rows) : nullptr},
        {"rows_per_second", s.median_rows_per_second},
        {"command_line", r.command_line},
        {"job_file", r.job_file}};
  }
  return {{"command", r.command},
          {"table", r.table},
          {"trials", std::move(trials)},
          {"settings", std::move(settings)},
          {"recommendation", std::move(pick)}};
}

std::string tune_table_text(const TuneResult& r) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-5s %-11s %14s %15s %7s %10s %10s %7s %10s %7s %9s %8s\n",
                "jobs", size_header(r).c_str(), "rows/s median", "min-max", "MB/s", "chunk p50",
                "chunk p95", "retries", "throttled", "active", "WAL MB/s", "latency");
  out += line;
  for (std::size_t i = 0; i < r.settings.size(); ++i) {
    const SettingSummary& s = r.settings[i];
    const std::string range = with_thousands(static_cast<std::int64_t>(s.min_rows_per_second)) +
                              "-" +
                              with_thousands(static_cast<std::int64_t>(s.max_rows_per_second));
    std::snprintf(line, sizeof line,
                  "%-5d %-11s %14s %15s %7.1f %8.0f ms %8.0f ms %7lld %8.1f s %7s %9s %8s%s\n",
                  s.setting.jobs, size_text(s.setting).c_str(),
                  with_thousands(static_cast<std::int64_t>(s.median_rows_per_second)).c_str(),
                  range.c_str(), s.median_mb_per_second, s.chunk_p50 * 1000, s.chunk_p95 * 1000,
                  static_cast<long long>(s.retries), s.throttled_seconds,
                  opt_text(setting_signal(r, s.setting, "active backends"), "%.1f").c_str(),
                  opt_text(setting_signal(r, s.setting, "WAL rate", true), "%.1f").c_str(),
                  opt_text(setting_signal(r, s.setting, "latency"), "%.1fx").c_str(),
                  r.pick && *r.pick == i ? "  <- recommended"
                  : s.within_limits      ? ""
                                         : "  (throttled)");
    out += line;
  }
  out +=
      "active: the most backends running a statement on either server; WAL MB/s: the "
      "target's mean; latency: the worst probe round trip against the one before the trial\n";
  if (r.pick) {
    const SettingSummary& s = r.settings[*r.pick];
    out += "\nrecommended: " + setting_text(s.setting) + " (" +
           with_thousands(static_cast<std::int64_t>(s.median_rows_per_second)) +
           " rows/s, the median of " + std::to_string(s.trials) +
           (s.trials == 1 ? " trial" : " trials") +
           "; the lightest setting within 5% of the fastest, within the load limits)\n";
    out += "  " + r.command_line + "\n";
    out += "or in a job file (--config):\n";
    std::string section = r.job_file;
    std::size_t at = 0;
    while (at < section.size()) {
      const std::size_t nl = section.find('\n', at);
      out += "  " + section.substr(at, nl - at) + "\n";
      at = nl == std::string::npos ? section.size() : nl + 1;
    }
  } else {
    out +=
        "\nno recommendation: the throttle held back every setting for more than 10% of "
        "its time; the servers' load, not these settings, bounds the speed (see "
        "`throttled` and the load columns)\n";
  }
  return out;
}

std::string tune_csv(const TuneResult& r) {
  std::string out =
      "trial,round,jobs,chunk_time_ms,chunk_rows,rows,chunks,seconds,rows_per_second,"
      "mb_per_second,chunk_p50_seconds,chunk_p95_seconds,retries,throttled_seconds,"
      "chunk_rows_end,active_backends_max,wal_mb_per_second_mean,latency_factor_max\n";
  char line[512];
  for (const auto& t : r.trials) {
    auto sig = [&](const char* part, bool mean) {
      auto v = signal_max(t.signals, part, mean);
      return v ? opt_text(v, "%.3f") : std::string();
    };
    std::snprintf(
        line, sizeof line, "%d,%d,%d,%s,%s,%lld,%lld,%.3f,%.1f,%.3f,%.4f,%.4f,%lld,%.3f,%lld,",
        t.index, t.round, t.setting.jobs,
        t.setting.chunk_time_ms > 0 ? std::to_string(t.setting.chunk_time_ms).c_str() : "",
        t.setting.chunk_rows > 0 ? std::to_string(t.setting.chunk_rows).c_str() : "",
        static_cast<long long>(t.rows), static_cast<long long>(t.chunks), t.seconds,
        t.rows_per_second(), t.mb_per_second(), t.chunk_p50, t.chunk_p95,
        static_cast<long long>(t.retries), t.throttled_seconds,
        static_cast<long long>(t.chunk_rows_end));
    out += line;
    out += csv_field(sig("active backends", false)) + "," + csv_field(sig("WAL rate", true)) + "," +
           csv_field(sig("latency", false)) + "\n";
  }
  return out;
}

std::string tune_svg(const TuneResult& r) {
  constexpr double kWidth = 720, kHeight = 440, kLeft = 90, kRight = 150, kTop = 40, kBottom = 60;
  static const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  const std::vector<std::int64_t> sizes = size_values(r);
  const std::vector<int> jobs = jobs_values(r);
  double top = 0;
  for (const auto& s : r.settings) top = std::max(top, s.max_rows_per_second);
  // At most five grid steps of a round size (1, 2, 2.5 or 5 times a power of ten) up to
  // just above the fastest trial.
  const double want = top > 0 ? top * 1.05 : 1;
  const double magnitude = std::pow(10.0, std::floor(std::log10(want / 5)));
  double step = 10 * magnitude;
  for (double m : {1.0, 2.0, 2.5, 5.0}) {
    if (m * magnitude * 5 >= want) {
      step = m * magnitude;
      break;
    }
  }
  const int steps = static_cast<int>(std::ceil(want / step));
  top = steps * step;
  const double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  // Sizes evenly spaced in the order they grow (they are usually doublings).
  auto x_of = [&](std::int64_t size) {
    const auto i = std::find(sizes.begin(), sizes.end(), size) - sizes.begin();
    return sizes.size() < 2
               ? kLeft + plot_w / 2
               : kLeft + plot_w * static_cast<double>(i) / static_cast<double>(sizes.size() - 1);
  };
  auto y_of = [&](double v) { return kTop + plot_h * (1 - v / top); };
  char buf[512];
  std::string out;
  std::snprintf(buf, sizeof buf,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
                kWidth, kHeight, kWidth, kHeight);
  out += buf;
  out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out += "<text x=\"" + std::to_string(static_cast<int>(kLeft)) + "\" y=\"24\" font-size=\"14\">" +
         xml_escape("backfill tune " + r.command + " " + r.table +
                    ": rows/s (median of the rounds) by chunk size") +
         "</text>\n";
  // Axes, grid lines and labels.
  std::snprintf(buf, sizeof buf,
                "<g stroke=\"black\"><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/></g>\n",
                kLeft, kTop, kLeft, kTop + plot_h, kLeft, kTop + plot_h, kLeft + plot_w,
                kTop + plot_h);
  out += buf;
  for (int i = 0; i <= steps; ++i) {
    const double v = step * i, y = y_of(v);
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                  kLeft, y, kLeft + plot_w, y, kLeft - 6, y + 4,
                  with_thousands(static_cast<std::int64_t>(v)).c_str());
    out += buf;
  }
  const bool by_time = !r.settings.empty() && r.settings.front().setting.chunk_time_ms > 0;
  for (std::int64_t s : sizes) {
    std::snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                  x_of(s), kTop + plot_h + 18,
                  (by_time ? std::to_string(s) : with_thousands(s)).c_str());
    out += buf;
  }
  std::snprintf(buf, sizeof buf,
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n"
                "<text x=\"18\" y=\"%.1f\" text-anchor=\"middle\" transform=\"rotate(-90 18 "
                "%.1f)\">rows/s</text>\n",
                kLeft + plot_w / 2, kHeight - 18, by_time ? "--chunk-time (ms)" : "--chunk-rows",
                kTop + plot_h / 2, kTop + plot_h / 2);
  out += buf;
  // One line a --jobs value, its points at the medians, with a legend.
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    const char* colour = kColours[j % (sizeof kColours / sizeof *kColours)];
    std::string points, dots;
    for (const auto& s : r.settings) {
      if (s.setting.jobs != jobs[j]) continue;
      std::snprintf(buf, sizeof buf, "%s%.1f,%.1f", points.empty() ? "" : " ",
                    x_of(s.setting.size()), y_of(s.median_rows_per_second));
      points += buf;
      std::snprintf(buf, sizeof buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n",
                    x_of(s.setting.size()), y_of(s.median_rows_per_second), colour);
      dots += buf;
    }
    out += "<polyline class=\"jobs\" data-jobs=\"" + std::to_string(jobs[j]) +
           "\" fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\" points=\"" + points +
           "\"/>\n" + dots;
    const double ly = kTop + 10 + 20 * static_cast<double>(j);
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\">--jobs %d</text>\n",
                  kLeft + plot_w + 16, ly, kLeft + plot_w + 40, ly, colour, kLeft + plot_w + 46,
                  ly + 4, jobs[j]);
    out += buf;
  }
  out += "</svg>\n";
  return out;
}

Status write_tune_files(const TuneResult& r, const std::string& dir, Log* log) {
  const std::filesystem::path d(dir);
  BACKFILL_RETURN_IF_ERROR(write_report((d / "trials.csv").string(), tune_csv(r)));
  BACKFILL_RETURN_IF_ERROR(
      write_report((d / "trials.json").string(), json_text(tune_json(r)) + "\n"));
  BACKFILL_RETURN_IF_ERROR(write_report((d / "throughput.svg").string(), tune_svg(r)));
  // gnuplot draws the PNG from the same medians, where it is installed.
  std::string data = "# size";
  const std::vector<int> jobs = jobs_values(r);
  for (int j : jobs) data += " jobs" + std::to_string(j);
  data += "\n";
  for (std::int64_t size : size_values(r)) {
    data += std::to_string(size);
    for (int j : jobs) {
      std::string v = " NaN";
      for (const auto& s : r.settings) {
        if (s.setting.jobs == j && s.setting.size() == size)
          v = " " + std::to_string(s.median_rows_per_second);
      }
      data += v;
    }
    data += "\n";
  }
  const std::string dat = (d / "throughput.dat").string();
  BACKFILL_RETURN_IF_ERROR(write_report(dat, data));
  const bool by_time = !r.settings.empty() && r.settings.front().setting.chunk_time_ms > 0;
  std::string script = "set terminal pngcairo size 720,440\nset output " +
                       gnuplot_quote((d / "throughput.png").string()) + "\nset title " +
                       gnuplot_quote("backfill tune " + r.command + " " + r.table) +
                       "\nset xlabel " +
                       gnuplot_quote(by_time ? "--chunk-time (ms)" : "--chunk-rows") +
                       "\nset ylabel 'rows/s'\nset yrange [0:*]\nset key outside\nplot ";
  for (std::size_t j = 0; j < jobs.size(); ++j) {
    script += (j ? ", " : "") + gnuplot_quote(dat) + " using 1:" + std::to_string(j + 2) +
              " with linespoints title '--jobs " + std::to_string(jobs[j]) + "'";
  }
  script += "\n";
  bool drawn = false;
  if (on_path("gnuplot")) {
    // A gnuplot that dies early must not take tune with it through SIGPIPE.
    void (*was)(int) = std::signal(SIGPIPE, SIG_IGN);
    if (std::FILE* gp = popen("gnuplot 2>/dev/null", "w"); gp != nullptr) {
      std::fputs(script.c_str(), gp);
      drawn = pclose(gp) == 0;
    }
    std::signal(SIGPIPE, was);
  }
  std::error_code ec;
  std::filesystem::remove(dat, ec);
  if (!drawn) {
    log->info("plot", "no PNG: gnuplot is not installed or failed; " +
                          (d / "throughput.svg").string() + " has the plot");
  }
  log->info("out", "wrote " + (d / "trials.csv").string() + ", trials.json and throughput.svg" +
                       (drawn ? " and .png" : ""));
  return Status::ok();
}

}  // namespace backfill::cli
