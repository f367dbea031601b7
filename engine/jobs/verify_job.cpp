#include "engine/jobs/verify_job.hpp"

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>

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
  // A multiset comparison lists a bounded number of its differences and counts them all.
  std::optional<std::int64_t> missing, extra;
};

// Runs `source` on a helper thread and `target` on this one, so both servers work on the
// chunk at the same time; returns when both are done. Each side uses only its own scanner.
template <typename S, typename T>
auto on_both_sides(S&& source, T&& target) {
  auto source_side = std::async(std::launch::async, std::forward<S>(source));
  auto t = target();
  return std::make_pair(source_side.get(), std::move(t));
}

// One side's rows seen in a round of a multiset comparison, by row hash: how many, and where
// one of them is (its position's key texts joined by kPositionSeparator: about 80 bytes an
// entry with the map's own).
using SeenRows = std::unordered_map<std::uint64_t, std::pair<std::int64_t, std::string>>;
constexpr char kPositionSeparator = '\x1f';

std::string join_position(const Key& key) {
  std::string out;
  for (std::size_t i = 0; i < key.size(); ++i) {
    if (i > 0) out += kPositionSeparator;
    out += key[i];
  }
  return out;
}

Key split_position(const std::string& joined) {
  Key key;
  std::size_t from = 0;
  while (true) {
    const std::size_t at = joined.find(kPositionSeparator, from);
    key.push_back(joined.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) return key;
    from = at + 1;
  }
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
           const VerifiedTables& tables, CpuStage& cpu, std::int64_t max_listed)
      : src_(std::move(source)),
        tgt_(std::move(target)),
        tables_(tables),
        cpu_(cpu),
        max_listed_(max_listed) {}

  Result<ChunkComparison> compare(const ChunkRange& range) {
    return tables_.multiset ? multiset() : by_key(range);
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
  // Each side's digest first; only a mismatching chunk's (key, row hash) lists are read.
  Result<ChunkComparison> by_key(const ChunkRange& range) {
    ChunkComparison c;
    auto [sd, td] = on_both_sides([&] { return digest(*src_, range, true); },
                                  [&] { return digest(*tgt_, range, false); });
    BACKFILL_ASSIGN_OR_RETURN(c.source, std::move(sd));
    BACKFILL_ASSIGN_OR_RETURN(c.target, std::move(td));
    if (c.source == c.target) return c;
    auto [sh, th] = on_both_sides([&] { return keyed(*src_, range, true); },
                                  [&] { return keyed(*tgt_, range, false); });
    BACKFILL_ASSIGN_OR_RETURN(auto s, std::move(sh));
    BACKFILL_ASSIGN_OR_RETURN(auto t, std::move(th));
    c.differences = diff_rows(std::move(s), std::move(t));
    return c;
  }

  // A table without a key: the two multisets of rows. Equal counts and sums of row hashes
  // settle it; otherwise the rows are counted by hash, one slice of the hash space per
  // round so that a round holds at most multiset_round_rows rows of a side, and the first
  // of each side's surplus are named by their values.
  Result<ChunkComparison> multiset() {
    ChunkComparison c;
    auto [sr, tr] = on_both_sides([&] { return src_->position_ranges(tables_.multiset_rows); },
                                  [&] { return tgt_->position_ranges(tables_.multiset_rows); });
    BACKFILL_ASSIGN_OR_RETURN(const std::vector<ChunkRange> src_ranges, std::move(sr));
    BACKFILL_ASSIGN_OR_RETURN(const std::vector<ChunkRange> tgt_ranges, std::move(tr));
    auto total = [&](ChunkScanner& side, const std::vector<ChunkRange>& ranges,
                     bool source) -> Result<ChunkDigest> {
      ChunkDigest sum;
      for (const ChunkRange& r : ranges) {
        BACKFILL_ASSIGN_OR_RETURN(ChunkDigest d, digest(side, r, source));
        sum.rows += d.rows;
        sum.sum += d.sum;
      }
      return sum;
    };
    auto [sd, td] = on_both_sides([&] { return total(*src_, src_ranges, true); },
                                  [&] { return total(*tgt_, tgt_ranges, false); });
    BACKFILL_ASSIGN_OR_RETURN(c.source, std::move(sd));
    BACKFILL_ASSIGN_OR_RETURN(c.target, std::move(td));
    c.missing = 0;
    c.extra = 0;
    if (c.source == c.target) return c;

    const std::int64_t most = std::max(c.source.rows, c.target.rows);
    const auto rounds = static_cast<std::uint64_t>(
        most / std::max<std::int64_t>(1, tables_.multiset_round_rows) + 1);
    // A position and a count per surplus row hash, up to the listing cap for each kind.
    struct Surplus {
      std::int64_t total = 0;
      std::vector<Key> at;
      std::vector<std::int64_t> copies;
    } missing, extra;
    for (std::uint64_t round = 0; round < rounds; ++round) {
      auto seen = [&](ChunkScanner& side, const std::vector<ChunkRange>& ranges,
                      bool source) -> Result<SeenRows> {
        SeenRows rows;
        for (const ChunkRange& r : ranges) {
          BACKFILL_ASSIGN_OR_RETURN(std::vector<KeyedHash> hashes, keyed(side, r, source));
          for (KeyedHash& h : hashes) {
            if (h.hash % rounds != round) continue;
            auto [it, fresh] = rows.try_emplace(h.hash, 0, std::string{});
            if (fresh) it->second.second = join_position(h.key);
            ++it->second.first;
          }
        }
        return rows;
      };
      auto [ss, ts] = on_both_sides([&] { return seen(*src_, src_ranges, true); },
                                    [&] { return seen(*tgt_, tgt_ranges, false); });
      BACKFILL_ASSIGN_OR_RETURN(SeenRows s, std::move(ss));
      BACKFILL_ASSIGN_OR_RETURN(SeenRows t, std::move(ts));
      auto count = [&](const SeenRows& a, const SeenRows& b, Surplus* out) {
        for (const auto& [hash, row] : a) {
          auto other = b.find(hash);
          const std::int64_t more = row.first - (other == b.end() ? 0 : other->second.first);
          if (more <= 0) continue;
          out->total += more;
          if (static_cast<std::int64_t>(out->at.size()) < max_listed_) {
            out->at.push_back(split_position(row.second));
            out->copies.push_back(more);
          }
        }
      };
      count(s, t, &missing);
      count(t, s, &extra);
    }
    c.missing = missing.total;
    c.extra = extra.total;

    // The listing cap shared by both kinds: each gets at least half of it when the other
    // has as many, so that a changed row shows as both its halves.
    const std::int64_t cap = max_listed_;
    const std::int64_t extra_quota = std::min(extra.total, std::max(cap - missing.total, cap / 2));
    const std::int64_t missing_quota = std::min(missing.total, cap - extra_quota);
    auto [sv, tv] = on_both_sides(
        [&] {
          return missing.at.empty() || missing_quota == 0
                     ? Result<std::vector<Key>>(std::vector<Key>{})
                     : src_->values_at(missing.at);
        },
        [&] {
          return extra.at.empty() || extra_quota == 0 ? Result<std::vector<Key>>(std::vector<Key>{})
                                                      : tgt_->values_at(extra.at);
        });
    BACKFILL_ASSIGN_OR_RETURN(const std::vector<Key> missing_values, std::move(sv));
    BACKFILL_ASSIGN_OR_RETURN(const std::vector<Key> extra_values, std::move(tv));
    auto list = [&](const std::vector<Key>& values, const Surplus& rows, std::int64_t quota,
                    DiffKind kind) {
      std::vector<RowDifference> out;
      for (std::size_t i = 0; i < values.size() && i < rows.copies.size(); ++i) {
        // Named by the row now at its position: one deleted since is not named (it is still
        // counted), and one written there since would be named in its place.
        if (values[i].empty()) continue;
        for (std::int64_t k = 0; k < rows.copies[i]; ++k) {
          if (static_cast<std::int64_t>(out.size()) >= quota) break;
          out.push_back({values[i], kind});
        }
      }
      std::sort(out.begin(), out.end(),
                [](const RowDifference& a, const RowDifference& b) { return a.key < b.key; });
      c.differences.insert(c.differences.end(), out.begin(), out.end());
    };
    list(missing_values, missing, missing_quota, DiffKind::kMissing);
    list(extra_values, extra, extra_quota, DiffKind::kExtra);
    return c;
  }

  // The range's count and row-hash sum on one side, by the job's method; the source's rows
  // through --map first.
  Result<ChunkDigest> digest(ChunkScanner& side, const ChunkRange& range, bool source) {
    if (tables_.method == HashMethod::kPushDown) return side.digest(range);
    if (source && tables_.map) {
      // The rows are transformed before they are hashed, so the chunk is read whole first.
      BACKFILL_RETURN_IF_ERROR(read_whole(side, range, false, true, src_bytes_));
      return cpu_.run([&]() -> Result<ChunkDigest> {
        CopyDigester digester(tables_.norms);
        BACKFILL_RETURN_IF_ERROR(digester.feed(src_bytes_));
        return digester.finish();
      });
    }
    CopyDigester digester(tables_.norms);
    BACKFILL_RETURN_IF_ERROR(side.stream(
        range, false, [&](std::string_view message) { return digester.feed(message); }));
    return digester.finish();
  }

  // The range's (key, row hash) list on one side. Streamed, the digests came from the
  // compared columns alone, and the range is read again with its key texts (measured over
  // 5M rows: key texts and a list entry per row cost more than the hashing itself).
  Result<std::vector<KeyedHash>> keyed(ChunkScanner& side, const ChunkRange& range, bool source) {
    if (tables_.method == HashMethod::kPushDown) return side.row_hashes(range);
    std::string& bytes = source ? src_bytes_ : tgt_bytes_;
    BACKFILL_RETURN_IF_ERROR(read_whole(side, range, true, source && tables_.map, bytes));
    return cpu_.run([&] {
      return hash_copy_rows(bytes, tables_.key_fields, tables_.norms, nullptr, !tables_.multiset);
    });
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

  std::unique_ptr<SourceScanner> src_;
  std::unique_ptr<TargetScanner> tgt_;
  const VerifiedTables& tables_;
  CpuStage& cpu_;
  std::int64_t max_listed_;
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
        return std::make_unique<Comparer>(std::move(s), std::move(t), tables, cpu,
                                          options.max_diffs);
      }));

  std::int64_t differences_this_run = 0;  // guarded by the pipeline's commit lock
  std::atomic<bool> out_of_time{false};
  // The recheck delay is the feature (in-flight dual writes land meanwhile), so it is a
  // timed wait; an interrupt cuts it short and skips the recheck.
  auto wait_for_recheck = [&](const Chunk& chunk, std::size_t differences,
                              const ChunkContext& ctx) {
    if (options.log != nullptr) {
      const double wait = std::chrono::duration<double>(options.recheck).count();
      char text[120];
      std::snprintf(text, sizeof text, "chunk %lld: %zu differences; comparing again in %.1f s",
                    static_cast<long long>(chunk.id), differences, wait);
      options.log->info(
          "recheck", text,
          {{"chunk", chunk.id}, {"differences", differences}, {"wait_seconds", wait}});
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
    // A multiset's differences are counted, not all listed: its second look stands alone.
    auto differing = [&] {
      return result.missing ? *result.missing + *result.extra
                            : static_cast<std::int64_t>(result.differences.size());
    };
    if (run.status.is_ok() && differing() > 0 && options.recheck.count() > 0 &&
        wait_for_recheck(chunk, static_cast<std::size_t>(differing()), ctx)) {
      std::vector<RowDifference> first = std::move(result.differences);
      run.status = compare();
      if (!result.missing) {
        std::erase_if(result.differences, [&](const RowDifference& d) {
          return std::find(first.begin(), first.end(), d) == first.end();
        });
      }
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
    if (result.missing) {  // a multiset's: counted in full, listed in part
      r.missing = *result.missing;
      r.extra = *result.extra;
    } else {
      for (const auto& d : result.differences) {
        (d.kind == DiffKind::kMissing ? r.missing
         : d.kind == DiffKind::kExtra ? r.extra
                                      : r.different)++;
      }
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
    // The verdict covers the whole pass, including chunks that earlier runs verified. Read
    // with retries, as a chunk is: a session lost here must not turn a verdict into exit 3.
    const Status read = retry_logged(options, nullptr, run.retries, [&]() -> Status {
      BACKFILL_ASSIGN_OR_RETURN(stats.results, ledger.results(options.max_diffs));
      return Status::ok();
    });
    if (!read.is_ok() && run.error.is_ok()) {
      run.outcome = JobOutcome::kFailed;
      run.error = read.with_context("reading the results");
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
