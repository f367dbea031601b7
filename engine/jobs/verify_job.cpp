#include "engine/jobs/verify_job.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "engine/pipeline/cpu_stage.hpp"
#include "engine/pipeline/pipeline.hpp"

namespace backfill {

const char* hash_method_name(HashMethod m) {
  return m == HashMethod::kPushDown ? "push-down" : "streamed";
}

namespace {

struct ChunkComparison {
  ChunkDigest source;
  ChunkDigest target;
  std::vector<RowDifference> differences;  // what still differs; empty when the chunk matches
  std::vector<RowDifference> repaired;     // what differed and was repaired (--repair)
};

// Runs `source` on a helper thread and `target` on this one, so both servers work on the
// chunk at the same time; returns when both are done. Each side uses only its own scanner.
template <typename S, typename T>
auto on_both_sides(S&& source, T&& target) {
  auto source_side = std::async(std::launch::async, std::forward<S>(source));
  auto t = target();
  return std::make_pair(source_side.get(), std::move(t));
}

// The verify job's worker: a scanner of each side, and the comparison. The digest of a
// stream that needs no --map is taken as its messages arrive, on the reading thread: one
// XXH3 per row costs less than the hop to the arena. Measured (issue 11, 1M rows, durable
// server, 3 rounds): 256 KB pieces digested by arena tasks made streamed verify 1.24-1.46x
// slower on users and 1.06-1.21x on narrow, as copy's pass-through pieces were in issue 10.
// Whole chunks that go through --map, and a mismatching chunk's keyed rows, are transformed
// and hashed in the CPU arena.
class Comparer {
 public:
  Comparer(std::unique_ptr<SourceScanner> source, std::unique_ptr<TargetScanner> target,
           const VerifiedTables& tables, CpuStage& cpu)
      : src_(std::move(source)), tgt_(std::move(target)), tables_(tables), cpu_(cpu) {}

  Result<ChunkComparison> compare(const ChunkRange& range) {
    return tables_.method == HashMethod::kPushDown ? push_down(range) : streamed(range);
  }

  // Deletes every differing or extra key from the target and writes the missing and
  // different rows from the source, in one target transaction.
  Status repair(const std::vector<RowDifference>& diffs) {
    std::vector<Key> all, from_source;
    for (const auto& d : diffs) {
      all.push_back(d.key);
      if (d.kind != DiffKind::kExtra) from_source.push_back(d.key);
    }
    std::string rows;
    if (!from_source.empty()) {
      BACKFILL_RETURN_IF_ERROR(src_->rows_by_key(from_source, &rows));
      if (tables_.map) {
        Result<CopyBatch> out = cpu_.run([&] {
          return MapTransform(tables_.map).apply({std::move(rows), 0});
        });
        BACKFILL_RETURN_IF_ERROR(out.status());
        rows = std::move(out).value().bytes;
      }
    }
    return tgt_->replace(all, rows).with_context("repairing " + std::to_string(diffs.size()) +
                                                 " rows");
  }

  Status reset() {
    BACKFILL_RETURN_IF_ERROR(src_->reset());
    return tgt_->reset();
  }

 private:
  Result<ChunkComparison> push_down(const ChunkRange& range) {
    ChunkComparison c;
    auto [sd, td] =
        on_both_sides([&] { return src_->digest(range); }, [&] { return tgt_->digest(range); });
    BACKFILL_ASSIGN_OR_RETURN(c.source, std::move(sd));
    BACKFILL_ASSIGN_OR_RETURN(c.target, std::move(td));
    if (c.source == c.target) return c;
    // Only a mismatching chunk's (key, row hash) lists travel.
    auto [sh, th] = on_both_sides([&] { return src_->row_hashes(range); },
                                  [&] { return tgt_->row_hashes(range); });
    BACKFILL_ASSIGN_OR_RETURN(auto s, std::move(sh));
    BACKFILL_ASSIGN_OR_RETURN(auto t, std::move(th));
    c.differences = diff_rows(std::move(s), std::move(t));
    return c;
  }

  // The whole chunk's stream read into `bytes` (its capacity kept from chunk to chunk), then
  // through the --map when `mapped`, in the arena.
  Status read_whole(ChunkScanner& side, const ChunkRange& range, bool with_keys, bool mapped,
                    std::string& bytes) {
    bytes.clear();
    BACKFILL_RETURN_IF_ERROR(side.stream(range, with_keys, [&](std::string_view piece) {
      bytes.append(piece);
      return Status::ok();
    }));
    if (!mapped) return Status::ok();
    const int leading = with_keys ? static_cast<int>(tables_.key_fields) : 0;
    Result<CopyBatch> out = cpu_.run([&] {
      return MapTransform(tables_.map, leading).apply({std::move(bytes), 0});
    });
    BACKFILL_RETURN_IF_ERROR(out.status());
    bytes = std::move(out).value().bytes;
    return Status::ok();
  }

