#include "engine/jobs/copy_job.hpp"

#include <oneapi/tbb/concurrent_queue.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

#include "engine/pipeline/cpu_stage.hpp"
#include "engine/pipeline/pipeline.hpp"

namespace backfill {
namespace {

// A piece is cut once it holds this much: large enough that the hand-offs between reader,
// transform and writer cost nothing next to the bytes, small enough that a lane's pieces
// stay a few MB whatever the chunk's size.
constexpr std::size_t kPieceBytes = 256 * 1024;
// Pieces a lane holds between its reader and its writer. The reader waits when all are
// full, so the source is read at the pace the target is written (measured: reading whole
// chunks ahead in bursts took the CPU the target's writer needed on a 2-core server).
constexpr std::size_t kSlotsPerLane = 8;

// One piece of a chunk on its way through a lane. Buffers keep their capacity from piece to
// piece, so a lane stops allocating once it has warmed up.
struct Slot {
  std::string in, out;
  std::int64_t rows = 0;
  Status status;
  bool transformed = false;
};

// A reader connection and a writer connection that move one chunk at a time, streaming:
// the reader cuts what the source sends into pieces, the CPU stage transforms each (oneTBB
// arena), and the writer sends them in order while the rest is still being read. Memory is
// kSlotsPerLane pieces, whatever the chunk's size. The lane's thread drives attempts and
// writes (it is the RowStream's one caller); the reader has a thread of its own.
class Lane final : public RowStream {
 public:
  Lane(std::unique_ptr<ChunkReader> reader, std::unique_ptr<ChunkWriter> writer,
       const Transform& transform, oneapi::tbb::task_arena& arena)
      : reader_(std::move(reader)),
        writer_(std::move(writer)),
        transform_(transform),
        arena_(arena),
        slots_(kSlotsPerLane) {
    read_thread_ = std::thread([this] { read_loop(); });
  }
  ~Lane() override {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    changed_.notify_all();
    read_thread_.join();
  }
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;

  struct Attempt {
    Status status;
    WriteResult written;
    std::int64_t rows = 0;
    std::int64_t bytes = 0;    // of the source's COPY stream handed to the writer
    bool read_failed = false;  // the error is the read's (or the transform's), not the write's
  };

  // Reads, transforms and writes the chunk once. Returns when the reader is idle again.
  Attempt run(const Chunk& chunk) {
    {
      std::lock_guard lock(mu_);
      head_ = tail_ = 0;
      handed_out_ = false;
      rows_ = bytes_ = 0;
      read_status_ = Status::ok();
      read_done_ = abandon_ = read_abandoned_ = transform_failed_ = false;
      range_ = chunk.range;
      start_ = true;
    }
    changed_.notify_all();
    Attempt a;
    auto written = writer_->write(chunk, *this);
    std::unique_lock lock(mu_);
    // Whatever the writer left unread is dropped: the reader discards the rest of the
    // chunk's stream as it arrives (a COPY TO cannot be ended early but by cancelling it),
    // and every piece it handed to the CPU stage comes back before the slots are reused.
    abandon_ = true;
    changed_.notify_all();
    changed_.wait(lock, [&] { return read_done_ && all_transformed(); });
    a.rows = rows_;
    a.bytes = bytes_;
    if (!read_status_.is_ok() && !read_abandoned_) {
      a.status = read_status_;
      a.read_failed = true;
    } else if (!written.ok()) {
      a.status = written.status();
      // A transform's error reached the writer through next(): it is not the writer's.
      a.read_failed = transform_failed_;
    } else {
      a.written = written.value();
    }
    return a;
  }

  Status reset_reader() { return reader_->reset(); }
  Status reset_writer() { return writer_->reset(); }

