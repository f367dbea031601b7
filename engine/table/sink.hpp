// The Sink seam: where rows go.
//
// A driver implements Sink for one target table. Each ChunkWriter owns one connection and
// writes one chunk per call, in one transaction, with the job's conflict policy, taking the
// chunk's rows from a RowStream while they are still being read and transformed. A writer
// that can record the chunk's completion in the same transaction as its rows (the ledger
// lives in the target database) says so in WriteResult, which makes the chunk exactly-once;
// otherwise the engine records it in the ledger right after, and the write must be
// idempotent under the policy. Sink must be safe to call from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "engine/format/copy_format.hpp"
#include "engine/plan/planner.hpp"
#include "engine/util/status.hpp"

namespace backfill {

struct WriteResult {
  std::int64_t rows_written = 0;  // inserted or updated in the target
  bool ledger_recorded = false;   // the chunk was marked done in the same transaction
  bool already_done = false;      // another worker finished this chunk first; nothing written
};

// One chunk's rows as the engine hands them to a writer, in order: tuples of a binary COPY
// stream without its header or trailer (the writer frames them with kCopyHeader and
// kCopyTrailer). Used by the one thread that writes the chunk.
class RowStream {
 public:
  virtual ~RowStream() = default;
  // The next tuples, valid until the next call; an empty view at the end of the chunk. An
  // error when the chunk's read or transform failed: the writer abandons the chunk with it.
  virtual Result<std::string_view> next() = 0;
  // The rows handed out so far: all of them once next() has returned the end.
  virtual std::int64_t rows() const = 0;
};

class ChunkWriter {
 public:
  virtual ~ChunkWriter() = default;
  virtual Result<WriteResult> write(const Chunk& chunk, RowStream& rows) = 0;
  virtual Status reset() = 0;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual Result<std::unique_ptr<ChunkWriter>> open_writer() = 0;
};

}  // namespace backfill
