#include "drivers/postgres/table_set.hpp"

#include <map>

namespace backfill::pg {
namespace {

QualifiedName qualified(const TableName& t) { return QualifiedName{t.schema, t.name}; }

}  // namespace

Result<std::vector<TableName>> list_tables(PgConnection& conn) {
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r,
      conn.query("SELECT n.nspname, c.relname, pg_catalog.pg_table_is_visible(c.oid)"
                 " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = "
                 "c.relnamespace"
                 " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
                 " AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'backfill')"
                 " AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'"
                 " ORDER BY n.nspname COLLATE \"C\", c.relname COLLATE \"C\""));
  std::vector<TableName> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.text(i, 1), r.boolean(i, 2)});
  return out;
}

Result<std::vector<std::string>> missing_tables(PgConnection& conn,
                                                const std::vector<TableName>& tables) {
  std::vector<std::string> missing;
  for (const TableName& t : tables) {
    BACKFILL_ASSIGN_OR_RETURN(
        PgResult r, conn.query_cached("SELECT c.relkind IN ('r', 'p') FROM pg_catalog.pg_class c"
                                      " WHERE c.oid = to_regclass($1)",
                                      {qualified(t).quoted()}));
    if (r.rows() == 0 || !r.boolean(0, 0)) missing.push_back(t.display());
  }
  return missing;
}

Result<std::vector<TableReference>> references_among(PgConnection& conn,
                                                     const std::vector<TableName>& tables) {
  // conparentid = 0: a partitioned table's foreign key once, not again for each partition.
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r,
      conn.query(
          "SELECT cn.nspname, c.relname, rn.nspname, rc.relname"
          " FROM pg_catalog.pg_constraint k"
          " JOIN pg_catalog.pg_class c ON c.oid = coalesce(pg_partition_root(k.conrelid), "
          "k.conrelid)"
          " JOIN pg_catalog.pg_namespace cn ON cn.oid = c.relnamespace"
          " JOIN pg_catalog.pg_class rc ON rc.oid = coalesce(pg_partition_root(k.confrelid), "
          "k.confrelid)"
          " JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace"
          " WHERE k.contype = 'f' AND k.conparentid = 0"));
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  for (std::size_t i = 0; i < tables.size(); ++i) index[{tables[i].schema, tables[i].name}] = i;
  std::vector<TableReference> out;
  for (int i = 0; i < r.rows(); ++i) {
    auto from = index.find({r.text(i, 0), r.text(i, 1)});
    auto to = index.find({r.text(i, 2), r.text(i, 3)});
    if (from != index.end() && to != index.end()) out.push_back({from->second, to->second});
  }
  return out;
}

Status check_may_disable_triggers(PgConnection& conn) {
  // session_replication_role is a superuser's setting; PostgreSQL 15 lets one grant it.
  const std::string granted = conn.server_version() >= 150000
                                  ? " OR has_parameter_privilege('session_replication_role', 'SET')"
                                  : "";
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r, conn.query("SELECT current_user, (SELECT rolsuper FROM pg_catalog.pg_roles"
                             " WHERE rolname = current_user)" +
                             granted));
  if (r.boolean(0, 1)) return Status::ok();
  return Status::invalid("--disable-triggers: role " + r.text(0, 0) +
                         " of the target may not set session_replication_role; connect as a "
                         "superuser, or GRANT SET ON PARAMETER session_replication_role TO " +
                         quote_ident(r.text(0, 0)));
}

Result<std::vector<OwnedSequence>> owned_sequences(PgConnection& conn, const QualifiedName& table) {
  // deptype 'a': a serial column's sequence; 'i': an identity column's.
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r, conn.query_cached(
                      "SELECT a.attname, sn.nspname, s.relname FROM pg_catalog.pg_depend d"
                      " JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
                      " JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace"
                      " JOIN pg_catalog.pg_sequence q ON q.seqrelid = s.oid AND q.seqincrement > 0"
                      " JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = "
                      "d.refobjsubid"
                      " WHERE d.classid = 'pg_catalog.pg_class'::regclass"
                      " AND d.refclassid = 'pg_catalog.pg_class'::regclass"
                      " AND d.refobjid = to_regclass($1) AND d.deptype IN ('a', 'i')"
                      " ORDER BY a.attnum",
                      {table.quoted()}));
  std::vector<OwnedSequence> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.text(i, 0), QualifiedName{r.text(i, 1), r.text(i, 2)}});
  }
  return out;
}

Result<std::optional<std::int64_t>> sequence_last_value(PgConnection& source,
                                                        const QualifiedName& seq) {
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r,
      source.query("SELECT CASE WHEN is_called THEN last_value END FROM " + seq.quoted()));
  if (r.rows() == 0 || r.is_null(0, 0)) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>(r.int64(0, 0));
}

Result<std::optional<std::int64_t>> sync_sequence(PgConnection& target, const QualifiedName& table,
                                                  const OwnedSequence& seq,
                                                  std::optional<std::int64_t> source_last) {
  // GREATEST ignores NULLs: the source's value and the column's largest. The sequence moves
  // only forward: past where it stands (its last value, or just before its start when it
  // never handed one out), never back, and never below its start.
  const std::string sql =
      "SELECT setval($1::regclass, v) FROM (SELECT GREATEST($2::bigint, (SELECT max(" +
      quote_ident(seq.column) + ")::bigint FROM " + table.quoted() +
      ")) AS v, (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM " +
      seq.sequence.quoted() + ") AS now) x WHERE v > now";
  Params params{seq.sequence.quoted()};
  params.push_back(source_last ? std::optional<std::string>(std::to_string(*source_last))
                               : std::optional<std::string>{});
  BACKFILL_ASSIGN_OR_RETURN(PgResult r, target.query(sql, params));
  if (r.rows() == 0) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>(r.int64(0, 0));
}

}  // namespace backfill::pg
