// The one chunk pipeline every job runs on: copy, verify (both methods) and update (--set and
// --map) supply their stages and nothing else.
//
//   claim (this thread, serial; throttled; one chunk ahead of the workers)
//     -> run (a worker's own thread and connections: the job's read, CPU stage and write)
//     -> commit (serial: the job's tallies, the throttle's feedback, the token back)
//
// The pipeline owns what every job shares: the bound on chunks in flight (tokens), the
// claim loop and its planner, retries and their count, a chunk that times out split in two,
// the first error across threads (which stops claiming and retrying), the progress line,
// and the epilogue (the outcome settled, the ledger told how the run ended). A worker is the
// job's per-connection resource (copy's lane, verify's comparer, update's updater); the
// pipeline gives each one thread and hands it one chunk at a time. Not copyable; one run
// per call of run_pipeline().
#pragma once

#include <oneapi/tbb/concurrent_queue.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "engine/jobs/progress.hpp"
#include "engine/ledger/ledger.hpp"
#include "engine/pipeline/claim_loop.hpp"
#include "engine/pipeline/first_error.hpp"
#include "engine/pipeline/job_options.hpp"

namespace backfill {

// What a chunk came to on its worker; the job's commit reads it.
struct ChunkRun {
  Status status;          // an error that failed the chunk for good
  bool split = false;     // timed out, and went back to the ledger as two halves
  bool done = false;      // finished and recorded by this run
  std::int64_t rows = 0;  // rows of the chunk this run handled, when done
  // The job's own count, for its commit: rows inserted or updated (copy), rows still
  // differing after recheck and repair (verify).
  std::int64_t tally = 0;
  std::int64_t throttle_rows = 0;  // what the throttle's chunk sizer learns from (0: nothing)
  std::int64_t bytes = 0;          // read for it (copy), for the metrics; 0: not counted
};

// What a stage uses while it runs a chunk on its worker's thread. Thread-safe.
class ChunkContext {
 public:
  ChunkContext(const ChunkJobOptions& options, Ledger& ledger,
               std::function<Result<std::unique_ptr<KeyWalker>>()> open_walker, FirstError& errors,
               std::atomic<std::int64_t>& retries, std::atomic<std::int64_t>& splits)
      : options_(options),
        ledger_(ledger),
        open_walker_(std::move(open_walker)),
        errors_(errors),
        retries_(retries),
        splits_(splits) {}

  // attempt() until it succeeds, fails for good or the job fails elsewhere, with reset()
  // between attempts; each retry counted and logged.
  Status retry(const std::function<Status()>& attempt, const std::function<Status()>& reset) const {
    return retry_logged(options_, errors_.flag(), retries_, attempt, reset);
  }
  // A chunk whose statement timed out goes back to the ledger as two halves, and the
  // throttle halves the chunk size; false when `st` is no timeout or it cannot be split.
  bool split(const Status& st, const Chunk& chunk) const {
    if (!split_timed_out_chunk(st, chunk, open_walker_, ledger_, *options_.throttle)) return false;
    ++splits_;
    return true;
  }
  // The chunk recorded done with its result, retried like any transient failure.
  Status complete(const Chunk& chunk, const ChunkResult& result) const {
    return retry([&] { return ledger_.complete(chunk, result); }, [] { return Status::ok(); });
  }
  bool interrupted() const { return options_.interrupt != nullptr && options_.interrupt->load(); }
  const ChunkJobOptions& options() const { return options_; }

