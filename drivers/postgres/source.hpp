// PostgreSQL Source: reads chunks of a source table with binary COPY, and walks its key
// index for the planner. Each reader and walker owns its own connection; PgSource itself
// only holds the spec and the DSN, so it is thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "drivers/postgres/copy_spec.hpp"
#include "engine/table/source.hpp"

namespace backfill::pg {

class PgSource final : public Source {
 public:
  PgSource(std::string dsn, SessionSettings settings, std::shared_ptr<const CopySpec> spec)
      : dsn_(std::move(dsn)), settings_(std::move(settings)), spec_(std::move(spec)) {}
  Result<std::unique_ptr<ChunkReader>> open_reader() override;
  Result<std::unique_ptr<KeyWalker>> open_walker() override;
  std::optional<std::int64_t> estimated_rows() const override {
    return spec_->source.estimated_rows;
  }

 private:
  std::string dsn_;
  SessionSettings settings_;
  std::shared_ptr<const CopySpec> spec_;
};

// A keyless table's extent, for TID chunking: its pages (its largest partition's), and the
// rows a page holds, from the statistics or else counted on its first pages.
struct TidExtent {
  std::int64_t pages = 0;
  double rows_per_page = 1;
  // Pages for a chunk of about `rows` rows; at least one.
  std::int64_t pages_for(std::int64_t rows) const;
  // The table cut into ranges of about `rows` rows, the last one open-ended (rows added past
  // the end while a job runs are in it).
  std::vector<ChunkRange> ranges(std::int64_t rows) const;
};
Result<TidExtent> read_tid_extent(PgConnection& conn, const TableInfo& table);

// The walker on its own, for `plan`, which needs boundaries but no ledger.
class PgKeyWalker final : public KeyWalker {
 public:
  PgKeyWalker(std::unique_ptr<PgConnection> conn, std::shared_ptr<const CopySpec> spec)
      : conn_(std::move(conn)), spec_(std::move(spec)) {}
  Result<std::optional<Key>> boundary_after(const std::optional<Key>& after,
                                            std::int64_t rows) override;
  Result<std::optional<Key>> split_point(const ChunkRange& range) override;

 private:
  std::unique_ptr<PgConnection> conn_;
  std::shared_ptr<const CopySpec> spec_;
  std::optional<TidExtent> extent_;  // keyless: read on the first boundary
};

}  // namespace backfill::pg
