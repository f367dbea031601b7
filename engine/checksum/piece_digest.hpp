// The digest of a binary COPY stream taken in the CPU stage: the reading thread only cuts
// the stream, at message boundaries, into pieces of about kPieceBytes, and each piece is
// digested by a task in the arena while the next one arrives. A chunk digest is a sum of row
// hashes, which no order changes, so pieces finish in any order. At most kPiecesInFlight
// pieces are held per stream: the reader waits for the arena rather than buffer a chunk.
// One per stream; feed() and finish() from one thread.
#pragma once

#include <oneapi/tbb/task_arena.h>

#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checksum/row_hash.hpp"

namespace backfill {

class PieceDigester {
 public:
  static constexpr std::size_t kPieceBytes = 256 * 1024;
  static constexpr std::size_t kPiecesInFlight = 4;

  PieceDigester(oneapi::tbb::task_arena& arena, const std::vector<FieldNorm>& norms);
  ~PieceDigester();
  PieceDigester(const PieceDigester&) = delete;
  PieceDigester& operator=(const PieceDigester&) = delete;

  // One CopyData message: the header with the first rows, whole rows, or the trailer.
  Status feed(std::string_view message);
  // Waits for every piece; the stream's digest, or the first piece's error.
  Result<ChunkDigest> finish();

 private:
  void submit();
  void wait_all();

  oneapi::tbb::task_arena& arena_;
  const std::vector<FieldNorm>& norms_;
  std::string current_;
  bool first_ = true;  // the next piece submitted starts with the header

  std::mutex mu_;
  std::condition_variable done_;
  std::size_t in_flight_ = 0;       // guarded by mu_
  std::vector<std::string> spare_;  // buffers of finished pieces, reused; guarded by mu_
  ChunkDigest sum_;                 // guarded by mu_
  int trailers_ = 0;                // guarded by mu_
  Status error_;                    // guarded by mu_
};

}  // namespace backfill
