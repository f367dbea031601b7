#include "engine/checksum/piece_digest.hpp"

namespace backfill {

PieceDigester::PieceDigester(oneapi::tbb::task_arena& arena, const std::vector<FieldNorm>& norms)
    : arena_(arena), norms_(norms) {
  current_.reserve(kPieceBytes + 64 * 1024);
}

PieceDigester::~PieceDigester() {
  // A stream abandoned half way (its read failed) still waits for the pieces it submitted.
  wait_all();
}

void PieceDigester::submit() {
  {
    std::unique_lock lock(mu_);
    done_.wait(lock, [&] { return in_flight_ < kPiecesInFlight; });
    ++in_flight_;
  }
  auto piece = std::make_shared<std::string>(std::move(current_));
  {
    std::lock_guard lock(mu_);
    if (!spare_.empty()) {
      current_ = std::move(spare_.back());
      spare_.pop_back();
    }
  }
  current_.clear();
  const bool first = first_;
  first_ = false;
  arena_.enqueue([this, piece, first] {
    CopyDigester d = first ? CopyDigester(norms_) : CopyDigester::continuing(norms_);
    const Status st = d.feed(*piece);
    std::lock_guard lock(mu_);
    if (!st.is_ok() && error_.is_ok()) error_ = st;
    sum_.rows += d.partial().rows;
    sum_.sum += d.partial().sum;  // unsigned: wraps mod 2^64
    trailers_ += d.trailer_seen() ? 1 : 0;
    spare_.push_back(std::move(*piece));
    --in_flight_;
    // Notified under the lock: once finish() sees no piece in flight the digester may be
    // destroyed while this task still runs.
    done_.notify_all();
  });
}

void PieceDigester::wait_all() {
  std::unique_lock lock(mu_);
  done_.wait(lock, [&] { return in_flight_ == 0; });
}

Status PieceDigester::feed(std::string_view message) {
  current_.append(message);
  if (current_.size() >= kPieceBytes) submit();
  std::lock_guard lock(mu_);
  return error_;
}

Result<ChunkDigest> PieceDigester::finish() {
  if (!current_.empty() || first_) submit();
  wait_all();
  std::lock_guard lock(mu_);
  if (!error_.is_ok()) return error_;
  if (trailers_ != 1) return Status::failed("binary COPY stream ended without its trailer");
  return sum_;
}

}  // namespace backfill
