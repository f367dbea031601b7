#include "cli/metrics.hpp"

#include <unistd.h>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <type_traits>
#include <vector>

namespace backfill::cli {
namespace {

// node_exporter reads the textfile at each scrape (15 s to a minute apart, commonly): a file
// two seconds old is current.
constexpr std::chrono::seconds kFileInterval{2};
// Chunks are sized toward 250 ms to 1 s; the buckets resolve that range and show the tail
// that statement timeouts and lock waits make.
const prometheus::Histogram::BucketBoundaries kChunkSecondsBuckets = {
    0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 120};

const char* outcome_label(ChunkEvent::Outcome o) {
  switch (o) {
    case ChunkEvent::Outcome::kFailed:
      return "failed";
    case ChunkEvent::Outcome::kSplit:
      return "split";
    case ChunkEvent::Outcome::kSkipped:
      return "skipped";
    default:
      return "done";
  }
}

Status write_atomically(const std::string& path, const std::string& text) {
  // This process's own temporary name: two writers of one path never share it.
  const std::string tmp = path + "." + std::to_string(getpid()) + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    return Status::failed("--metrics-file " + path + ": cannot write " + tmp + ": " +
                          std::strerror(errno));
  }
  const bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::failed("--metrics-file " + path + ": cannot write: " + std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace

// Collects the registry after the gauges are read from the jobs as they are now.
class JobMetrics::Impl : public prometheus::Collectable {
 public:
  explicit Impl(std::string command)
      : command_(std::move(command)),
        registry_(std::make_shared<prometheus::Registry>()),
        rows_(family<prometheus::Counter>("backfill_rows_total",
                                          "Rows read and written (copy, update) or compared "
                                          "(verify) by this run")),
        bytes_(family<prometheus::Counter>("backfill_bytes_total",
                                           "Bytes of the source's rows read by this run (copy)")),
        chunks_(family<prometheus::Counter>(
            "backfill_chunks_total",
            "Chunks this run finished, by outcome: done, failed, split (timed out and halved), "
            "skipped (done by another run)")),
        retries_(
            family<prometheus::Counter>("backfill_retries_total", "Retries, by kind of failure")),
        throttled_(family<prometheus::Counter>(
            "backfill_throttled_seconds_total",
            "Seconds the job was throttled or paused, by the signal behind it")),
        chunk_seconds_(prometheus::BuildHistogram()
                           .Name("backfill_chunk_duration_seconds")
                           .Help("How long each chunk took, retries included")
                           .Register(*registry_)),
        job_rows_(gauge("backfill_job_rows", "Rows the job has done, earlier runs included")),
        job_rows_estimated_(
            gauge("backfill_job_rows_estimated", "Rows the job will do: the planner's estimate")),
        job_bytes_estimated_(gauge("backfill_job_bytes_estimated",
                                   "Bytes the job will read from the source: its estimated rows "
                                   "at the bytes a row this run has read (copy)")),
        job_chunks_(gauge("backfill_job_chunks", "Chunks the job has done, earlier runs included")),
        job_chunks_planned_(gauge("backfill_job_chunks_planned",
                                  "Chunks planned so far (all of them once planning is done)")),
        rate_(gauge("backfill_rows_per_second", "Rows a second, this run")),
        eta_(gauge("backfill_eta_seconds", "Seconds left at this run's rate (-1: unknown)")),
        in_flight_(gauge("backfill_chunks_in_flight", "Chunks running now")),
        chunk_rows_(gauge("backfill_chunk_rows", "Rows in the next chunk")),
        throttle_state_(gauge("backfill_throttle_state",
                              "1 for the throttle's state: running, throttled or paused")),
        limited_by_(gauge("backfill_throttle_limited",
                          "1 for the signal that throttles or pauses the job now")),
        signal_(gauge("backfill_load_signal", "The last reading of each load signal")),
        signal_limit_(gauge("backfill_load_signal_limit", "The limit of each load signal")),
        verify_rows_(gauge("backfill_verify_rows_differing",
                           "Rows that differ, by kind: missing, extra, different")),
        verify_chunks_(gauge("backfill_verify_chunks_mismatched", "Chunks whose checksums differ")),
        running_(gauge("backfill_running", "1 while the job runs, 0 once it ended")),
        ended_(gauge("backfill_last_run_end_timestamp_seconds",
                     "When the run ended, seconds since the epoch (0: running)")),
        success_(gauge("backfill_last_run_success",
                       "1 when the run ended ok (verify: the tables match), 0 otherwise")) {}

  // One table of one job, as its pipeline reports it.
  class Table final : public JobObserver {
   public:
    Table(Impl& m, const prometheus::Labels& labels) : m_(m), labels_(labels) {
      rows_ = &m.rows_.Add(labels);
      bytes_ = &m.bytes_.Add(labels);
      seconds_ = &m.chunk_seconds_.Add(labels, kChunkSecondsBuckets);
      for (const char* o : {"done", "failed", "split", "skipped"}) {
        prometheus::Labels l = labels;
        l["outcome"] = o;
        chunks_[o] = &m.chunks_.Add(l);
      }
    }
    void attach(std::function<ProgressSnapshot()> progress,
                const ChunkThrottle* throttle) override {
      std::lock_guard lock(m_.mu_);
      progress_ = std::move(progress);
      throttle_ = throttle;
      m_.throttle_of_[labels_.at("job")] = throttle;
    }
    void detach(const ProgressSnapshot& last) override {
      std::lock_guard lock(m_.mu_);
      last_ = last;
      progress_ = nullptr;
      if (throttle_ != nullptr) {
        m_.last_throttle_[labels_.at("job")] = throttle_->snapshot();
        auto& t = m_.throttle_of_[labels_.at("job")];
        if (t == throttle_) t = nullptr;
      }
      throttle_ = nullptr;
    }
    void chunk_finished(const ChunkEvent& e) override {
      chunks_.at(outcome_label(e.outcome))->Increment();
      rows_->Increment(static_cast<double>(e.rows));
      bytes_->Increment(static_cast<double>(e.bytes));
      seconds_->Observe(e.seconds);
    }
    void retried(const RetryEvent& e) override {
      prometheus::Labels l = labels_;
      l["kind"] = retry_kind(e);
      m_.retries_.Add(l).Increment();  // Add returns the series the labels already have
    }
    // mu_ held.
    std::optional<ProgressSnapshot> progress() const {
      if (progress_) return progress_();
      return last_;
    }
    const prometheus::Labels& labels() const { return labels_; }
    // The source's bytes a row this run has read; 0 before the first row or without bytes.
    double bytes_per_row() const {
      const double rows = rows_->Value();
      return rows > 0 ? bytes_->Value() / rows : 0;
    }

   private:
    Impl& m_;
    const prometheus::Labels labels_;
    prometheus::Counter *rows_, *bytes_;
    prometheus::Histogram* seconds_;
    std::map<std::string, prometheus::Counter*> chunks_;
    std::function<ProgressSnapshot()> progress_;
    const ChunkThrottle* throttle_ = nullptr;
    std::optional<ProgressSnapshot> last_;
  };

  JobObserver* observer(const std::string& job, const std::string& table) {
    std::lock_guard lock(mu_);
    auto& t = tables_[{job, table}];
    if (!t) {
      t = std::make_unique<Table>(
          *this, prometheus::Labels{{"command", command_}, {"job", job}, {"table", table}});
    }
    return t.get();
  }

  void differences(const std::string& job, const std::string& table, std::int64_t missing,
                   std::int64_t extra, std::int64_t different, std::int64_t chunks_mismatched) {
    std::lock_guard lock(mu_);
    const prometheus::Labels l{{"command", command_}, {"job", job}, {"table", table}};
    auto kind = [&](const char* k) {
      prometheus::Labels with = l;
      with["kind"] = k;
      return &verify_rows_.Add(with);
    };
    kind("missing")->Set(static_cast<double>(missing));
    kind("extra")->Set(static_cast<double>(extra));
    kind("different")->Set(static_cast<double>(different));
    verify_chunks_.Add(l).Set(static_cast<double>(chunks_mismatched));
  }

  void set_running() {
    std::lock_guard lock(mu_);
    publish_run(1, 0, std::nullopt);
  }
  void set_ended(const std::string& outcome) {
    std::lock_guard lock(mu_);
    publish_run(
        0,
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(),
        outcome == "ok" ? 1.0 : 0.0);
  }
  // The run's series name its job once it is known: two jobs' textfiles on one host must not
  // hold the same series (node_exporter refuses the pair). Until then, job "".
  void set_job(const std::string& job) {
    std::lock_guard lock(mu_);
    if (job == job_) return;
    const prometheus::Labels old = run_labels();
    for (auto* f : {&running_, &ended_, &success_}) {
      if (f->Has(old)) f->Remove(&f->Add(old));
    }
    job_ = job;
    publish_run(run_.running, run_.ended, run_.success);
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::lock_guard lock(mu_);
    const_cast<Impl*>(this)->refresh();
    return registry_->Collect();
  }

  std::string text() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, Collect());
    return out.str();
  }

