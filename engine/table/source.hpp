// The Source seam: where rows come from.
//
// A driver implements Source for one table of one database. The engine asks it for a key
// walker (for the planner) and for chunk readers, one per parallel reader thread; each
// reader owns one connection and is used by one thread at a time. Source itself must be
// safe to call from several threads (it only hands out new connections).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "engine/format/copy_format.hpp"
#include "engine/plan/planner.hpp"
#include "engine/util/status.hpp"

namespace backfill {

// Receives a chunk's stream as it arrives; an error stops the read.
using DataSink = std::function<Status(std::string_view)>;

class ChunkReader {
 public:
  virtual ~ChunkReader() = default;
  // Every row of the range, in the target's binary form, as one binary COPY stream, read in
  // its own short transaction and handed to `on_data` as it arrives: in pieces that end at
  // row boundaries, the first holding the whole header, the last ending with the trailer.
  // An error from `on_data` ends the read (the rest of the stream is discarded) and is
  // returned.
  virtual Status read(const ChunkRange& range, const DataSink& on_data) = 0;
  // Drops and reopens the connection after a failure the caller will retry.
  virtual Status reset() = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  virtual Result<std::unique_ptr<ChunkReader>> open_reader() = 0;
  virtual Result<std::unique_ptr<KeyWalker>> open_walker() = 0;
  // The database's estimate of the table's row count, for progress; nullopt if unknown.
  virtual std::optional<std::int64_t> estimated_rows() const = 0;
};

}  // namespace backfill
