#include "engine/jobs/update_job.hpp"

#include <algorithm>
#include <mutex>

#include "engine/pipeline/pipeline.hpp"

namespace backfill {
Result<UpdateJobStats> run_update_job(UpdatedTable& table, Ledger& ledger,
                                      const ChunkJobOptions& options) {
  const int jobs = std::max(1, options.jobs);
  BACKFILL_ASSIGN_OR_RETURN(auto updaters,
                            open_workers<ChunkUpdater>(jobs, [&] { return table.open_updater(); }));

  Stages<ChunkUpdater> stages;
  stages.run = [&](ChunkUpdater& u, const Chunk& chunk, const ChunkContext& ctx) {
    ChunkRun run;
    std::int64_t changed = 0;
    run.status = ctx.retry(
        [&]() -> Status {
          auto n = u.update(chunk.range);
          if (!n.ok() && ctx.split(n.status(), chunk)) {
            run.split = true;
            return Status::ok();
          }
          if (!n.ok()) return n.status();
          changed = n.value();
          return Status::ok();
        },
        [&] { return u.reset(); });
    if (run.status.is_ok() && !run.split) {
      run.status = ctx.complete(chunk, ChunkResult::of_rows(changed));
      run.done = run.status.is_ok();
    }
    // Progress is in chunks of the key range: rows changed is not how far along it is.
    run.rows = changed;
    // The sizer steers the chunk's size in rows, not the rows it changed (a rerun changes
    // none); the current size stands in for the chunk's planned rows.
    run.throttle_rows = run.done ? options.throttle->next_chunk_rows(options.chunk_rows) : 0;
    return run;
  };
  stages.state = [] { return std::string("updating"); };

  PipelineSetup setup;
  setup.open_walker = [&] { return table.open_walker(); };
  BACKFILL_ASSIGN_OR_RETURN(PipelineRun run,
                            run_pipeline(updaters, ledger, options, setup, stages));
  UpdateJobStats stats;
  static_cast<RunStats&>(stats) = run;
  return stats;
}

}  // namespace backfill