  // RowStream, for writer_ on the lane's thread.
  Result<std::string_view> next() override {
    std::unique_lock lock(mu_);
    if (handed_out_) {  // the writer is done with the last piece: its slot is free again
      ++head_;
      handed_out_ = false;
      changed_.notify_all();
    }
    changed_.wait(lock, [&] { return head_ < tail_ ? slot(head_).transformed : read_done_; });
    if (head_ == tail_) {
      if (!read_status_.is_ok()) return read_status_;
      return std::string_view{};
    }
    Slot& s = slot(head_);
    if (!s.status.is_ok()) {
      transform_failed_ = true;
      return s.status;
    }
    rows_ += s.rows;
    bytes_ += static_cast<std::int64_t>(s.in.size());
    handed_out_ = true;
    return transform_.passes_bytes() ? std::string_view(s.in) : std::string_view(s.out);
  }
  std::int64_t rows() const override { return rows_; }

 private:
  Slot& slot(std::size_t n) { return slots_[n % slots_.size()]; }
  bool all_transformed() {
    for (std::size_t n = head_; n < tail_; ++n) {
      if (!slot(n).transformed) return false;
    }
    return true;
  }

  void read_loop() {
    while (true) {
      ChunkRange range;
      {
        std::unique_lock lock(mu_);
        changed_.wait(lock, [&] { return start_ || quit_; });
        if (quit_) return;
        start_ = false;
        range = range_;
      }
      bool was_abandoned = false;
      Status st = read_one(range, &was_abandoned);
      {
        std::lock_guard lock(mu_);
        read_status_ = st;
        read_abandoned_ = was_abandoned;
        read_done_ = true;
      }
      changed_.notify_all();
    }
  }

  // Streams the range into slots: the header checked and dropped from the first piece, the
  // trailer from the last, each piece handed to the CPU stage once full.
  Status read_one(const ChunkRange& range, bool* was_abandoned) {
    Slot* current = nullptr;
    bool header_seen = false;
    auto take_slot = [&]() -> Status {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return tail_ - head_ < slots_.size() || abandon_; });
      if (abandon_) {
        *was_abandoned = true;
        return Status::interrupted("chunk abandoned by its writer");
      }
      current = &slot(tail_);
      current->in.clear();
      current->transformed = false;
      return Status::ok();
    };
    auto submit = [&] {
      Slot* s = current;
      {
        std::lock_guard lock(mu_);
        ++tail_;
      }
      current = nullptr;
      auto work = [this, s] {
        std::int64_t rows = 0;
        Status st;
        if (auto r = transform_.apply_tuples(s->in, &s->out); r.ok()) {
          rows = r.value();
        } else {
          st = r.status();
        }
        // Notified under the lock: once the lane sees the piece transformed it may finish
        // the chunk and the job may destroy the lane, while this task still runs.
        std::lock_guard lock(mu_);
        s->rows = rows;
        s->status = std::move(st);
        s->transformed = true;
        changed_.notify_all();
      };
      // Rows that pass as bytes are only counted: done here, where the piece was cut. A hop
      // to the arena for that kept its idle workers spinning (measured: 15% of backfill's
      // CPU time, taken from the servers on a 2-core machine).
      if (transform_.passes_bytes()) {
        work();
      } else {
        arena_.enqueue(std::move(work));
      }
    };
    Status st = reader_->read(range, [&](std::string_view data) -> Status {
      if (!header_seen) {
        CopyReader header(data);
        BACKFILL_RETURN_IF_ERROR(header.read_header().with_context("the chunk's first bytes"));
        data.remove_prefix(header.position());
        header_seen = true;
      }
      // A full piece goes once more data comes: the last piece keeps the trailer to strip.
      if (current != nullptr && current->in.size() >= kPieceBytes) submit();
      if (current == nullptr) BACKFILL_RETURN_IF_ERROR(take_slot());
      current->in.append(data);
      return Status::ok();
    });
    if (st.is_ok() && !header_seen) st = Status::failed("the source sent no binary COPY stream");
    if (st.is_ok()) {
      const std::string_view last = current ? std::string_view(current->in) : std::string_view{};
      if (!last.ends_with(kCopyTrailer)) {
        st = Status::failed("binary COPY stream truncated: no trailer");
      } else {
        current->in.resize(last.size() - kCopyTrailerSize);
        if (!current->in.empty()) submit();
      }
    }
    return st;
  }

