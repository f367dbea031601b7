// The pipeline's CPU stage: a oneTBB arena sized to the cores, to which a job's workers hand
// their CPU work (copy's --map pieces; verify's --map, and the rehash of a chunk that
// differs; update's --map). The workers block on I/O on their own threads, never on the
// arena's, so a slow server cannot starve the transform. One per job run; not copyable;
// run() and arena() may be called from any thread.
#pragma once

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cstddef>
#include <optional>
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

  // Runs `f` in the arena, with the arena's bound on threads, and returns what it returns.
  template <typename F>
  auto run(F&& f) -> decltype(f()) {
    std::optional<decltype(f())> out;
    arena_.execute([&] { out.emplace(f()); });
    return std::move(*out);
  }

 private:
  int cores_;
  oneapi::tbb::global_control parallelism_;
  oneapi::tbb::task_arena arena_;
};

}  // namespace backfill