 private:
  template <typename T>
  prometheus::Family<T>& family(const std::string& name, const std::string& help) {
    if constexpr (std::is_same_v<T, prometheus::Counter>) {
      return prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
    } else {
      return prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
    }
  }
  prometheus::Family<prometheus::Gauge>& gauge(const std::string& name, const std::string& help) {
    return family<prometheus::Gauge>(name, help);
  }
  // The run's series (running, the last run's end and success) are labelled command and job.
  prometheus::Labels run_labels() const { return {{"command", command_}, {"job", job_}}; }
  // mu_ held.
  void publish_run(double running, double ended, std::optional<double> success) {
    run_ = {running, ended, success};
    running_.Add(run_labels()).Set(running);
    ended_.Add(run_labels()).Set(ended);
    if (success) success_.Add(run_labels()).Set(*success);
  }

  // mu_ held: every gauge read from the tables and throttles as they are now.
  void refresh() {
    for (const auto& [key, t] : tables_) {
      const std::optional<ProgressSnapshot> s = t->progress();
      if (!s) continue;
      const auto& l = t->labels();
      job_rows_.Add(l).Set(static_cast<double>(s->rows));
      if (s->total_rows) {
        const double total = static_cast<double>(std::max(*s->total_rows, s->rows));
        job_rows_estimated_.Add(l).Set(total);
        if (const double per_row = t->bytes_per_row(); per_row > 0) {
          job_bytes_estimated_.Add(l).Set(total * per_row);
        }
      }
      job_chunks_.Add(l).Set(static_cast<double>(s->chunks_done));
      job_chunks_planned_.Add(l).Set(
          static_cast<double>(std::max(s->chunks_planned, s->chunks_done)));
      rate_.Add(l).Set(progress_rate(*s));
      const auto eta = progress_eta(*s);
      eta_.Add(l).Set(eta ? *eta : (s->total_rows && s->rows >= *s->total_rows ? 0 : -1));
      in_flight_.Add(l).Set(s->in_flight);
      if (s->chunk_rows > 0) chunk_rows_.Add(l).Set(static_cast<double>(s->chunk_rows));
    }
    for (const auto& [job, throttle] : throttle_of_) {
      const ThrottleSnapshot t = throttle ? throttle->snapshot() : last_throttle_[job];
      publish_throttle(job, t);
    }
  }

