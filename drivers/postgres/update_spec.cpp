#include "drivers/postgres/update_spec.hpp"

#include <algorithm>

#include "drivers/postgres/map_spec.hpp"
#include "drivers/postgres/source.hpp"
#include "drivers/postgres/sql.hpp"

namespace backfill::pg {
namespace {

std::string trimmed(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\n");
  const auto e = s.find_last_not_of(" \t\n");
  return b == std::string_view::npos ? "" : std::string(s.substr(b, e - b + 1));
}

// One connection. --set: each chunk one statement, its own transaction, holding its row
// locks only while it runs. --map: the chunk's keys and inputs read, and the engine's results
// written back through the staging table (see the header).
class PgChunkUpdater final : public ChunkUpdater {
 public:
  PgChunkUpdater(std::unique_ptr<PgConnection> conn, std::shared_ptr<const UpdateSpec> spec)
      : conn_(std::move(conn)), spec_(std::move(spec)) {}

  Result<std::int64_t> update(const ChunkRange& range) override {
    BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn_->query(spec_->update_sql(range)));
    return r.affected();
  }

  Status read(const ChunkRange& range, std::string* out) override {
    return conn_->copy_out(spec_->map_read_sql(range), out);
  }

  Result<std::int64_t> write(const ChunkRange& range, std::string_view computed) override {
    // Created outside the chunk's transaction: a rolled-back chunk must not take the
    // session's staging table with it.
    if (!stage_ready_) {
      BACKFILL_RETURN_IF_ERROR(conn_->exec(spec_->stage_create_sql()));
      stage_ready_ = true;
    }
    std::int64_t changed = 0;
    const Status written = conn_->transaction([&]() -> Status {
      BACKFILL_RETURN_IF_ERROR(conn_->copy_in(spec_->stage_copy_sql(), computed).status());
      BACKFILL_ASSIGN_OR_RETURN(PgResult r, conn_->query(spec_->update_from_stage_sql(range)));
      changed = r.affected();
      return Status::ok();
    });
    if (!written.is_ok()) return written;
    return changed;
  }

  Status reset() override {
    stage_ready_ = false;  // a new session has no temporary table
    return conn_->reconnect();
  }

 private:
  std::unique_ptr<PgConnection> conn_;
  std::shared_ptr<const UpdateSpec> spec_;
  bool stage_ready_ = false;
};

// Staging columns: the key under its own names, the results under theirs, the inputs as
// backfill_in_0, backfill_in_1, ... (an input may share a name with a key or a result).
std::string stage_input(std::size_t k) { return "backfill_in_" + std::to_string(k); }

}  // namespace

std::string UpdateSpec::map_read_sql(const ChunkRange& range) const {
  return "COPY (" + map_select_sql(range) + ") TO STDOUT (FORMAT binary)";
}

std::string UpdateSpec::map_select_sql(const ChunkRange& range) const {
  std::string sql = "SELECT ";
  for (std::size_t i = 0; i < keys.key.size(); ++i)
    sql += (i ? ", s." : "s.") + quote_ident(keys.key[i]);
  for (const auto& in : map_inputs) sql += ", s." + in;
  sql += " FROM " + keys.source.quoted() + " AS s WHERE " + keys.range_predicate(range);
  if (!where.empty()) sql += " AND (" + where + ")";
  return sql;
}

std::string UpdateSpec::stage_create_sql() const {
  std::string cols;
  for (std::size_t i = 0; i < keys.key.size(); ++i) {
    cols += (i ? ", " : "") + quote_ident(keys.key[i]) + " " + keys.key_types[i];
  }
  for (const auto& m : mapped) cols += ", " + quote_ident(m.column) + " " + m.type;
  for (std::size_t k = 0; k < map_inputs.size(); ++k)
    cols += ", " + stage_input(k) + " " + map_input_types[k];
  return "CREATE TEMP TABLE IF NOT EXISTS backfill_update_stage (" + cols +
         ") ON COMMIT DELETE ROWS";
}

