// A job's Prometheus metrics: `--metrics-file PATH` (the text exposition format for
// node_exporter's textfile collector, written through a temporary file and a rename every
// few seconds and at the end) and `--metrics-listen HOST:PORT` (`/metrics` over HTTP while
// the job runs). prometheus-cpp keeps the metrics, writes the format and serves them.
//
// Counters count this process's work (a new run starts them at zero, as Prometheus
// expects of a restarted process); gauges are read from each table's progress line and
// the job's throttle when the metrics are collected, so a scrape sees the job as it is.
// Every series is labelled command, job and table. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/jobs/log.hpp"
#include "engine/pipeline/observer.hpp"
#include "engine/util/status.hpp"

namespace backfill::cli {

struct MetricsOptions {
  std::string file;    // --metrics-file PATH; empty: none
  std::string listen;  // --metrics-listen [HOST:]PORT; empty: none. HOST defaults to 127.0.0.1
  bool enabled() const { return !file.empty() || !listen.empty(); }
};

// "9187" and ":9187" as "127.0.0.1:9187", "0.0.0.0:9187" as it is; kInvalid naming the
// option for anything that is no host and port.
Result<std::string> metrics_listen_address(const std::string& text);

class JobMetrics {
 public:
  // Checks the options and starts the listener and the file's writer: kInvalid when the
  // address cannot be listened on or the file's directory cannot be written, before the
  // job writes anything. Null when neither option is given.
  static Result<std::unique_ptr<JobMetrics>> start(const MetricsOptions& options,
                                                   const std::string& command);
  ~JobMetrics();

  // The observer of one table's pipeline in job `job`; the same one for the same pair.
  // Owned by this.
  JobObserver* observer(const std::string& job, const std::string& table);
  // The job this run is, once its name is known: the run's series (running, the last run's
  // end and success) name it.
  void set_job(const std::string& job);
  // Verify's verdict on a table, at the end of its pass.
  void differences(const std::string& job, const std::string& table, std::int64_t missing,
                   std::int64_t extra, std::int64_t different, std::int64_t chunks_mismatched);
  // The run ended with `outcome` ("ok", "differences", "failed", "interrupted"): the file
  // written a last time (a failure is a warning on `log`, stderr's text log if null) and
  // the listener stopped.
  void finish(const std::string& outcome, Log* log);
  // The metrics as Prometheus text, as a scrape sees them now.
  std::string text() const;

  class Impl;

 private:
  explicit JobMetrics(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;  // shared: the listener collects it through a weak_ptr
};

// ctx's metrics' observer of a table, or the no-op one without metrics.
JobObserver* observer_of(JobMetrics* metrics, const std::string& job, const std::string& table);

}  // namespace backfill::cli