  std::unique_ptr<ChunkReader> reader_;
  std::unique_ptr<ChunkWriter> writer_;
  const Transform& transform_;
  oneapi::tbb::task_arena& arena_;
  std::thread read_thread_;

  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<Slot> slots_;
  std::size_t head_ = 0, tail_ = 0;  // slots [head_, tail_) are filled, in order
  bool handed_out_ = false;          // slot head_ is with the writer
  std::int64_t rows_ = 0;            // handed to the writer this attempt
  std::int64_t bytes_ = 0;           // their size in the source's stream
  ChunkRange range_;
  bool start_ = false, quit_ = false;
  bool abandon_ = false;  // the writer is done: stop reading, keep no more pieces
  bool read_done_ = false;
  Status read_status_;
  bool read_abandoned_ = false;  // the read ended because the writer was done
  bool transform_failed_ = false;
};

}  // namespace

Result<CopyJobStats> run_copy_job(Source& source, Sink& sink, Ledger& ledger,
                                  const Transform& transform, const CopyJobOptions& options) {
  const int lanes_wanted = std::max(1, options.jobs);

  // The CPU stage, fed by the lanes' readers.
  CpuStage cpu;

  BACKFILL_ASSIGN_OR_RETURN(
      std::vector<std::unique_ptr<Lane>> lanes,
      open_workers<Lane>(lanes_wanted, [&]() -> Result<std::unique_ptr<Lane>> {
        BACKFILL_ASSIGN_OR_RETURN(auto r, source.open_reader());
        BACKFILL_ASSIGN_OR_RETURN(auto w, sink.open_writer());
        return std::make_unique<Lane>(std::move(r), std::move(w), transform, cpu.arena());
      }));

  std::int64_t rows_written = 0;  // guarded by the pipeline's commit lock
  Stages<Lane> stages;
  // A chunk on a lane: attempts until it is written, split, or failed for good.
  stages.run = [](Lane& lane, const Chunk& chunk, const ChunkContext& ctx) {
    Lane::Attempt last;
    ChunkRun r;
    r.status = ctx.retry(
        [&]() -> Status {
          last = lane.run(chunk);
          if (last.status.kind() == ErrorKind::kTimeout && ctx.split(last.status, chunk)) {
            r.split = true;
            return Status::ok();
          }
          return last.status;
        },
        [&] { return last.read_failed ? lane.reset_reader() : lane.reset_writer(); });
    r.done = r.status.is_ok() && !r.split && !last.written.already_done;
    if (r.done && !last.written.ledger_recorded) {
      r.status = ctx.complete(chunk, ChunkResult::of_rows(last.rows));
    }
    r.done = r.done && r.status.is_ok();
    r.rows = last.rows;
    r.bytes = last.bytes;
    r.throttle_rows = r.done ? last.rows : 0;
    // The writer's count (less than the rows under skip), for the commit.
    r.tally = last.written.rows_written;
    return r;
  };
  stages.commit = [&](const Chunk&, const ChunkRun& r) {
    if (r.done) rows_written += r.tally;
  };
  stages.state = [] { return std::string("copying"); };

  PipelineSetup setup;
  setup.open_walker = [&] { return source.open_walker(); };
  setup.estimated_rows = source.estimated_rows();
  BACKFILL_ASSIGN_OR_RETURN(PipelineRun run, run_pipeline(lanes, ledger, options, setup, stages));
  lanes.clear();

  CopyJobStats stats;
  static_cast<RunStats&>(stats) = run;
  stats.rows_written = rows_written;
  return stats;
}

}  // namespace backfill