  // The digests from the compared columns alone; a mismatching chunk is read again with its
  // key texts to name the rows (measured over 5M rows: key texts and a list entry per row
  // cost more than the hashing itself).
  Result<ChunkComparison> streamed(const ChunkRange& range) {
    ChunkComparison c;
    auto digest_as_read = [&](ChunkScanner& side) -> Result<ChunkDigest> {
      CopyDigester digester(tables_.norms);
      BACKFILL_RETURN_IF_ERROR(side.stream(
          range, false, [&](std::string_view message) { return digester.feed(message); }));
      return digester.finish();
    };
    // With --map the source's rows are transformed before they are hashed, so the chunk is
    // read whole first.
    auto mapped_digest = [&]() -> Result<ChunkDigest> {
      BACKFILL_RETURN_IF_ERROR(read_whole(*src_, range, false, true, src_bytes_));
      return cpu_.run([&]() -> Result<ChunkDigest> {
        CopyDigester digester(tables_.norms);
        BACKFILL_RETURN_IF_ERROR(digester.feed(src_bytes_));
        return digester.finish();
      });
    };
    auto [sd, td] =
        on_both_sides([&] { return tables_.map ? mapped_digest() : digest_as_read(*src_); },
                      [&] { return digest_as_read(*tgt_); });
    BACKFILL_ASSIGN_OR_RETURN(c.source, std::move(sd));
    BACKFILL_ASSIGN_OR_RETURN(c.target, std::move(td));
    if (c.source == c.target) return c;
    auto keyed = [&](ChunkScanner& side, std::string& bytes,
                     bool mapped) -> Result<std::vector<KeyedHash>> {
      BACKFILL_RETURN_IF_ERROR(read_whole(side, range, true, mapped, bytes));
      return cpu_.run(
          [&] { return hash_copy_rows(bytes, tables_.key_fields, tables_.norms, nullptr); });
    };
    auto [sh, th] = on_both_sides([&] { return keyed(*src_, src_bytes_, tables_.map != nullptr); },
                                  [&] { return keyed(*tgt_, tgt_bytes_, false); });
    BACKFILL_ASSIGN_OR_RETURN(auto s, std::move(sh));
    BACKFILL_ASSIGN_OR_RETURN(auto t, std::move(th));
    c.differences = diff_rows(std::move(s), std::move(t));
    return c;
  }

