#include "engine/copy_job.hpp"

#include "engine/claim_loop.hpp"
#include "engine/io_pool.hpp"

#include <oneapi/tbb/flow_graph.h>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

namespace backfill {
namespace {

namespace flow = oneapi::tbb::flow;

// How many chunks to plan per visit to the planner: enough that claims rarely plan, few
// enough that a plan made by one worker does not run far ahead of the data.
constexpr int kPlanAheadPerJob = 4;

struct WorkItem {
  Chunk chunk;
  Clock::time_point started;
  CopyBatch batch;
  std::int64_t rows = 0;  // rows of the chunk, counted by the transform stage
  Status status;
  WriteResult written;
  bool split = false;  // timed out and went back to the ledger as two halves
};
using Work = std::shared_ptr<WorkItem>;
using Gateway = flow::async_node<Work, Work>::gateway_type;
template <typename Resource>
using Pool = IoPool<Resource, WorkItem>;

}  // namespace

Result<CopyJobStats> run_copy_job(Source& source, Sink& sink, Ledger& ledger,
                                  const Transform& transform, const CopyJobOptions& options) {
  const int jobs = std::max(1, options.jobs);
  const int max_in_flight = options.max_in_flight > 0 ? options.max_in_flight : 2 * jobs;

  // Open every connection before the first claim: a failure here leaves the ledger untouched.
  std::vector<std::unique_ptr<ChunkReader>> readers;
  std::vector<std::unique_ptr<ChunkWriter>> writers;
  for (int i = 0; i < jobs; ++i) {
    BACKFILL_ASSIGN_OR_RETURN(auto r, source.open_reader());
    readers.push_back(std::move(r));
    BACKFILL_ASSIGN_OR_RETURN(auto w, sink.open_writer());
    writers.push_back(std::move(w));
  }
  BACKFILL_ASSIGN_OR_RETURN(std::unique_ptr<KeyWalker> walker, source.open_walker());
  BACKFILL_ASSIGN_OR_RETURN(LedgerProgress before, ledger.progress());

  CopyJobStats stats;
  std::atomic<std::int64_t> rows{0}, rows_written{0}, chunks{0}, retries{0}, splits{0};
  std::atomic<int> in_flight{0};
  std::atomic<bool> failing{false};
  std::mutex error_mu;
  Status first_error;
  auto fail = [&](const Status& st) {
    std::lock_guard lock(error_mu);
    if (first_error.is_ok()) first_error = st;
    failing = true;
  };
  const std::atomic<bool>* interrupt = options.interrupt;
  auto interrupted = [&] { return interrupt != nullptr && interrupt->load(); };
  // Retries stop early on an interrupt or when another chunk already failed the job.
  std::atomic<bool> give_up{false};

  auto on_retry = [&](const Status&) { ++retries; };
  // A timed-out chunk goes back as two halves, claimed again later (split_timed_out_chunk).
  auto split_on_timeout = [&](WorkItem& w, const Status& st) {
    w.split = split_timed_out_chunk(
        st, w.chunk, [&] { return source.open_walker(); }, ledger, options.throttle);
    if (w.split) ++splits;
    return w.split;
  };
  Pool<ChunkReader> read_pool(std::move(readers), [&](ChunkReader& r, WorkItem& w) {
    w.status = run_with_retry(
        options.retry, &give_up,
        [&]() -> Status {
          auto batch = r.read(w.chunk.range);
          if (!batch.ok() && split_on_timeout(w, batch.status())) return Status::ok();
          if (!batch.ok()) return batch.status();
          w.batch = std::move(batch).value();
          return Status::ok();
        },
        [&] { return r.reset(); }, on_retry);
  });
  Pool<ChunkWriter> write_pool(std::move(writers), [&](ChunkWriter& wr, WorkItem& w) {
    if (!w.status.is_ok() || w.split) return;
    w.status = run_with_retry(
        options.retry, &give_up,
        [&]() -> Status {
          auto res = wr.write(w.chunk, w.batch);
          if (!res.ok() && split_on_timeout(w, res.status())) return Status::ok();
          if (!res.ok()) return res.status();
          w.written = res.value();
          return Status::ok();
        },
        [&] { return wr.reset(); }, on_retry);
    if (w.status.is_ok() && !w.split && !w.written.ledger_recorded && !w.written.already_done) {
      w.status = run_with_retry(
          options.retry, &give_up,
          [&] { return ledger.complete(w.chunk, ChunkResult::of_rows(w.rows)); },
          [] { return Status::ok(); }, on_retry);
    }
    w.batch = CopyBatch{};  // the bytes are written; give the memory back now
  });

  std::counting_semaphore<> tokens(max_in_flight);
  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };

  ProgressPrinter printer(options.progress, options.progress_out);
  std::mutex ledger_view_mu;
  LedgerProgress ledger_view = before;  // refreshed by the claim loop, read by the printer
  std::optional<std::int64_t> estimate = source.estimated_rows();
  printer.start([&] {
    ProgressSnapshot s;
    {
      std::lock_guard lock(ledger_view_mu);
      s.chunks_planned = ledger_view.chunks_planned;
      s.plan_done = ledger_view.plan_done;
    }
    s.rows_this_run = rows.load();
    s.rows = before.rows_done + s.rows_this_run;
    s.total_rows = estimate;
    s.chunks_done = before.chunks_done + chunks.load();
    s.in_flight = in_flight.load();
    s.retries = retries.load();
    s.seconds = elapsed();
    s.state = interrupted() ? "stopping" : (failing.load() ? "failing" : "copying");
    describe_throttle(options.throttle, &s);
    return s;
  });

  // The graph lives in an arena of its own, sized to the cores, so its CPU stage gets every
  // core while this thread blocks on claims and tokens.
  const int cores = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  // oneTBB keeps one core for the thread that starts it; ours blocks instead, so allow a
  // worker for every core.
  oneapi::tbb::global_control workers(oneapi::tbb::global_control::max_allowed_parallelism,
                                      static_cast<std::size_t>(cores) + 1);
  oneapi::tbb::task_arena arena(cores, 0);
  std::unique_ptr<flow::graph> g;
  std::unique_ptr<flow::async_node<Work, Work>> read_node, write_node;
  std::unique_ptr<flow::function_node<Work, Work>> transform_node;
  std::unique_ptr<flow::function_node<Work, flow::continue_msg>> commit_node;
  arena.execute([&] {
    g = std::make_unique<flow::graph>();
    read_node = std::make_unique<flow::async_node<Work, Work>>(*g, flow::unlimited,
                                                               [&](const Work& w, Gateway& gw) {
                                                                 gw.reserve_wait();
                                                                 read_pool.submit(w, &gw);
                                                               });
    transform_node =
        std::make_unique<flow::function_node<Work, Work>>(*g, flow::unlimited, [&](Work w) {
          if (w->status.is_ok() && !w->split) {
            auto out = transform.apply(std::move(w->batch));
            if (out.ok()) {
              w->batch = std::move(out).value();
              w->rows = w->batch.rows;
            } else {
              w->status = out.status().with_context("chunk " + std::to_string(w->chunk.id));
            }
          }
          return w;
        });
    write_node = std::make_unique<flow::async_node<Work, Work>>(*g, flow::unlimited,
                                                                [&](const Work& w, Gateway& gw) {
                                                                  gw.reserve_wait();
                                                                  write_pool.submit(w, &gw);
                                                                });
    commit_node = std::make_unique<flow::function_node<Work, flow::continue_msg>>(
        *g, flow::serial, [&](const Work& w) {
          if (w->status.is_ok()) {
            if (!w->written.already_done && !w->split) {
              rows += w->rows;
              rows_written += w->written.rows_written;
              ++chunks;
            }
          } else {
            fail(w->status.with_context("chunk " + std::to_string(w->chunk.id)));
            give_up = true;
            // Give the chunk back so the next run starts with it; if even that fails the
            // lease runs out and the chunk is claimable again later.
            (void)ledger.release(w->chunk);
          }
          if (options.throttle) {
            options.throttle->finished(w->status.is_ok() ? w->rows : 0, Clock::now() - w->started);
          }
          --in_flight;
          tokens.release();
          return flow::continue_msg{};
        });
    flow::make_edge(*read_node, *transform_node);
    flow::make_edge(*transform_node, *write_node);
    flow::make_edge(*write_node, *commit_node);
  });

  ClaimLoop loop{ledger,    *walker, options.chunk_rows, kPlanAheadPerJob * jobs, options.retry,
                 interrupt, tokens,  options.throttle};
  Status claim_status = loop.run([&] { return interrupted() || failing.load(); },
                                 [&](Chunk c) {
                                   auto w = std::make_shared<WorkItem>();
                                   w->chunk = std::move(c);
                                   w->started = Clock::now();
                                   ++in_flight;
                                   arena.execute([&] { read_node->try_put(w); });
                                 },
                                 on_retry,
                                 [&](const LedgerProgress& p) {
                                   std::lock_guard lock(ledger_view_mu);
                                   ledger_view = p;
                                 });
  if (!claim_status.is_ok()) fail(claim_status);
  arena.execute([&] { g->wait_for_all(); });
  read_pool.shutdown();
  write_pool.shutdown();

  stats.rows = rows.load();
  stats.rows_written = rows_written.load();
  stats.chunks = chunks.load();
  stats.retries = retries.load();
  stats.splits = splits.load();
  stats.seconds = elapsed();
  {
    std::lock_guard lock(error_mu);
    stats.error = first_error;
  }
  stats.outcome = settle_outcome(interrupted(), &stats.error);
  if (auto p = ledger.progress(); p.ok()) {
    std::lock_guard lock(ledger_view_mu);
    ledger_view = p.value();
    stats.ledger = p.value();
  }
  printer.stop();
  if (Status st = ledger.finish(stats.outcome, stats.error.message());
      !st.is_ok() && stats.error.is_ok()) {
    stats.outcome = JobOutcome::kFailed;
    stats.error = st.with_context("recording the end of the job");
  }
  return stats;
}

}  // namespace backfill