 private:
  const ChunkJobOptions& options_;
  Ledger& ledger_;
  std::function<Result<std::unique_ptr<KeyWalker>>()> open_walker_;
  FirstError& errors_;
  std::atomic<std::int64_t>& retries_;
  std::atomic<std::int64_t>& splits_;
};

// A job's stages.
template <typename Worker>
struct Stages {
  // On the worker's thread: the chunk's read, CPU work and write, to its end.
  std::function<ChunkRun(Worker&, const Chunk&, const ChunkContext&)> run;
  // Serially after each chunk, whatever it came to: the job's own tallies. Runs under the
  // lock that state() also runs under.
  std::function<void(const Chunk&, const ChunkRun&)> commit = [](const Chunk&, const ChunkRun&) {};
  // The job's word on the progress line ("copying"); under the same lock.
  std::function<std::string()> state;
  // Asked before each claim, besides an interrupt and a failure (verify's --max-time).
  std::function<bool()> stop = [] { return false; };
};

struct PipelineSetup {
  // Opens a walker of the key: one for the planner, and one per split of a timed-out chunk.
  std::function<Result<std::unique_ptr<KeyWalker>>()> open_walker;
  // Chunks planned per visit to the planner, per worker: enough that claims rarely plan, few
  // enough that one worker's plan does not run far ahead of the data.
  int plan_ahead_per_worker = 4;
  std::optional<std::int64_t> estimated_rows;  // for the progress line's percent and ETA
  // The progress line counts the chunks and rows earlier runs finished (copy, update: how
  // far the job is), or only this run's (verify: how far this pass is).
  bool count_earlier_runs = true;
};

using PipelineRun = RunStats;

// One worker per connection set, `n` of them, all opened before the first claim: a failure
// here leaves the ledger untouched.
template <typename Worker, typename Open>
Result<std::vector<std::unique_ptr<Worker>>> open_workers(int n, const Open& open) {
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < std::max(1, n); ++i) {
    BACKFILL_ASSIGN_OR_RETURN(std::unique_ptr<Worker> w, open());
    workers.push_back(std::move(w));
  }
  return workers;
}

