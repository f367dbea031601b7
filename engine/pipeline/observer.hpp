// What a running job tells whoever watches it besides its log and progress line: each chunk
// as it ends, each retry, and the progress the line shows, readable at any moment (the
// Prometheus metrics of cli/metrics.hpp read it when scraped). NoObserver, the default of
// every job, does nothing.
//
// Implementations are thread-safe: chunk_finished() and retried() come from the workers'
// threads and the claim loop, and the `progress` given to attach() may be called from any
// thread until detach() (it takes the pipeline's lock, so not from inside a job's stage).
#pragma once

#include <cstdint>
#include <functional>

#include "engine/jobs/progress.hpp"
#include "engine/pipeline/retry.hpp"
#include "engine/throttle/throttle.hpp"

namespace backfill {

struct ChunkEvent {
  enum class Outcome { kDone, kFailed, kSplit, kSkipped };  // kSkipped: done by another run
  Outcome outcome = Outcome::kDone;
  std::int64_t rows = 0;
  std::int64_t bytes = 0;  // read from the source (copy), 0 when not counted
  double seconds = 0;
};

class JobObserver {
 public:
  virtual ~JobObserver() = default;
  // The job's pipeline started: `progress` reads its progress line, `throttle` its throttle.
  virtual void attach(std::function<ProgressSnapshot()> progress,
                      const ChunkThrottle* throttle) = 0;
  // The pipeline ended with `last`; neither reader given to attach() is called again.
  virtual void detach(const ProgressSnapshot& last) = 0;
  virtual void chunk_finished(const ChunkEvent& e) = 0;
  virtual void retried(const RetryEvent& e) = 0;
};

class NoObserver final : public JobObserver {
 public:
  static NoObserver& instance();  // stateless: one serves every job
  void attach(std::function<ProgressSnapshot()>, const ChunkThrottle*) override {}
  void detach(const ProgressSnapshot&) override {}
  void chunk_finished(const ChunkEvent&) override {}
  void retried(const RetryEvent&) override {}
};

inline NoObserver& NoObserver::instance() {
  static NoObserver o;
  return o;
}

}  // namespace backfill
