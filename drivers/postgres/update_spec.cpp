#include "drivers/postgres/update_spec.hpp"

#include <algorithm>

#include "drivers/postgres/source.hpp"
#include "drivers/postgres/sql.hpp"

namespace backfill::pg {
namespace {

std::string trimmed(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\n");
  const auto e = s.find_last_not_of(" \t\n");
  return b == std::string_view::npos ? "" : std::string(s.substr(b, e - b + 1));
}

class PgChunkUpdater final : public ChunkUpdater {
 public:
  PgChunkUpdater(std::unique_ptr<PgConnection> conn, std::shared_ptr<const UpdateSpec> spec)
      : conn_(std::move(conn)), spec_(std::move(spec)) {}
  // One statement: its own transaction, holding its row locks only while it runs.
  Result<std::int64_t> update(const ChunkRange& range) override {
    BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn_->query(spec_->update_sql(range)));
    return r.affected();
  }
  Status reset() override { return conn_->reconnect(); }

 private:
  std::unique_ptr<PgConnection> conn_;
  std::shared_ptr<const UpdateSpec> spec_;
};

}  // namespace

std::string UpdateSpec::update_sql(const ChunkRange& range) const {
  std::string set, guard;
  for (std::size_t i = 0; i < sets.size(); ++i) {
    const auto col = quote_ident(sets[i].column);
    set += (i ? ", " : "") + col + " = (" + sets[i].expr + ")";
    guard += (i ? " OR " : "") + col + " IS DISTINCT FROM CAST((" + sets[i].expr + ") AS " +
             sets[i].type + ")";
  }
  std::string sql = "UPDATE " + keys.source.quoted() + " AS s SET " + set + " WHERE " +
                    keys.range_predicate(range);
  if (!where.empty()) sql += " AND (" + where + ")";
  return sql + " AND (" + guard + ")";
}

std::string UpdateSpec::fingerprint_text() const {
  std::string out = "update " + keys.source.quoted() + " key " + join_quoted(keys.key);
  for (const auto& s : sets) out += " set " + quote_ident(s.column) + " = " + s.expr;
  return out + " where " + where;
}

Result<UpdateSpec> plan_update(PgConnection& conn, const UpdateRequest& req) {
  UpdateSpec spec;
  BACKFILL_ASSIGN_OR_RETURN(QualifiedName name, parse_qualified_name(req.table));
  BACKFILL_ASSIGN_OR_RETURN(TableInfo t, describe_table(conn, name));
  spec.keys.source = t;
  spec.keys.target = t;
  BACKFILL_RETURN_IF_ERROR(resolve_key(t, req.key, &spec.keys.key, &spec.keys.key_types));
  spec.keys.target_key = spec.keys.key;
  spec.where = req.where;
  if (req.sets.empty()) return Status::invalid("give at least one --set \"column = expression\"");
  for (const auto& s : req.sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || trimmed(s.substr(eq + 1)).empty()) {
      return Status::invalid("--set \"" + s + "\": expected \"column = SQL expression\"");
    }
    auto col = parse_identifier(trimmed(s.substr(0, eq)));
    if (!col.ok()) return col.status().with_context("--set \"" + s + "\"");
    const ColumnInfo* c = t.column(*col);
    if (!c) {
      return Status::invalid("--set \"" + s + "\": table " + t.display() + " has no column \"" +
                             *col + "\"");
    }
    if (std::find(spec.keys.key.begin(), spec.keys.key.end(), *col) != spec.keys.key.end()) {
      return Status::invalid("--set \"" + s + "\": \"" + *col +
                             "\" is a key column; chunks are planned over the key, so it "
                             "cannot change under them");
    }
    if (c->generated) {
      return Status::invalid("--set \"" + s + "\": \"" + *col + "\" is a generated column");
    }
    for (const auto& done : spec.sets) {
      if (done.column == *col)
        return Status::invalid("--set: column \"" + *col + "\" is set twice");
    }
    spec.sets.push_back({*col, c->type, trimmed(s.substr(eq + 1))});
  }
  // Plan the whole statement (EXPLAIN runs nothing): a syntax error, an unknown column or
  // function, or a value that does not fit its column's type fails here with the server's
  // message, before anything is written. Each --set alone first, to name the one at fault.
  for (std::size_t i = 0; i < spec.sets.size(); ++i) {
    UpdateSpec one = spec;
    one.sets = {spec.sets[i]};
    one.where.clear();
    auto r = conn.exec("EXPLAIN (COSTS OFF) " + one.update_sql(ChunkRange{}));
    if (!r.is_ok()) {
      return Status::invalid("--set \"" + req.sets[i] + "\": " + r.message());
    }
  }
  if (!spec.where.empty()) {
    auto r = conn.exec("EXPLAIN (COSTS OFF) " + spec.update_sql(ChunkRange{}));
    if (!r.is_ok()) return Status::invalid("--where: " + r.message());
  }
  return spec;
}

Result<std::unique_ptr<ChunkUpdater>> PgUpdatedTable::open_updater() {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn_, settings_));
  return std::unique_ptr<ChunkUpdater>(new PgChunkUpdater(std::move(conn), spec_));
}

Result<std::unique_ptr<KeyWalker>> PgUpdatedTable::open_walker() {
  BACKFILL_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(dsn_, settings_));
  // The walker needs only the key; the spec outlives it through the shared pointer.
  return std::unique_ptr<KeyWalker>(
      new PgKeyWalker(std::move(conn), std::shared_ptr<const CopySpec>(spec_, &spec_->keys)));
}

}  // namespace backfill::pg
