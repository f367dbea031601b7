#include "engine/jobs/update_job.hpp"

#include <algorithm>
#include <mutex>

#include "engine/pipeline/cpu_stage.hpp"
#include "engine/pipeline/pipeline.hpp"

namespace backfill {
namespace {

// The job's worker: an updater and, for --map, its read buffer (capacity kept from chunk to
// chunk).
struct Updater {
  std::unique_ptr<ChunkUpdater> updater;
  std::string rows;
};

}  // namespace

Result<UpdateJobStats> run_update_job(UpdatedTable& table, Ledger& ledger,
                                      const ChunkJobOptions& options) {
  const int jobs = std::max(1, options.jobs);
  const std::shared_ptr<const MapPlan> map = table.map();
  std::optional<CpuStage> cpu;
  std::optional<MapTransform> transform;
  if (map) {
    cpu.emplace();
    transform.emplace(map);
  }
  BACKFILL_ASSIGN_OR_RETURN(auto updaters,
                            open_workers<Updater>(jobs, [&]() -> Result<std::unique_ptr<Updater>> {
                              BACKFILL_ASSIGN_OR_RETURN(auto u, table.open_updater());
                              return std::make_unique<Updater>(Updater{std::move(u), {}});
                            }));

  // One attempt at a chunk: the server computes it (--set), or it is read, computed in the
  // CPU arena and written back (--map).
  auto update_once = [&](Updater& w, const ChunkRange& range) -> Result<std::int64_t> {
    if (!map) return w.updater->update(range);
    w.rows.clear();
    BACKFILL_RETURN_IF_ERROR(w.updater->read(range, &w.rows));
    Result<CopyBatch> computed = cpu->run([&] { return transform->apply({std::move(w.rows), 0}); });
    BACKFILL_RETURN_IF_ERROR(computed.status());
    const std::int64_t rows = computed.value().rows;
    w.rows = std::move(computed).value().bytes;  // keeps the buffer for the next chunk
    if (rows == 0) return std::int64_t{0};
    return w.updater->write(range, w.rows);
  };

  Stages<Updater> stages;
  stages.run = [&](Updater& w, const Chunk& chunk, const ChunkContext& ctx) {
    ChunkRun run;
    std::int64_t changed = 0;
    run.status = ctx.retry(
        [&]() -> Status {
          auto n = update_once(w, chunk.range);
          if (!n.ok() && ctx.split(n.status(), chunk)) {
            run.split = true;
            return Status::ok();
          }
          if (!n.ok()) return n.status();
          changed = n.value();
          return Status::ok();
        },
        [&] { return w.updater->reset(); });
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
