#include "drivers/postgres/compare.hpp"

#include <future>

#include "drivers/postgres/source.hpp"

namespace backfill::pg {
namespace {

Result<ChunkDigest> digest(PgConnection& conn, const std::string& sql) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn.query(sql));
  ChunkDigest d;
  d.rows = r.int64(0, 0);
  BACKFILL_ASSIGN_OR_RETURN(d.sum, sum_mod_2_64(r.text(0, 1)));
  return d;
}

Result<std::vector<KeyedHash>> keyed_hashes(PgConnection& conn, const std::string& sql,
                                            std::size_t key_columns) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn.query(sql));
  std::vector<KeyedHash> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) {
    KeyedHash kh;
    for (std::size_t c = 0; c < key_columns; ++c) kh.key.push_back(r.text(i, static_cast<int>(c)));
    kh.hash = static_cast<std::uint64_t>(r.int64(i, static_cast<int>(key_columns)));
    out.push_back(std::move(kh));
  }
  return out;
}

// Runs `source` on a helper thread and `target` on this one, so both servers work on the
// chunk at the same time; returns when both are done. Each side uses only its own
// connection.
template <typename S, typename T>
auto on_both_sides(S&& source, T&& target) {
  auto source_side = std::async(std::launch::async, std::forward<S>(source));
  auto t = target();
  return std::make_pair(source_side.get(), std::move(t));
}

class PgComparer final : public ChunkComparer {
 public:
  PgComparer(std::unique_ptr<PgConnection> src, std::unique_ptr<PgConnection> tgt,
             std::shared_ptr<const VerifySpec> spec, CompareOptions options)
      : src_(std::move(src)), tgt_(std::move(tgt)), spec_(std::move(spec)), options_(options) {}

  Result<ChunkComparison> compare(const ChunkRange& range) override {
    return options_.method == HashMethod::kPushDown ? push_down(range) : streamed(range);
  }

  // Deletes every differing or extra key from the target and copies the missing and
  // different rows from the source, in one target transaction.
  Status repair(const std::vector<RowDifference>& diffs) override {
    std::vector<Key> all, from_source;
    for (const auto& d : diffs) {
      all.push_back(d.key);
      if (d.kind != DiffKind::kExtra) from_source.push_back(d.key);
    }
    std::string rows;
    if (!from_source.empty()) {
      BACKFILL_RETURN_IF_ERROR(src_->copy_out(spec_->source_rows_by_key_sql(from_source), &rows));
      if (spec_->copy.map) {
        BACKFILL_ASSIGN_OR_RETURN(CopyBatch out,
                                  MapTransform(spec_->copy.map).apply({std::move(rows), 0}));
        rows = std::move(out.bytes);
      }
    }
    const Status st = tgt_->transaction([&]() -> Status {
      BACKFILL_RETURN_IF_ERROR(tgt_->exec(spec_->target_delete_by_key_sql(all)));
      if (rows.empty()) return Status::ok();
      return tgt_->copy_in(spec_->copy.write_into_target_sql(), rows).status();
    });
    return st.with_context("repairing " + std::to_string(diffs.size()) + " rows");
  }

  Status reset() override {
    BACKFILL_RETURN_IF_ERROR(src_->reconnect());
    return tgt_->reconnect();
  }

 private:
  Result<ChunkComparison> push_down(const ChunkRange& range) {
    ChunkComparison c;
    auto [sd, td] = on_both_sides([&] { return digest(*src_, spec_->source_digest_sql(range)); },
                                  [&] { return digest(*tgt_, spec_->target_digest_sql(range)); });
    BACKFILL_ASSIGN_OR_RETURN(c.source, std::move(sd));
    BACKFILL_ASSIGN_OR_RETURN(c.target, std::move(td));
    if (c.source == c.target) return c;
    // Only a mismatching chunk's (key, row hash) lists travel.
    const std::size_t k = spec_->copy.key.size();
    auto [sh, th] =
        on_both_sides([&] { return keyed_hashes(*src_, spec_->source_rows_sql(range), k); },
                      [&] { return keyed_hashes(*tgt_, spec_->target_rows_sql(range), k); });
    BACKFILL_ASSIGN_OR_RETURN(auto s, std::move(sh));
    BACKFILL_ASSIGN_OR_RETURN(auto t, std::move(th));
    c.differences = diff_rows(std::move(s), std::move(t));
    return c;
  }

