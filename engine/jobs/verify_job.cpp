#include "engine/jobs/verify_job.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include "engine/pipeline/chunk_graph.hpp"

namespace backfill {
namespace {

// Comparisons are cheap to plan ahead; a few per comparer keep them all busy.
constexpr int kPlanAheadPerJob = 4;

struct VerifyItem {
  Chunk chunk;
  Clock::time_point started;
  ChunkComparison result;
  std::int64_t differences = 0;  // still differing after recheck and repair
  bool may_split = true;         // only its first comparison: later ones keep the chunk
  bool split = false;            // timed out and went back to the ledger as two halves
  Status status;
};

}  // namespace

Result<VerifyStats> run_verify_job(ComparedTables& tables, Ledger& ledger,
                                   const VerifyJobOptions& options) {
  const int jobs = std::max(1, options.jobs);
  std::vector<std::unique_ptr<ChunkComparer>> comparers;
  for (int i = 0; i < jobs; ++i) {
    BACKFILL_ASSIGN_OR_RETURN(auto c, tables.open_comparer());
    comparers.push_back(std::move(c));
  }
  BACKFILL_ASSIGN_OR_RETURN(std::unique_ptr<KeyWalker> walker, tables.open_walker());

  VerifyStats stats;
  std::int64_t differences_this_run = 0;  // for the progress line; guarded by mu
  std::mutex mu;  // guards stats and first_error (tally runs serially; the printer reads)
  std::atomic<std::int64_t> retries{0};
  std::atomic<int> in_flight{0};
  std::atomic<bool> failing{false}, give_up{false}, stats_out_of_time{false};
  auto interrupted = [&] { return options.interrupt != nullptr && options.interrupt->load(); };
  auto on_retry = [&](const Status&) { ++retries; };
  // The recheck delay is the feature (in-flight dual writes land meanwhile), so it is a
  // timed wait; an interrupt cuts it short and skips the recheck.
  std::mutex out_mu;
  auto wait_for_recheck = [&](const VerifyItem& w) {
    {
      std::lock_guard lock(out_mu);
      std::fprintf(options.progress_out, "chunk %lld: %zu differences; comparing again in %.1f s\n",
                   static_cast<long long>(w.chunk.id), w.result.differences.size(),
                   std::chrono::duration<double>(options.recheck).count());
      std::fflush(options.progress_out);
    }
    auto until = std::chrono::steady_clock::now() + options.recheck;
    while (std::chrono::steady_clock::now() < until) {
      if (interrupted()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  };

  // A chunk whose comparison timed out goes back to the ledger as two halves (the first
  // comparison only: a recheck compares the chunk it already has).
  auto split_on_timeout = [&](VerifyItem& w, const Status& st) {
    w.split = w.may_split &&
              split_timed_out_chunk(
                  st, w.chunk, [&] { return tables.open_walker(); }, ledger, options.throttle);
    return w.split;
  };
  auto compare = [&](ChunkComparer& c, VerifyItem& w) {
    return run_with_retry(
        options.retry, &give_up,
        [&]() -> Status {
          auto r = c.compare(w.chunk.range);
          if (!r.ok() && split_on_timeout(w, r.status())) return Status::ok();
          if (!r.ok()) return r.status();
          w.result = std::move(r).value();
          return Status::ok();
        },
        [&] { return c.reset(); }, on_retry);
  };
  IoPool<ChunkComparer, VerifyItem> pool(std::move(comparers), [&](ChunkComparer& c,
                                                                   VerifyItem& w) {
    w.status = compare(c, w);
    if (w.split) return;
    w.may_split = false;
    if (w.status.is_ok() && !w.result.differences.empty() && options.recheck.count() > 0 &&
        wait_for_recheck(w)) {
      std::vector<RowDifference> first = std::move(w.result.differences);
      w.status = compare(c, w);
      std::erase_if(w.result.differences, [&](const RowDifference& d) {
        return std::find(first.begin(), first.end(), d) == first.end();
      });
    }
    if (w.status.is_ok() && !w.result.differences.empty() && options.repair) {
      std::vector<RowDifference> found = std::move(w.result.differences);
      w.status = run_with_retry(
          options.retry, &give_up, [&] { return c.repair(found); }, [&] { return c.reset(); },
          on_retry);
      // Compared again: what still differs (a concurrent writer) is reported as such.
      if (w.status.is_ok()) w.status = compare(c, w);
      w.result.repaired = std::move(found);
    }
    if (w.status.is_ok()) {
      const ChunkComparison& cmp = w.result;
      ChunkResult r;
      r.rows = cmp.source.rows;
      r.target_rows = cmp.target.rows;
      for (const auto& d : cmp.differences) {
        (d.kind == DiffKind::kMissing ? r.missing
         : d.kind == DiffKind::kExtra ? r.extra
                                      : r.different)++;
      }
      r.repaired = static_cast<std::int64_t>(cmp.repaired.size());
      const auto cap = static_cast<std::size_t>(options.max_diffs);
      r.listed.assign(cmp.differences.begin(),
                      cmp.differences.begin() +
                          static_cast<std::ptrdiff_t>(std::min(cap, cmp.differences.size())));
      r.repaired_listed.assign(
          cmp.repaired.begin(),
          cmp.repaired.begin() + static_cast<std::ptrdiff_t>(std::min(cap, cmp.repaired.size())));
      w.status = run_with_retry(
          options.retry, &give_up, [&] { return ledger.complete(w.chunk, r); },
          [] { return Status::ok(); }, on_retry);
      w.differences = r.missing + r.extra + r.different;
    }
  });

  const auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  ProgressPrinter printer(options.progress, options.progress_out);
  std::optional<std::int64_t> estimate = tables.estimated_rows();
  LedgerProgress view;
  printer.start([&] {
    std::lock_guard lock(mu);
    ProgressSnapshot s;
    s.rows = s.rows_this_run = stats.rows_this_run;
    s.total_rows = estimate;
    s.chunks_done = stats.chunks_this_run;
    s.chunks_planned = view.chunks_planned;
    s.plan_done = view.plan_done;
    s.in_flight = in_flight.load();
    s.retries = retries.load();
    s.seconds = elapsed();
    s.state = interrupted() ? "stopping"
              : differences_this_run > 0
                  ? "verifying, " + with_thousands(differences_this_run) + " differences,"
                  : "verifying";
    describe_throttle(options.throttle, &s);
    return s;
  });

  ChunkGraphHooks<VerifyItem> hooks;
  hooks.stop = [&] {
    if (options.deadline && std::chrono::steady_clock::now() >= *options.deadline) {
      stats_out_of_time = true;
    }
    return interrupted() || failing.load() || stats_out_of_time.load();
  };
  hooks.tally = [&](VerifyItem& w) {
    std::lock_guard lock(mu);
    if (!w.status.is_ok()) {
      fail_chunk(w.status, w.chunk, ledger, &stats.error, failing, give_up);
    } else if (!w.split) {
      ++stats.chunks_this_run;
      stats.rows_this_run += w.result.source.rows;
      differences_this_run += w.differences;
    }
    if (options.throttle) {
      options.throttle->finished(w.status.is_ok() && !w.split ? w.result.source.rows : 0,
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
  stats.seconds = elapsed();
  stats.ran_out_of_time = stats_out_of_time.load();
  stats.outcome = settle_outcome(interrupted(), &stats.error);
  // The verdict covers the whole pass, including chunks that earlier runs verified.
  if (auto r = ledger.results(options.max_diffs); r.ok()) {
    stats.results = std::move(r).value();
  } else if (stats.error.is_ok()) {
    stats.outcome = JobOutcome::kFailed;
    stats.error = r.status().with_context("reading the results");
  }
  if (auto p = ledger.progress(); p.ok()) {
    stats.pass_complete = p->complete();
  }
  (void)ledger.finish(stats.outcome, stats.error.message());
  return stats;
}

}  // namespace backfill
