// The pipeline's CPU stage: a oneTBB arena sized to the cores, to which a job's workers hand
// their CPU work (copy's --map pieces, verify's mapped and keyed chunks). The workers block
// on I/O on their own threads, never on the arena's, so a slow server cannot starve the
// transform. One per job run; not copyable.
#pragma once

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cstddef>
#include <thread>

namespace backfill {

class CpuStage {
 public:
  CpuStage()
      : cores_(std::max(2, static_cast<int>(std::thread::hardware_concurrency()))),
        parallelism_(oneapi::tbb::global_control::max_allowed_parallelism,
                     static_cast<std::size_t>(cores_) + 1),
        arena_(cores_, 0) {}
  CpuStage(const CpuStage&) = delete;
  CpuStage& operator=(const CpuStage&) = delete;

  oneapi::tbb::task_arena& arena() { return arena_; }

 private:
  int cores_;
  oneapi::tbb::global_control parallelism_;
  oneapi::tbb::task_arena arena_;
};

}  // namespace backfill
