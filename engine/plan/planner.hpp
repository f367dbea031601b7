// Chunk planning: cutting a table's key space into ranges of about N rows, ahead of the
// readers, by walking the key index (keyset pagination, never OFFSET from the start).
//
// A chunk is the half-open key range (lo, hi]; a missing lo means "from the first row", a
// missing hi "to the last row". The walker is the Source seam's part that finds the key N
// rows after a given key; plan_chunks() is the serial, database-agnostic loop around it.
// Not thread-safe: one planner runs at a time per job (the ledger serialises it).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "engine/plan/key.hpp"
#include "engine/util/status.hpp"

namespace backfill {

struct ChunkRange {
  std::optional<Key> lo;  // exclusive; nullopt: from the start
  std::optional<Key> hi;  // inclusive; nullopt: to the end
};

struct Chunk {
  std::int64_t id = 0;
  ChunkRange range;
  int attempt = 1;  // 1 on the first claim, more when a previous claim did not finish it
  std::int64_t charged_rows = 0;  // what a rate cap charged it on admission (ChunkThrottle)
};

// Where planning stands: the last key handed out as a chunk's upper bound.
struct PlanCursor {
  std::optional<Key> after;
  bool done = false;
};

class KeyWalker {
 public:
  virtual ~KeyWalker() = default;
  // The key of the `rows`-th row after `after` (counting from the first row when `after` is
  // nullopt), in key order; nullopt when fewer than `rows` rows follow `after`.
  virtual Result<std::optional<Key>> boundary_after(const std::optional<Key>& after,
                                                    std::int64_t rows) = 0;
  // The key that cuts `range` into two halves of about equal rows, (lo, mid] and (mid, hi],
  // both non-empty; nullopt when the range has fewer than two rows or the walker cannot say.
  virtual Result<std::optional<Key>> split_point(const ChunkRange& range) {
    (void)range;
    return std::optional<Key>{};
  }
};

// The whole table as one chunk: for a job whose worker reads the table in ranges of its
// own (verify's multiset comparison of a table without a key).
class WholeTableWalker final : public KeyWalker {
 public:
  Result<std::optional<Key>> boundary_after(const std::optional<Key>&, std::int64_t) override {
    return std::optional<Key>{};
  }
};

// Plans up to `max_chunks` more chunks of `chunk_rows` rows from `cursor`, advancing it.
// The last chunk of a table is open-ended, so rows inserted past the last key while the job
// runs are copied too. Returns no chunks once the cursor is done.
Result<std::vector<ChunkRange>> plan_chunks(KeyWalker& walker, PlanCursor* cursor,
                                            std::int64_t chunk_rows, int max_chunks);

}  // namespace backfill
