// Copy's stages on the chunk pipeline (engine/pipeline/pipeline.hpp): each chunk is streamed
// through a lane, the job's worker:
//
//   claim (this thread, serial, one chunk ahead of the lanes)
//     -> lane: read (its reader thread and connection) -> pieces of ~256 KB
//              -> transform (CPU: a oneTBB arena; pass-through rows are only counted)
//              -> write (the lane's thread and connection, while the rest is still read)
//     -> commit (serial: counters, ledger, throttle, token back)
//
// A chunk's read and write overlap, so a chunk takes as long as the slower of the two, and
// the source is read at the pace the target is written. Blocking database calls never run
// on oneTBB's workers. Each lane holds a few pieces whatever the chunk's size, so memory is
// flat and small (`jobs` lanes). run_copy_job() blocks until the job ends; not reentrant.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine/jobs/progress.hpp"
#include "engine/ledger/ledger.hpp"
#include "engine/pipeline/job_options.hpp"
#include "engine/pipeline/retry.hpp"
#include "engine/table/sink.hpp"
#include "engine/table/source.hpp"
#include "engine/transform/transform.hpp"

namespace backfill {

// `jobs`: lanes, chunks written at once.
struct CopyJobOptions : ChunkJobOptions {};

// `rows`: read and written by this run.
struct CopyJobStats : RunStats {
  std::int64_t rows_written = 0;  // inserted or updated in the target (less under skip)
};

// Runs the job to its end. Errors that stop the job are in CopyJobStats::error, not in the
// Result: the Result fails only when the job could not start at all.
Result<CopyJobStats> run_copy_job(Source& source, Sink& sink, Ledger& ledger,
                                  const Transform& transform, const CopyJobOptions& options);

}  // namespace backfill
