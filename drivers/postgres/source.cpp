#include "drivers/postgres/source.hpp"

#include <algorithm>
#include <string>

namespace backfill::pg {
namespace {

class PgChunkReader final : public ChunkReader {
 public:
  PgChunkReader(std::unique_ptr<PgConnection> conn, std::shared_ptr<const CopySpec> spec)
      : conn_(std::move(conn)), spec_(std::move(spec)) {}

  // One COPY statement is its own transaction: the snapshot lives only while it runs. Its
  // CopyData messages are rows (the first with the header), so each is handed on as it is.
  Status read(const ChunkRange& range, const DataSink& on_data) override {
    return conn_->copy_out_each(spec_->read_sql(range), on_data);
  }
  Status reset() override { return conn_->reconnect(); }

 private:
  std::unique_ptr<PgConnection> conn_;
  std::shared_ptr<const CopySpec> spec_;
};

}  // namespace

std::int64_t TidExtent::pages_for(std::int64_t rows) const {
  const double n = static_cast<double>(rows) / std::max(rows_per_page, 1e-9);
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(n + 0.5));
}

std::vector<ChunkRange> TidExtent::ranges(std::int64_t rows) const {
  std::vector<ChunkRange> out;
  const std::int64_t step = pages_for(rows);
  std::optional<Key> lo;
  for (std::int64_t p = step; p < pages; p += step) {
    out.push_back({lo, tid_bound(p)});
    lo = tid_bound(p);
  }
  out.push_back({lo, std::nullopt});
  return out;
}

Result<TidExtent> read_tid_extent(PgConnection& conn, const TableInfo& table) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn.query(tid_extent_sql(), {std::to_string(table.oid)}));
  TidExtent e;
  e.pages = r.int64(0, 0);
  e.rows_per_page = std::stod(r.text(0, 1));
  if (e.rows_per_page <= 0 && e.pages > 0) {
    // Never analysed: count the rows of its first pages (of every partition).
    const std::int64_t sample = std::min<std::int64_t>(e.pages, 16);
    BACKFILL_ASSIGN_OR_RETURN(
        PgResult n, conn.query("SELECT count(*) FROM " + table.quoted() + " WHERE ctid < $1::tid",
                               {tid_bound(sample)[0]}));
    e.rows_per_page = static_cast<double>(n.int64(0, 0)) / static_cast<double>(sample);
  }
  if (e.rows_per_page <= 0) e.rows_per_page = 1;
  return e;
}

Result<std::optional<Key>> PgKeyWalker::boundary_after(const std::optional<Key>& after,
                                                       std::int64_t rows) {
  if (spec_->keyless) {
    // Pages, not rows: no index to walk. The extent is read once; the last chunk is
    // open-ended, so pages added meanwhile are in it.
    if (!extent_) {
      auto e = read_tid_extent(*conn_, spec_->source);
      if (!e.ok()) return e.status().with_context("planning chunks of " + spec_->source.display());
      extent_ = e.value();
    }
    std::int64_t from = 0;
    if (after) {
      BACKFILL_ASSIGN_OR_RETURN(from, tid_page(*after));
    }
    const std::int64_t next = from + extent_->pages_for(rows);
    if (next >= extent_->pages) return std::optional<Key>{};
    return std::optional<Key>(tid_bound(next));
  }
  Params params;
  if (after) {
    for (const auto& v : *after) params.emplace_back(v);
  }
  params.emplace_back(std::to_string(rows - 1));
  auto r = conn_->query(after ? spec_->boundary_sql() : spec_->first_boundary_sql(), params);
  if (!r.ok() && r.status().retryable()) {
    // One reconnect covers a dropped idle connection between planning rounds.
    BACKFILL_RETURN_IF_ERROR(conn_->reconnect());
    r = conn_->query(after ? spec_->boundary_sql() : spec_->first_boundary_sql(), params);
  }
  if (!r.ok()) return r.status().with_context("planning chunks of " + spec_->source.display());
  if (r->rows() == 0) return std::optional<Key>{};
  Key key;
  for (int c = 0; c < r->columns(); ++c) key.push_back(r->text(0, c));
  return std::optional<Key>(std::move(key));
}

Result<std::optional<Key>> PgKeyWalker::split_point(const ChunkRange& range) {
  if (spec_->keyless) {
    std::int64_t hi = 0, lo = 0;
    if (range.hi) {
      BACKFILL_ASSIGN_OR_RETURN(hi, tid_page(*range.hi));
    } else {
      BACKFILL_ASSIGN_OR_RETURN(TidExtent now, read_tid_extent(*conn_, spec_->source));
      hi = now.pages;
    }
    if (range.lo) {
      BACKFILL_ASSIGN_OR_RETURN(lo, tid_page(*range.lo));
    }
    if (hi - lo < 2) return std::optional<Key>{};
    return std::optional<Key>(tid_bound(lo + (hi - lo) / 2));
  }
  BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn_->query(spec_->split_point_sql(range)));
  const int k = static_cast<int>(spec_->key.size());
  if (r.rows() == 0 || r.int64(0, k) < 2) return std::optional<Key>{};
  Key key;
  for (int c = 0; c < k; ++c) key.push_back(r.text(0, c));
  return std::optional<Key>(std::move(key));
}

Result<std::unique_ptr<ChunkReader>> PgSource::open_reader() {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn_, settings_));
  return std::unique_ptr<ChunkReader>(new PgChunkReader(std::move(conn), spec_));
}

Result<std::unique_ptr<KeyWalker>> PgSource::open_walker() {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn_, settings_));
  return std::unique_ptr<KeyWalker>(new PgKeyWalker(std::move(conn), spec_));
}

}  // namespace backfill::pg