  // mu_ held.
  void publish_throttle(const std::string& job, const ThrottleSnapshot& t) {
    const prometheus::Labels l{{"command", command_}, {"job", job}};
    auto with = [&](const char* name, const std::string& value) {
      prometheus::Labels x = l;
      x[name] = value;
      return x;
    };
    for (ThrottleState s :
         {ThrottleState::kRunning, ThrottleState::kThrottled, ThrottleState::kPaused}) {
      throttle_state_.Add(with("state", throttle_state_name(s))).Set(s == t.state ? 1 : 0);
    }
    auto& seen = limited_seen_[job];
    if (!t.limiting.empty()) seen.insert(t.limiting);
    for (const std::string& signal : seen) {
      limited_by_.Add(with("signal", signal))
          .Set(t.state != ThrottleState::kRunning && signal == t.limiting ? 1 : 0);
    }
    auto& counted = throttled_counted_[job];
    for (const auto& [reason, secs] : t.seconds_by_reason) {
      double& before = counted[reason];
      if (secs > before) {
        throttled_.Add(with("reason", reason)).Increment(secs - before);
        before = secs;
      }
    }
    for (const Reading& r : t.readings) {
      prometheus::Labels x = l;
      x["where"] = r.where.empty() ? "local" : r.where;
      x["signal"] = r.signal;
      if (r.value) signal_.Add(x).Set(*r.value);
      if (r.limit != kNoLimit) signal_limit_.Add(x).Set(r.limit);
    }
  }

  const std::string command_;
  std::string job_;  // the run's job, once known (set_job)
  struct {
    double running = 0, ended = 0;
    std::optional<double> success;
  } run_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>&rows_, &bytes_, &chunks_, &retries_, &throttled_;
  prometheus::Family<prometheus::Histogram>& chunk_seconds_;
  prometheus::Family<prometheus::Gauge>&job_rows_, &job_rows_estimated_, &job_bytes_estimated_,
      &job_chunks_, &job_chunks_planned_, &rate_, &eta_, &in_flight_, &chunk_rows_,
      &throttle_state_, &limited_by_, &signal_, &signal_limit_, &verify_rows_, &verify_chunks_,
      &running_, &ended_, &success_;