std::string UpdateSpec::stage_copy_sql() const {
  return "COPY pg_temp.backfill_update_stage FROM STDIN (FORMAT binary)";
}

std::string UpdateSpec::update_from_stage_sql(const ChunkRange& range) const {
  std::string set, guard, join, same_inputs;
  for (const auto& m : mapped) {
    const auto col = quote_ident(m.column);
    set += (set.empty() ? "" : ", ") + col + " = st." + col;
    guard += std::string(guard.empty() ? "" : " OR ") + "s." + col + " IS DISTINCT FROM st." + col;
  }
  for (const auto& c : sets) {
    const auto col = quote_ident(c.column);
    set += ", " + col + " = (" + c.expr + ")";
    guard += " OR s." + col + " IS DISTINCT FROM CAST((" + c.expr + ") AS " + c.type + ")";
  }
  for (const auto& k : keys.key) join += " AND s." + quote_ident(k) + " = st." + quote_ident(k);
  for (std::size_t k = 0; k < map_inputs.size(); ++k) {
    same_inputs += " AND s." + map_inputs[k] + " IS NOT DISTINCT FROM st." + stage_input(k);
  }
  return "UPDATE " + keys.source.quoted() + " AS s SET " + set +
         " FROM pg_temp.backfill_update_stage AS st WHERE " +
         key_range_predicate(keys.key, keys.key_types, range, "s") + join + same_inputs + " AND (" +
         guard + ")";
}

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
  for (const auto& m : mapped) out += " map " + quote_ident(m.column) + " = " + m.expr;
  return out + " where " + where;
}

namespace {

// --map in update: each expression compiled against the table itself, its column checked
// as --set's are; the plan reads (key, inputs) and stages (key, results, inputs).
Status plan_update_maps(PgConnection& conn, const TableInfo& t, const UpdateRequest& req,
                        UpdateSpec* spec) {
  if (req.maps.empty()) return Status::ok();
  std::shared_ptr<const FunctionRegistry> functions =
      req.functions ? req.functions : std::make_shared<const FunctionRegistry>(builtin_functions());
  BACKFILL_ASSIGN_OR_RETURN(CallContext context,
                            map_context(conn, req.context, req.maps, &spec->warnings));
  MapCompiler compiler(t, *functions, context);
  std::vector<MapOutput> outputs;
  const auto k = static_cast<int>(spec->keys.key.size());
  for (int i = 0; i < k; ++i) {
    outputs.push_back(MapOutput::pass_through(spec->keys.key[static_cast<std::size_t>(i)], i));
  }
  for (const auto& m : req.maps) {
    BACKFILL_ASSIGN_OR_RETURN(MapAssignment a, split_assignment("--map", m));
    const ColumnInfo* c = t.column(a.target);
    if (!c) {
      return Status::invalid("--map \"" + m + "\": table " + t.display() + " has no column \"" +
                             a.target + "\"");
    }
    if (c->generated) {
      return Status::invalid("--map \"" + m + "\": \"" + a.target + "\" of " + t.display() +
                             " is a generated column, which the server computes; it takes no "
                             "--map");
    }
    if (std::find(spec->keys.key.begin(), spec->keys.key.end(), a.target) != spec->keys.key.end()) {
      return Status::invalid("--map \"" + m + "\": \"" + a.target +
                             "\" is a key column; chunks are planned over the key, so it cannot "
                             "change under them");
    }
    for (const auto& done : spec->mapped) {
      if (done.column == a.target) {
        return Status::invalid("--map: column \"" + a.target + "\" is mapped twice");
      }
    }
    BACKFILL_ASSIGN_OR_RETURN(MapOutput out, compiler.compile(m, a, *c));
    spec->mapped.push_back({a.target, c->type.name, a.expression});
    outputs.push_back(std::move(out));
  }
  spec->map_inputs = map_input_reads(compiler, t);
  spec->map_input_types = map_input_types(compiler, t);
  // The inputs pass on into the staging table, for the guard against a concurrent change.
  for (std::size_t i = 0; i < spec->map_inputs.size(); ++i) {
    outputs.push_back(MapOutput::pass_through(stage_input(i), k + static_cast<int>(i)));
  }
  std::vector<MapKeyField> key;  // the key is read first, in its own form
  for (int i = 0; i < k; ++i) {
    const std::string& name = spec->keys.key[static_cast<std::size_t>(i)];
    if (auto codec = write_codec_of(t.column(name)->type.kind)) key.push_back({name, i, *codec});
  }
  if (key.size() != spec->keys.key.size()) key.clear();
  spec->map = compiler.plan(std::move(outputs), k, std::move(key));
  return Status::ok();
}

}  // namespace

