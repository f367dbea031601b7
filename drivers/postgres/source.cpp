#include "drivers/postgres/source.hpp"

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

Result<std::optional<Key>> PgKeyWalker::boundary_after(const std::optional<Key>& after,
                                                       std::int64_t rows) {
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
