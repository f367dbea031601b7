// Preflight and SQL for `backfill update`: a table's rows filled in place, chunk by chunk,
// by --set "column = SQL expression". Each chunk is one
//   UPDATE t AS s SET c = (e), ... WHERE <key in the chunk> [AND (--where)]
//     AND (c IS DISTINCT FROM (e)::type OR ...)
// so a rerun, or a row the application's dual writes already filled, changes nothing.
//
// With --map "column = expression" (computed by the engine, not by the server) a chunk is:
// read the keys and the columns the expressions use, compute (the engine's CPU stage), then
// in one transaction COPY the keys, results and inputs into a temporary staging table and
//   UPDATE t AS s SET c = st.c, ... FROM stage st WHERE s.key = st.key AND <key in the chunk>
//     AND s.input IS NOT DISTINCT FROM st.input ... AND (s.c IS DISTINCT FROM st.c OR ...)
// A row whose inputs changed between the read and the write is left to the writer that
// changed them (the application's dual write fills it); nothing is computed from a stale
// read.
// Preflight refuses, before anything is written: an unknown column, a key or generated
// column, a column set twice, and an expression or --where that does not parse or does not
// fit the column (the whole UPDATE is planned with EXPLAIN, which runs nothing).
#pragma once

#include <string>
#include <vector>

#include "drivers/postgres/copy_spec.hpp"
#include "engine/jobs/update_job.hpp"

namespace backfill::pg {

struct SetClause {
  std::string column;
  std::string type;  // the column's type, for the guard's cast
  std::string expr;  // SQL, as given
};

struct UpdateSpec {
  CopySpec keys;  // the table as both source and target: key, key types, walker SQL
  std::vector<SetClause> sets;
  std::string where;
  // --map: the columns computed here (type: the column's), the expressions' texts, what the
  // read selects for their inputs and the inputs' types; the plan turns a read row (key,
  // inputs) into a staging row (key, results, inputs). Null map: --set only.
  std::vector<SetClause> mapped;
  std::vector<std::string> map_inputs, map_input_types;
  std::shared_ptr<const MapPlan> map;
  std::vector<std::string> warnings;  // for the job to print before it starts

  std::string update_sql(const ChunkRange& range) const;
  // --map: the chunk's keys and inputs; the staging table; the UPDATE from it.
  std::string map_read_sql(const ChunkRange& range) const;  // COPY of map_select_sql
  std::string map_select_sql(const ChunkRange& range) const;
  std::string stage_create_sql() const;
  std::string stage_copy_sql() const;
  std::string update_from_stage_sql(const ChunkRange& range) const;
  std::string fingerprint_text() const;
};

Result<UpdateSpec> plan_update(PgConnection& conn, const UpdateRequest& request);

// The PostgreSQL UpdatedTable: one connection per updater, each chunk its own statement.
class PgUpdatedTable final : public UpdatedTable {
 public:
  PgUpdatedTable(std::string dsn, SessionSettings settings, std::shared_ptr<const UpdateSpec> spec)
      : dsn_(std::move(dsn)), settings_(std::move(settings)), spec_(std::move(spec)) {}
  Result<std::unique_ptr<ChunkUpdater>> open_updater() override;
  Result<std::unique_ptr<KeyWalker>> open_walker() override;
  std::optional<std::int64_t> estimated_rows() const override {
    return spec_->keys.source.estimated_rows;
  }
  std::shared_ptr<const MapPlan> map() const override { return spec_->map; }

 private:
  std::string dsn_;
  SessionSettings settings_;
  std::shared_ptr<const UpdateSpec> spec_;
};

}  // namespace backfill::pg