  std::unique_ptr<SourceScanner> src_;
  std::unique_ptr<TargetScanner> tgt_;
  const VerifiedTables& tables_;
  CpuStage& cpu_;
  std::string src_bytes_, tgt_bytes_;  // a chunk's COPY stream, reused (capacity kept)
};

}  // namespace

Result<VerifyStats> run_verify_job(const VerifiedTables& tables, Ledger& ledger,
                                   const VerifyJobOptions& options) {
  const int jobs = std::max(1, options.jobs);
  CpuStage cpu;
  BACKFILL_ASSIGN_OR_RETURN(
      auto comparers, open_workers<Comparer>(jobs, [&]() -> Result<std::unique_ptr<Comparer>> {
        BACKFILL_ASSIGN_OR_RETURN(auto s, tables.open_source());
        BACKFILL_ASSIGN_OR_RETURN(auto t, tables.open_target());
        return std::make_unique<Comparer>(std::move(s), std::move(t), tables, cpu);
      }));

  std::int64_t differences_this_run = 0;  // guarded by the pipeline's commit lock
  std::atomic<bool> out_of_time{false};
  // The recheck delay is the feature (in-flight dual writes land meanwhile), so it is a
  // timed wait; an interrupt cuts it short and skips the recheck.
  std::mutex out_mu;
  auto wait_for_recheck = [&](const Chunk& chunk, std::size_t differences,
                              const ChunkContext& ctx) {
    {
      std::lock_guard lock(out_mu);
      std::fprintf(options.progress_out, "chunk %lld: %zu differences; comparing again in %.1f s\n",
                   static_cast<long long>(chunk.id), differences,
                   std::chrono::duration<double>(options.recheck).count());
      std::fflush(options.progress_out);
    }
    auto until = std::chrono::steady_clock::now() + options.recheck;
    while (std::chrono::steady_clock::now() < until) {
      if (ctx.interrupted()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  };

  Stages<Comparer> stages;
  stages.run = [&](Comparer& c, const Chunk& chunk, const ChunkContext& ctx) {
    ChunkRun run;
    ChunkComparison result;
    // A chunk whose comparison timed out goes back to the ledger as two halves: the first
    // comparison only, since a recheck compares the chunk it already has.
    bool may_split = true;
    auto compare = [&] {
      return ctx.retry(
          [&]() -> Status {
            auto r = c.compare(chunk.range);
            if (!r.ok() && may_split && ctx.split(r.status(), chunk)) {
              run.split = true;
              return Status::ok();
            }
            if (!r.ok()) return r.status();
            result = std::move(r).value();
            return Status::ok();
          },
          [&] { return c.reset(); });
    };
    run.status = compare();
    if (run.split) return run;
    may_split = false;
    if (run.status.is_ok() && !result.differences.empty() && options.recheck.count() > 0 &&
        wait_for_recheck(chunk, result.differences.size(), ctx)) {
      std::vector<RowDifference> first = std::move(result.differences);
      run.status = compare();
      std::erase_if(result.differences, [&](const RowDifference& d) {
        return std::find(first.begin(), first.end(), d) == first.end();
      });
    }
    if (run.status.is_ok() && !result.differences.empty() && options.repair) {
      std::vector<RowDifference> found = std::move(result.differences);
      run.status = ctx.retry([&] { return c.repair(found); }, [&] { return c.reset(); });
      // Compared again: what still differs (a concurrent writer) is reported as such.
      if (run.status.is_ok()) run.status = compare();
      result.repaired = std::move(found);
    }
    if (!run.status.is_ok()) return run;
    ChunkResult r;
    r.rows = result.source.rows;
    r.target_rows = result.target.rows;
    for (const auto& d : result.differences) {
      (d.kind == DiffKind::kMissing ? r.missing
       : d.kind == DiffKind::kExtra ? r.extra
                                    : r.different)++;
    }
    r.repaired = static_cast<std::int64_t>(result.repaired.size());
    const auto cap = static_cast<std::size_t>(options.max_diffs);
    r.listed.assign(result.differences.begin(),
                    result.differences.begin() +
                        static_cast<std::ptrdiff_t>(std::min(cap, result.differences.size())));
    r.repaired_listed.assign(result.repaired.begin(),
                             result.repaired.begin() + static_cast<std::ptrdiff_t>(
                                                           std::min(cap, result.repaired.size())));
    run.status = ctx.complete(chunk, r);
    run.done = run.status.is_ok();
    run.rows = result.source.rows;
    run.throttle_rows = run.done ? result.source.rows : 0;
    run.tally = r.missing + r.extra + r.different;
    return run;
  };
  stages.commit = [&](const Chunk&, const ChunkRun& r) {
    if (r.done) differences_this_run += r.tally;
  };
  stages.state = [&] {
    return differences_this_run > 0
               ? "verifying, " + with_thousands(differences_this_run) + " differences,"
               : std::string("verifying");
  };
  stages.stop = [&] {
    if (options.deadline && options.clock->now() >= *options.deadline) out_of_time = true;
    return out_of_time.load();
  };

  PipelineSetup setup;
  setup.open_walker = tables.open_walker;
  setup.estimated_rows = tables.estimated_rows;
  setup.count_earlier_runs = false;  // the line shows this pass's progress
  VerifyStats stats;
  auto verdict = [&](PipelineRun& run) {
    // The verdict covers the whole pass, including chunks that earlier runs verified.
    if (auto r = ledger.results(options.max_diffs); r.ok()) {
      stats.results = std::move(r).value();
    } else if (run.error.is_ok()) {
      run.outcome = JobOutcome::kFailed;
      run.error = r.status().with_context("reading the results");
    }
    stats.pass_complete = run.ledger.complete();
    stats.low_watermark = run.ledger.low_watermark;
  };
  BACKFILL_ASSIGN_OR_RETURN(PipelineRun run,
                            run_pipeline(comparers, ledger, options, setup, stages, verdict));
  stats.outcome = run.outcome;
  stats.error = run.error;
  stats.chunks_this_run = run.chunks;
  stats.rows_this_run = run.rows;
  stats.retries = run.retries;
  stats.seconds = run.seconds;
  stats.ran_out_of_time = out_of_time.load();
  return stats;
}

}  // namespace backfill
