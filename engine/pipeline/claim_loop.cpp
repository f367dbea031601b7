#include "engine/pipeline/claim_loop.hpp"

#include <optional>

#include "engine/plan/chunker.hpp"

namespace backfill {
namespace {
// The ledger's totals are for the progress line only: refresh them once a second, not once
// a chunk, so they cost nothing however small the chunks.
constexpr std::chrono::seconds kProgressRefresh{1};
}  // namespace

Status ClaimLoop::run(const std::function<bool()>& stop, const std::function<void(Chunk)>& dispatch,
                      const std::function<void(const RetryEvent&)>& on_retry,
                      const std::function<void(const LedgerProgress&)>& on_progress) {
  auto last_refresh = Clock::time_point{};
  Chunker chunker(ledger, walker, plan_ahead);
  while (true) {
    tokens.acquire();
    if (stop()) {
      tokens.release();
      return Status::ok();
    }
    // Sized before the wait, so that a rate cap charges the chunk as it is admitted.
    const std::int64_t rows = throttle.next_chunk_rows(chunk_rows);
    std::int64_t charged = 0;
    if (!throttle.admit(stop, rows, &charged)) {
      tokens.release();
      return Status::ok();
    }
    std::optional<Chunk> claimed;
    Status st = run_with_retry(
        retry, interrupt,
        [&]() -> Status {
          auto c = chunker.next(rows);
          if (!c.ok()) return c.status();
          claimed = std::move(c).value();
          return Status::ok();
        },
        [] { return Status::ok(); }, on_retry,  // the ledger and walker reconnect themselves
        waiting);
    if (!st.is_ok() || !claimed) {
      throttle.finished(0, charged, Seconds(0));  // admitted, never started
      tokens.release();
      return st.with_context("claiming a chunk");  // ok: nothing left for this worker
    }
    if (auto t = clock.now(); on_progress && t - last_refresh >= kProgressRefresh) {
      last_refresh = t;
      if (auto p = ledger.progress(); p.ok()) on_progress(p.value());
    }
    claimed->charged_rows = charged;
    dispatch(std::move(*claimed));
  }
}

bool split_timed_out_chunk(const Status& st, const Chunk& chunk,
                           const std::function<Result<std::unique_ptr<KeyWalker>>()>& open_walker,
                           Ledger& ledger, ChunkThrottle& throttle) {
  if (st.kind() != ErrorKind::kTimeout) return false;
  auto halver = open_walker();
  if (!halver.ok()) return false;
  auto mid = halver.value()->split_point(chunk.range);
  if (!mid.ok() || !mid.value() || !ledger.split(chunk, *mid.value()).is_ok()) return false;
  throttle.chunk_timed_out();
  return true;
}

}  // namespace backfill
