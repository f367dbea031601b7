// The chunker: the engine's side of planning. It hands a worker its next chunk: one the
// ledger has pending (or abandoned by a dead worker), else it plans more with the key
// walker and has the ledger record them.
//
// The walker queries the source outside any ledger lock: the chunker reads where planning
// stands, walks, then records the chunks only if planning still stands there (another
// worker may have planned meanwhile; then its chunks are claimed instead and the walk is
// dropped). The ledger only records, claims, completes and splits. One chunker per claiming
// thread; not thread-safe.
#pragma once

#include <cstdint>
#include <optional>

#include "engine/ledger/ledger.hpp"
#include "engine/plan/planner.hpp"

namespace backfill {

class Chunker {
 public:
  // `plan_ahead`: chunks planned per walk, enough that claims rarely plan.
  Chunker(Ledger& ledger, KeyWalker& walker, int plan_ahead)
      : ledger_(ledger), walker_(walker), plan_ahead_(plan_ahead) {}

  // The next chunk for this worker, of about `chunk_rows` rows when it is planned now;
  // nullopt when every chunk is planned and done or held by a live worker.
  Result<std::optional<Chunk>> next(std::int64_t chunk_rows);

 private:
  Ledger& ledger_;
  KeyWalker& walker_;
  int plan_ahead_;
};

}  // namespace backfill