// Runs the job to its end with one thread per worker. `epilogue` runs after the last chunk
// and before the ledger is told how the run ended (verify reads its verdict there); an error
// it sets fails the run.
template <typename Worker>
Result<PipelineRun> run_pipeline(std::vector<std::unique_ptr<Worker>>& workers, Ledger& ledger,
                                 const ChunkJobOptions& given, const PipelineSetup& setup,
                                 const Stages<Worker>& stages,
                                 const std::function<void(PipelineRun&)>& epilogue = {}) {
  std::atomic<int> own_waiting{0};
  ChunkJobOptions options = given;
  if (options.waiting_on_server == nullptr) options.waiting_on_server = &own_waiting;
  BACKFILL_ASSIGN_OR_RETURN(std::unique_ptr<KeyWalker> walker, setup.open_walker());
  // The ledger's totals feed the progress line only: without one (each table of a set, whose
  // line is the set's), they are not read.
  const bool shown = options.progress != ProgressMode::kNone;
  LedgerProgress before;
  if (shown && setup.count_earlier_runs) {
    BACKFILL_ASSIGN_OR_RETURN(before, ledger.progress());
  }

  FirstError errors;
  std::atomic<std::int64_t> retries{0}, splits{0};
  std::atomic<int> in_flight{0};
  std::mutex mu;  // serialises commits; guards `run` and the ledger's view for the printer
  PipelineRun run;
  LedgerProgress view = before;
  const ChunkContext context(options, ledger, setup.open_walker, errors, retries, splits);
  auto interrupted = [&] { return context.interrupted(); };

  // One chunk claimed ahead of the workers, so that none waits for the ledger (or the
  // planner it runs) between two chunks.
  const int max_in_flight = static_cast<int>(workers.size()) + 1;
  std::counting_semaphore<> tokens(max_in_flight);
  oneapi::tbb::concurrent_bounded_queue<std::optional<Chunk>> claimed;

  auto run_chunk = [&](Worker& worker, const Chunk& chunk) {
    const auto started = options.clock->now();
    ChunkRun r = stages.run(worker, chunk, context);
    {
      std::lock_guard lock(mu);
      if (!r.status.is_ok()) {
        errors.set(r.status.with_context("chunk " + std::to_string(chunk.id)));
        (void)ledger.release(chunk);  // taken first by the next run
      } else if (r.done) {
        run.rows += r.rows;
        ++run.chunks;
      }
      stages.commit(chunk, r);
    }
    const Seconds took = options.clock->now() - started;
    options.throttle->finished(r.status.is_ok() ? r.throttle_rows : 0, chunk.charged_rows, took);
    ChunkEvent event;
    event.outcome = !r.status.is_ok() ? ChunkEvent::Outcome::kFailed
                    : r.split         ? ChunkEvent::Outcome::kSplit
                    : r.done          ? ChunkEvent::Outcome::kDone
                                      : ChunkEvent::Outcome::kSkipped;
    event.rows = r.done ? r.rows : 0;
    event.bytes = r.done ? r.bytes : 0;
    event.seconds = took.count();
    options.observer->chunk_finished(event);
    --in_flight;
    tokens.release();
  };
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&, worker = w.get()] {
      std::optional<Chunk> c;
      while (true) {
        claimed.pop(c);
        if (!c) return;
        run_chunk(*worker, *c);
      }
    });
  }

  const auto started = options.clock->now();
  auto elapsed = [&] { return Seconds(options.clock->now() - started).count(); };
  ProgressPrinter printer(options.progress, options.progress_out, options.log);
  const std::function<ProgressSnapshot()> snapshot = [&] {
    std::lock_guard lock(mu);
    ProgressSnapshot s;
    s.rows_this_run = run.rows;
    s.rows = before.rows_done + run.rows;
    s.total_rows = setup.estimated_rows;
    s.chunks_done = before.chunks_done + run.chunks;
    s.chunks_planned = view.chunks_planned;
    s.plan_done = view.plan_done;
    s.in_flight = in_flight.load();
    s.retries = retries.load();
    s.seconds = elapsed();
    s.state = interrupted() ? "stopping" : errors.failed() ? "failing" : stages.state();
    describe_throttle(*options.throttle, options.waiting_on_server->load(), &s);
    return s;
  };
  printer.start(snapshot);
  options.observer->attach(snapshot, options.throttle);

  std::function<void(const LedgerProgress&)> on_progress;
  if (shown) {
    on_progress = [&](const LedgerProgress& p) {
      std::lock_guard lock(mu);
      view = p;
    };
  }
  ClaimLoop loop{ledger,
                 *walker,
                 options.chunk_rows,
                 setup.plan_ahead_per_worker * static_cast<int>(workers.size()),
                 options.retry,
                 options.interrupt,
                 tokens,
                 *options.throttle,
                 *options.clock,
                 options.waiting_on_server};
  // A throttle paused because its probe cannot reach a server holds the claim loop where no
  // retry runs (nothing may be in flight): past --retry-for, that ends the run as a chunk's
  // retries would.
  // Asked from inside the throttle's admit(), under its lock: only its lock-free view.
  auto server_gone = [&] {
    const auto since = options.throttle->unreachable_since();
    if (!since || std::chrono::steady_clock::now() - *since < options.retry.retry_for) {
      return false;
    }
    errors.set(Status::transient(
        "the server was unreachable for longer than --retry-for (the throttle's probes could "
        "not reach it)",
        "08006"));
    return true;
  };
  Status claim_status =
      loop.run([&] { return interrupted() || errors.failed() || stages.stop() || server_gone(); },
               [&](Chunk c) {
                 ++in_flight;
                 claimed.push(std::move(c));
               },
               [&](const RetryEvent& e) {
                 ++retries;
                 log_retry(options.log, e, options.retry);
                 options.observer->retried(e);
               },
               on_progress);
  if (!claim_status.is_ok()) errors.set(claim_status);
  // Every claimed chunk ends on a worker; then each worker takes its end marker.
  for (std::size_t i = 0; i < threads.size(); ++i) claimed.push(std::nullopt);
  for (auto& t : threads) t.join();
  printer.stop();
  options.observer->detach(snapshot());

  run.error = errors.get();
  run.retries = retries.load();
  run.splits = splits.load();
  run.seconds = elapsed();
  run.outcome = settle_outcome(interrupted(), &run.error);
  // The job's totals (the report's job_done) and the ledger told how the run ended: retried
  // like a chunk (a session terminated at the last moment), and even when interrupted.
  // Found by Chaos.ACopy…: a lost session here made a finished job report job_done false.
  auto at_the_end = [&](const std::function<Status()>& attempt) {
    return retry_logged(options, nullptr, run.retries, attempt);
  };
  (void)at_the_end([&]() -> Status {
    BACKFILL_ASSIGN_OR_RETURN(run.ledger, ledger.progress());
    return Status::ok();
  });
  if (epilogue) epilogue(run);
  if (Status st = at_the_end([&] { return ledger.finish(run.outcome, run.error.message()); });
      !st.is_ok() && run.error.is_ok()) {
    run.outcome = JobOutcome::kFailed;
    run.error = st.with_context("recording the end of the job");
  }
  return run;
}

}  // namespace backfill
