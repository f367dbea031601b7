#include "engine/jobs/update_job.hpp"

#include <algorithm>
#include <mutex>

#include "engine/pipeline/chunk_graph.hpp"

namespace backfill {
namespace {

constexpr int kPlanAheadPerJob = 4;

struct UpdateItem {
  Chunk chunk;
  Clock::time_point started;
  std::int64_t changed = 0;
  bool split = false;
  Status status;
};

}  // namespace

Result<UpdateJobStats> run_update_job(UpdatedTable& table, Ledger& ledger,
                                      const ChunkJobOptions& options) {
  const int jobs = std::max(1, options.jobs);
  std::vector<std::unique_ptr<ChunkUpdater>> updaters;
  for (int i = 0; i < jobs; ++i) {
    BACKFILL_ASSIGN_OR_RETURN(auto u, table.open_updater());
    updaters.push_back(std::move(u));
  }
  BACKFILL_ASSIGN_OR_RETURN(std::unique_ptr<KeyWalker> walker, table.open_walker());
  BACKFILL_ASSIGN_OR_RETURN(LedgerProgress before, ledger.progress());

  UpdateJobStats stats;
  std::mutex mu;  // guards stats (tally is serial; the printer reads)
  std::atomic<std::int64_t> retries{0}, splits{0};
  std::atomic<int> in_flight{0};
  std::atomic<bool> failing{false}, give_up{false};
  auto interrupted = [&] { return options.interrupt != nullptr && options.interrupt->load(); };
  auto on_retry = [&](const Status&) { ++retries; };

  // A timed-out chunk goes back as two halves, claimed again later (split_timed_out_chunk).
  auto split_on_timeout = [&](UpdateItem& w, const Status& st) {
    w.split = split_timed_out_chunk(
        st, w.chunk, [&] { return table.open_walker(); }, ledger, options.throttle);
    if (w.split) ++splits;
    return w.split;
  };
  IoPool<ChunkUpdater, UpdateItem> pool(std::move(updaters), [&](ChunkUpdater& u, UpdateItem& w) {
    w.status = run_with_retry(
        options.retry, &give_up,
        [&]() -> Status {
          auto n = u.update(w.chunk.range);
          if (!n.ok() && split_on_timeout(w, n.status())) return Status::ok();
          if (!n.ok()) return n.status();
          w.changed = n.value();
          return Status::ok();
        },
        [&] { return u.reset(); }, on_retry);
    if (w.status.is_ok() && !w.split) {
      w.status = run_with_retry(
          options.retry, &give_up,
          [&] { return ledger.complete(w.chunk, ChunkResult::of_rows(w.changed)); },
          [] { return Status::ok(); }, on_retry);
    }
  });

  const auto started = Clock::now();
  auto elapsed = [&] { return Seconds(Clock::now() - started).count(); };
  ProgressPrinter printer(options.progress, options.progress_out);
  LedgerProgress view = before;
  std::int64_t rows_done_before = before.rows_done;
  printer.start([&] {
    std::lock_guard lock(mu);
    ProgressSnapshot s;
    // Progress is in chunks of the key range: rows changed is not how far along it is.
    s.rows_this_run = stats.rows;
    s.rows = rows_done_before + stats.rows;
    s.chunks_done = before.chunks_done + stats.chunks;
    s.chunks_planned = view.chunks_planned;
    s.plan_done = view.plan_done;
    s.in_flight = in_flight.load();
    s.retries = retries.load();
    s.seconds = elapsed();
    s.state = interrupted() ? "stopping" : "updating";
    describe_throttle(options.throttle, &s);
    return s;
  });

  ChunkGraphHooks<UpdateItem> hooks;
  hooks.stop = [&] { return interrupted() || failing.load(); };
  hooks.tally = [&](UpdateItem& w) {
    {
      std::lock_guard lock(mu);
      if (!w.status.is_ok()) {
        fail_chunk(w.status, w.chunk, ledger, &stats.error, failing, give_up);
      } else if (!w.split) {
        ++stats.chunks;
        stats.rows += w.changed;
      }
    }
    if (options.throttle) {
      // The sizer steers the chunk's size in rows, not the rows it changed (a rerun
      // changes none); the current size stands in for the chunk's planned rows.
      const bool done = w.status.is_ok() && !w.split;
      options.throttle->finished(done ? options.throttle->chunk_rows() : 0,
                                 Clock::now() - w.started);
    }
  };
  hooks.on_retry = on_retry;
  hooks.on_progress = [&](const LedgerProgress& p) {
    std::lock_guard lock(mu);
    view = p;
  };
  Status claim_status = run_chunk_graph(pool, ledger, *walker, options, kPlanAheadPerJob * jobs,
                                        2 * jobs, in_flight, hooks);
  printer.stop();

  std::lock_guard lock(mu);
  if (!claim_status.is_ok() && stats.error.is_ok()) stats.error = claim_status;
  stats.retries = retries.load();
  stats.splits = splits.load();
  stats.seconds = elapsed();
  stats.outcome = settle_outcome(interrupted(), &stats.error);
  if (auto p = ledger.progress(); p.ok()) stats.ledger = p.value();
  (void)ledger.finish(stats.outcome, stats.error.message());
  return stats;
}

}  // namespace backfill