  // The digests from the compared columns alone, hashed as the rows arrive; a mismatching
  // chunk is read again with its key texts to name the rows (measured over 5M rows: key
  // texts and a list entry per row cost more than the hashing itself).
  Result<ChunkComparison> streamed(const ChunkRange& range) {
    ChunkComparison c;
    auto digest_of = [&](PgConnection& conn, const std::string& sql) -> Result<ChunkDigest> {
      CopyDigester digester(spec_->norms);
      BACKFILL_RETURN_IF_ERROR(conn.copy_out_each(
          sql, [&](std::string_view message) { return digester.feed(message); }));
      return digester.finish();
    };
    // With --map the source's rows are transformed before they are hashed, so the chunk is
    // read whole first.
    auto mapped_digest_of = [&](PgConnection& conn, const std::string& sql) -> Result<ChunkDigest> {
      src_bytes_.clear();
      BACKFILL_RETURN_IF_ERROR(conn.copy_out(sql, &src_bytes_));
      BACKFILL_ASSIGN_OR_RETURN(CopyBatch out,
                                MapTransform(spec_->copy.map).apply({std::move(src_bytes_), 0}));
      CopyDigester digester(spec_->norms);
      BACKFILL_RETURN_IF_ERROR(digester.feed(out.bytes));
      src_bytes_ = std::move(out.bytes);  // keeps the capacity for the next chunk
      return digester.finish();
    };
    auto [sd, td] = on_both_sides(
        [&] {
          const std::string sql = spec_->source_stream_sql(range, false);
          return spec_->copy.map ? mapped_digest_of(*src_, sql) : digest_of(*src_, sql);
        },
        [&] { return digest_of(*tgt_, spec_->target_stream_sql(range, false)); });
    BACKFILL_ASSIGN_OR_RETURN(c.source, std::move(sd));
    BACKFILL_ASSIGN_OR_RETURN(c.target, std::move(td));
    if (c.source == c.target) return c;
    const std::size_t k = spec_->copy.key.size();
    auto keyed = [&](PgConnection& conn, const std::string& sql, std::string& bytes,
                     bool mapped) -> Result<std::vector<KeyedHash>> {
      bytes.clear();
      BACKFILL_RETURN_IF_ERROR(conn.copy_out(sql, &bytes));
      if (mapped) {
        MapTransform transform(spec_->copy.map, static_cast<int>(k));
        BACKFILL_ASSIGN_OR_RETURN(CopyBatch out, transform.apply({std::move(bytes), 0}));
        bytes = std::move(out.bytes);
      }
      return hash_copy_rows(bytes, k, spec_->norms, nullptr);
    };
    const bool mapped = spec_->copy.map != nullptr;
    auto [sh, th] = on_both_sides(
        [&] { return keyed(*src_, spec_->source_stream_sql(range, true), src_bytes_, mapped); },
        [&] { return keyed(*tgt_, spec_->target_stream_sql(range, true), tgt_bytes_, false); });
    BACKFILL_ASSIGN_OR_RETURN(auto s, std::move(sh));
    BACKFILL_ASSIGN_OR_RETURN(auto t, std::move(th));
    c.differences = diff_rows(std::move(s), std::move(t));
    return c;
  }

  std::unique_ptr<PgConnection> src_, tgt_;
  std::string src_bytes_, tgt_bytes_;  // a chunk's COPY stream, reused (capacity kept)
  std::shared_ptr<const VerifySpec> spec_;
  CompareOptions options_;
};

}  // namespace

Result<std::unique_ptr<ChunkComparer>> PgComparedTables::open_comparer() {
  BACKFILL_ASSIGN_OR_RETURN(auto s, PgConnection::connect(source_dsn_, settings_));
  BACKFILL_ASSIGN_OR_RETURN(auto t, PgConnection::connect(target_dsn_, settings_));
  return std::unique_ptr<ChunkComparer>(
      new PgComparer(std::move(s), std::move(t), spec_, options_));
}

Result<std::unique_ptr<KeyWalker>> PgComparedTables::open_walker() {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(source_dsn_, settings_));
  auto copy = std::shared_ptr<const CopySpec>(spec_, &spec_->copy);
  return std::unique_ptr<KeyWalker>(new PgKeyWalker(std::move(conn), copy));
}

}  // namespace backfill::pg
