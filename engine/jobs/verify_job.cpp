#include "engine/jobs/verify_job.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include "engine/pipeline/pipeline.hpp"

namespace backfill {

Result<VerifyStats> run_verify_job(ComparedTables& tables, Ledger& ledger,
                                   const VerifyJobOptions& options) {
  const int jobs = std::max(1, options.jobs);
  BACKFILL_ASSIGN_OR_RETURN(
      auto comparers, open_workers<ChunkComparer>(jobs, [&] { return tables.open_comparer(); }));

  std::int64_t differences_this_run = 0;  // guarded by the pipeline's commit lock
  std::atomic<bool> out_of_time{false};
  // The recheck delay is the feature (in-flight dual writes land meanwhile), so it is a
  // timed wait; an interrupt cuts it short and skips the recheck.
  std::mutex out_mu;
  auto wait_for_recheck = [&](const Chunk& chunk, std::size_t differences,
                              const ChunkContext& ctx) {
    {
      std::lock_guard lock(out_mu);
      std::fprintf(options.progress_out, "chunk %lld: %zu differences; comparing again in %.1f s\n",
                   static_cast<long long>(chunk.id), differences,
                   std::chrono::duration<double>(options.recheck).count());
      std::fflush(options.progress_out);
    }
    auto until = std::chrono::steady_clock::now() + options.recheck;
    while (std::chrono::steady_clock::now() < until) {
      if (ctx.interrupted()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  };

  Stages<ChunkComparer> stages;
  stages.run = [&](ChunkComparer& c, const Chunk& chunk, const ChunkContext& ctx) {
    ChunkRun run;
    ChunkComparison result;
    // A chunk whose comparison timed out goes back to the ledger as two halves: the first
    // comparison only, since a recheck compares the chunk it already has.
    bool may_split = true;
    auto compare = [&] {
      return ctx.retry(
          [&]() -> Status {
            auto r = c.compare(chunk.range);
            if (!r.ok() && may_split && ctx.split(r.status(), chunk)) {
              run.split = true;
              return Status::ok();
            }
            if (!r.ok()) return r.status();
            result = std::move(r).value();
            return Status::ok();
          },
          [&] { return c.reset(); });
    };
    run.status = compare();
    if (run.split) return run;
    may_split = false;
    if (run.status.is_ok() && !result.differences.empty() && options.recheck.count() > 0 &&
        wait_for_recheck(chunk, result.differences.size(), ctx)) {
      std::vector<RowDifference> first = std::move(result.differences);
      run.status = compare();
      std::erase_if(result.differences, [&](const RowDifference& d) {
        return std::find(first.begin(), first.end(), d) == first.end();
      });
    }
    if (run.status.is_ok() && !result.differences.empty() && options.repair) {
      std::vector<RowDifference> found = std::move(result.differences);
      run.status = ctx.retry([&] { return c.repair(found); }, [&] { return c.reset(); });
      // Compared again: what still differs (a concurrent writer) is reported as such.
      if (run.status.is_ok()) run.status = compare();
      result.repaired = std::move(found);
    }
    if (!run.status.is_ok()) return run;
    ChunkResult r;
    r.rows = result.source.rows;
    r.target_rows = result.target.rows;
    for (const auto& d : result.differences) {
      (d.kind == DiffKind::kMissing ? r.missing
       : d.kind == DiffKind::kExtra ? r.extra
                                    : r.different)++;
    }
    r.repaired = static_cast<std::int64_t>(result.repaired.size());
    const auto cap = static_cast<std::size_t>(options.max_diffs);
    r.listed.assign(result.differences.begin(),
                    result.differences.begin() +
                        static_cast<std::ptrdiff_t>(std::min(cap, result.differences.size())));
    r.repaired_listed.assign(result.repaired.begin(),
                             result.repaired.begin() + static_cast<std::ptrdiff_t>(
                                                           std::min(cap, result.repaired.size())));
    run.status = ctx.complete(chunk, r);
    run.done = run.status.is_ok();
    run.rows = result.source.rows;
    run.throttle_rows = run.done ? result.source.rows : 0;
    run.tally = r.missing + r.extra + r.different;
    return run;
  };
  stages.commit = [&](const Chunk&, const ChunkRun& r) {
    if (r.done) differences_this_run += r.tally;
  };
  stages.state = [&] {
    return differences_this_run > 0
               ? "verifying, " + with_thousands(differences_this_run) + " differences,"
               : std::string("verifying");
  };
  stages.stop = [&] {
    if (options.deadline && options.clock->now() >= *options.deadline) out_of_time = true;
    return out_of_time.load();
  };

  PipelineSetup setup;
  setup.open_walker = [&] { return tables.open_walker(); };
  setup.estimated_rows = tables.estimated_rows();
  setup.count_earlier_runs = false;  // the line shows this pass's progress
  VerifyStats stats;
  auto verdict = [&](PipelineRun& run) {
    // The verdict covers the whole pass, including chunks that earlier runs verified.
    if (auto r = ledger.results(options.max_diffs); r.ok()) {
      stats.results = std::move(r).value();
    } else if (run.error.is_ok()) {
      run.outcome = JobOutcome::kFailed;
      run.error = r.status().with_context("reading the results");
    }
    stats.pass_complete = run.ledger.complete();
    stats.low_watermark = run.ledger.low_watermark;
  };
  BACKFILL_ASSIGN_OR_RETURN(PipelineRun run,
                            run_pipeline(comparers, ledger, options, setup, stages, verdict));
  stats.outcome = run.outcome;
  stats.error = run.error;
  stats.chunks_this_run = run.chunks;
  stats.rows_this_run = run.rows;
  stats.retries = run.retries;
  stats.seconds = run.seconds;
  stats.ran_out_of_time = out_of_time.load();
  return stats;
}

}  // namespace backfill