Result<UpdateSpec> plan_update(PgConnection& conn, const UpdateRequest& req) {
  UpdateSpec spec;
  BACKFILL_ASSIGN_OR_RETURN(QualifiedName name, parse_qualified_name(req.table));
  BACKFILL_ASSIGN_OR_RETURN(TableInfo t, describe_table(conn, name));
  // Read the rows and update them; a --map's chunk is staged in a temporary table.
  std::vector<std::string> needs{"SELECT", "UPDATE"};
  if (!req.maps.empty()) needs.push_back("TEMPORARY");
  BACKFILL_RETURN_IF_ERROR(check_privileges(conn, t, needs, "--target"));
  spec.keys.source = t;
  spec.keys.target = t;
  BACKFILL_RETURN_IF_ERROR(resolve_key(t, req.key, &spec.keys.key, &spec.keys.key_types));
  spec.keys.target_key = spec.keys.key;
  spec.where = req.where;
  if (req.sets.empty() && req.maps.empty()) {
    return Status::invalid(
        "give at least one --set \"column = SQL expression\" or --map \"column = expression\"");
  }
  BACKFILL_RETURN_IF_ERROR(plan_update_maps(conn, t, req, &spec));
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
    for (const auto& done : spec.mapped) {
      if (done.column == *col)
        return Status::invalid("--set: column \"" + *col + "\" is also --map'ed");
    }
    spec.sets.push_back({*col, c->type.name, trimmed(s.substr(eq + 1))});
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
  // Computed on a few rows where nothing may be written: a --set or --where that writes
  // anything but its column (a function that inserts, nextval()) is refused.
  const std::string rows = "FROM (SELECT * FROM " + t.quoted() + " LIMIT " +
                           std::to_string(kWriteTrialRows) + ") AS s" +
                           (spec.where.empty() ? "" : " WHERE (" + spec.where + ")");
  if (!spec.where.empty()) {
    BACKFILL_RETURN_IF_ERROR(
        refuse_writing_sql(conn, "SELECT 1 " + rows, "--where \"" + spec.where + "\""));
  }
  for (std::size_t i = 0; i < spec.sets.size(); ++i) {
    BACKFILL_RETURN_IF_ERROR(refuse_writing_sql(conn, "SELECT (" + spec.sets[i].expr + ") " + rows,
                                                "--set \"" + req.sets[i] + "\""));
  }
  if (spec.map) {
    // The statements of a --map chunk, planned against a staging table of this session
    // only (temporary: nothing of the user's is written).
    Status st = conn.exec(spec.stage_create_sql());
    if (st.is_ok()) st = conn.exec("EXPLAIN (COSTS OFF) " + spec.map_select_sql(ChunkRange{}));
    if (st.is_ok())
      st = conn.exec("EXPLAIN (COSTS OFF) " + spec.update_from_stage_sql(ChunkRange{}));
    (void)conn.exec("DROP TABLE IF EXISTS pg_temp.backfill_update_stage");
    if (!st.is_ok()) return Status::invalid("--map: " + st.message());
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
