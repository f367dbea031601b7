#include "engine/plan/planner.hpp"

namespace backfill {

Result<std::vector<ChunkRange>> plan_chunks(KeyWalker& walker, PlanCursor* cursor,
                                            std::int64_t chunk_rows, int max_chunks) {
  std::vector<ChunkRange> out;
  if (chunk_rows < 1) return Status::invalid("chunk size must be at least 1 row");
  while (!cursor->done && static_cast<int>(out.size()) < max_chunks) {
    BACKFILL_ASSIGN_OR_RETURN(std::optional<Key> hi,
                              walker.boundary_after(cursor->after, chunk_rows));
    out.push_back(ChunkRange{cursor->after, hi});
    if (hi) {
      cursor->after = std::move(hi);
    } else {
      cursor->done = true;
    }
  }
  return out;
}

}  // namespace backfill
