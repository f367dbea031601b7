#include "engine/plan/chunker.hpp"

#include <algorithm>

namespace backfill {

Result<std::optional<Chunk>> Chunker::next(std::int64_t chunk_rows) {
  // Each pass that records nothing means another worker planned: its chunks are claimable,
  // so the loop ends once they or the plan run out.
  while (true) {
    BACKFILL_ASSIGN_OR_RETURN(std::optional<Chunk> claimed, ledger_.claim());
    if (claimed) return claimed;
    BACKFILL_ASSIGN_OR_RETURN(const PlanCursor from, ledger_.plan_position());
    if (from.done) return std::optional<Chunk>{};
    PlanCursor to = from;
    // At least one chunk per walk, or a walk would record nothing and the loop never end.
    BACKFILL_ASSIGN_OR_RETURN(auto ranges,
                              plan_chunks(walker_, &to, chunk_rows, std::max(1, plan_ahead_)));
    BACKFILL_ASSIGN_OR_RETURN(bool recorded, ledger_.record_plan(from, ranges, to));
    (void)recorded;
  }
}

}  // namespace backfill
