#include "drivers/postgres/compare.hpp"

#include "drivers/postgres/source.hpp"

namespace backfill::pg {
namespace {

Result<ChunkDigest> digest(PgConnection& conn, const std::string& sql) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn.query(sql));
  ChunkDigest d;
  d.rows = r.int64(0, 0);
  d.sum = combine_hash_halves(r.int64(0, 1), r.int64(0, 2));
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
    }
    BACKFILL_RETURN_IF_ERROR(tgt_->exec("BEGIN"));
    auto body = [&]() -> Status {
      BACKFILL_RETURN_IF_ERROR(tgt_->exec(spec_->target_delete_by_key_sql(all)));
      if (!rows.empty()) {
        BACKFILL_RETURN_IF_ERROR(tgt_->copy_in(spec_->copy.write_into_target_sql(), rows).status());
      }
      return tgt_->exec("COMMIT");
    };
    Status st = body();
    if (!st.is_ok() && tgt_->healthy()) (void)tgt_->exec("ROLLBACK");
    return st.with_context("repairing " + std::to_string(diffs.size()) + " rows");
  }

  Status reset() override {
    BACKFILL_RETURN_IF_ERROR(src_->reconnect());
    return tgt_->reconnect();
  }

 private:
  Result<ChunkComparison> push_down(const ChunkRange& range) {
    ChunkComparison c;
    BACKFILL_ASSIGN_OR_RETURN(c.source, digest(*src_, spec_->source_digest_sql(range)));
    BACKFILL_ASSIGN_OR_RETURN(c.target, digest(*tgt_, spec_->target_digest_sql(range)));
    if (c.source == c.target) return c;
    // Only a mismatching chunk's (key, row hash) lists travel.
    const std::size_t k = spec_->copy.key.size();
    BACKFILL_ASSIGN_OR_RETURN(auto s, keyed_hashes(*src_, spec_->source_rows_sql(range), k));
    BACKFILL_ASSIGN_OR_RETURN(auto t, keyed_hashes(*tgt_, spec_->target_rows_sql(range), k));
    c.differences = diff_rows(std::move(s), std::move(t));
    return c;
  }

  Result<ChunkComparison> streamed(const ChunkRange& range) {
    ChunkComparison c;
    const std::size_t k = spec_->copy.key.size();
    std::string bytes;
    BACKFILL_RETURN_IF_ERROR(src_->copy_out(spec_->source_stream_sql(range), &bytes));
    BACKFILL_ASSIGN_OR_RETURN(auto s, hash_copy_rows(bytes, k, spec_->norms, &c.source));
    bytes.clear();
    BACKFILL_RETURN_IF_ERROR(tgt_->copy_out(spec_->target_stream_sql(range), &bytes));
    BACKFILL_ASSIGN_OR_RETURN(auto t, hash_copy_rows(bytes, k, spec_->norms, &c.target));
    if (!(c.source == c.target)) c.differences = diff_rows(std::move(s), std::move(t));
    return c;
  }

  std::unique_ptr<PgConnection> src_, tgt_;
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