  mutable std::mutex mu_;  // the tables, the throttles, and the gauges' refresh
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Table>> tables_;
  std::map<std::string, const ChunkThrottle*> throttle_of_;  // by job; null once detached
  std::map<std::string, ThrottleSnapshot> last_throttle_;    // by job, at its detach
  std::map<std::string, std::set<std::string>> limited_seen_;
  std::map<std::string, std::map<std::string, double>> throttled_counted_;

 public:
  // The file's writer and the listener.
  std::string file;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::thread writer;
  std::mutex writer_mu;
  std::condition_variable writer_cv;
  bool stopping = false;
};

Result<std::string> metrics_listen_address(const std::string& text) {
  static const std::regex kPort("^:?([0-9]{1,5})$");
  static const std::regex kHostPort("^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):([0-9]{1,5})$");
  std::smatch m;
  std::string host = "127.0.0.1", port;
  if (std::regex_match(text, m, kPort)) {
    port = m[1];
  } else if (std::regex_match(text, m, kHostPort)) {
    host = m[1];
    port = m[2];
  } else {
    return Status::invalid("--metrics-listen '" + text +
                           "': give PORT or HOST:PORT (for example 127.0.0.1:9187)");
  }
  const int p = std::stoi(port);
  if (p < 1 || p > 65535) {
    return Status::invalid("--metrics-listen '" + text + "': port " + port + " is not 1-65535");
  }
  return host + ":" + port;
}

JobMetrics::JobMetrics(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<JobMetrics>> JobMetrics::start(const MetricsOptions& options,
                                                      const std::string& command) {
  if (!options.enabled()) return std::unique_ptr<JobMetrics>();
  auto shared = std::make_shared<Impl>(command);
  shared->set_running();
  // The listener first: a file written before a failed bind would say a job runs forever.
  if (!options.listen.empty()) {
    BACKFILL_ASSIGN_OR_RETURN(std::string address, metrics_listen_address(options.listen));
    try {
      shared->exposer = std::make_unique<prometheus::Exposer>(address, 2);
    } catch (const std::exception& e) {
      return Status::invalid("--metrics-listen " + address + ": cannot listen: " + e.what());
    }
  }
  if (!options.file.empty()) {
    // Written once now: a directory that cannot take it is bad input, before any row moves.
    if (Status st = write_atomically(options.file, shared->text()); !st.is_ok()) {
      return Status::invalid(st.message());
    }
    shared->file = options.file;
  }
  if (shared->exposer) shared->exposer->RegisterCollectable(shared);
  Impl* impl = shared.get();
  if (!impl->file.empty()) {
    impl->writer = std::thread([impl] {
      std::unique_lock lock(impl->writer_mu);
      while (!impl->writer_cv.wait_for(lock, kFileInterval, [impl] { return impl->stopping; })) {
        lock.unlock();
        (void)write_atomically(impl->file, impl->text());  // the next write tries again
        lock.lock();
      }
    });
  }
  return std::unique_ptr<JobMetrics>(new JobMetrics(std::move(shared)));
}

JobMetrics::~JobMetrics() { finish("failed", nullptr); }

JobObserver* JobMetrics::observer(const std::string& job, const std::string& table) {
  return impl_->observer(job, table);
}

void JobMetrics::set_job(const std::string& job) { impl_->set_job(job); }

void JobMetrics::differences(const std::string& job, const std::string& table, std::int64_t missing,
                             std::int64_t extra, std::int64_t different,
                             std::int64_t chunks_mismatched) {
  impl_->differences(job, table, missing, extra, different, chunks_mismatched);
}

void JobMetrics::finish(const std::string& outcome, Log* log) {
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.writer_mu);
    if (m.stopping) return;  // finished already
    m.stopping = true;
  }
  m.writer_cv.notify_all();
  if (m.writer.joinable()) m.writer.join();
  m.set_ended(outcome);
  // The endpoint is gone with the job: a scrape after this finds nothing listening.
  m.exposer.reset();
  if (!m.file.empty()) {
    if (Status st = write_atomically(m.file, m.text()); !st.is_ok()) {
      (log ? log : &Log::standard())->warning("warning", "backfill: warning: " + st.message());
    }
  }
}

std::string JobMetrics::text() const { return impl_->text(); }

JobObserver* observer_of(JobMetrics* metrics, const std::string& job, const std::string& table) {
  return metrics ? metrics->observer(job, table) : &NoObserver::instance();
}

}  // namespace backfill::cli
