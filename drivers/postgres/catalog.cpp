#include "drivers/postgres/catalog.hpp"

#include <algorithm>

#include "drivers/postgres/types.hpp"

namespace backfill::pg {

bool TableInfo::has_btree_led_by(const std::string& col) const {
  return std::find(btree_leading_columns.begin(), btree_leading_columns.end(), col) !=
         btree_leading_columns.end();
}

Status check_privileges(PgConnection& conn, const TableInfo& table,
                        const std::vector<std::string>& privileges, const std::string& side) {
  // The first privilege lacking, in the order given; a column-level grant counts.
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r, conn.query("SELECT current_user, p, current_database() FROM unnest($2::text[]) "
                             "WITH ORDINALITY AS u(p, n) "
                             "WHERE NOT CASE p WHEN 'TEMPORARY' THEN "
                             "has_database_privilege(current_database(), 'TEMPORARY') "
                             "WHEN 'DELETE' THEN has_table_privilege($1::regclass, p) "
                             "ELSE has_any_column_privilege($1::regclass, p) OR "
                             "has_table_privilege($1::regclass, p) END ORDER BY n LIMIT 1",
                             {table.quoted(), encode_text_array(privileges)}));
  if (r.rows() == 0) return Status::ok();
  const std::string role = r.text(0, 0), privilege = r.text(0, 1);
  if (privilege == "TEMPORARY") {
    return Status::invalid(
        side + ": role " + role + " may not create temporary tables in the database of " +
        table.display() + ", where each chunk is staged (GRANT TEMPORARY ON DATABASE " +
        quote_ident(r.text(0, 2)) + " TO " + quote_ident(role) + ")");
  }
  return Status::invalid(side + ": role " + role + " lacks " + privilege + " on " +
                         table.display() + " (GRANT " + privilege + " ON " + table.quoted() +
                         " TO " + quote_ident(role) + ")");
}

Result<std::string> database_identity(PgConnection& conn) {
  return conn.session_constant(
      "SELECT pg_postmaster_start_time()::text || '/' || d.oid::text FROM pg_database d WHERE "
      "d.datname = current_database()");
}

bool same_server(const std::string& a, const std::string& b) {
  // The identity is "postmaster start time/database oid".
  return a.substr(0, a.rfind('/')) == b.substr(0, b.rfind('/'));
}

Result<TableInfo> describe_table(PgConnection& conn, const QualifiedName& name) {
  // to_regclass resolves the name through search_path like SQL would, and returns NULL for
  // a name that does not exist; the name is passed quoted, so it is only ever a name.
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult t,
      conn.query_cached("SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::bigint,"
                        " c.relpages FROM pg_class c JOIN pg_namespace n ON n.oid = "
                        "c.relnamespace WHERE c.oid = to_regclass($1)",
                        {name.quoted()}));
  if (t.rows() == 0) return Status::invalid("table " + name.display() + " does not exist");
  std::string kind = t.text(0, 3);
  if (kind != "r" && kind != "p") {
    return Status::invalid(name.display() + " is not a table (relkind " + kind + ")");
  }
  TableInfo info;
  info.oid = static_cast<std::uint32_t>(t.int64(0, 0));
  info.schema = t.text(0, 1);
  info.name = t.text(0, 2);
  std::int64_t reltuples = t.int64(0, 4);
  // -1: never vacuumed or analysed; 0 with pages: not analysed since it was filled.
  if (reltuples > 0 || (reltuples == 0 && t.int64(0, 5) == 0)) info.estimated_rows = reltuples;
  std::string oid = t.text(0, 0);

  BACKFILL_ASSIGN_OR_RETURN(
      PgResult cols,
      conn.query_cached(
          "SELECT a.attname, format_type(a.atttypid, a.atttypmod), bt.typname,"
          " CASE WHEN bt.typtype = 'e' THEN 'text'"
          "      WHEN ty.typtype = 'd' THEN format_type(ty.typbasetype, ty.typtypmod)"
          "      ELSE format_type(a.atttypid, a.atttypmod) END,"
          " a.attnotnull, a.atthasdef, a.attgenerated <> '', a.attidentity <> '',"
          " coalesce(co.collname, ''), bt.typtype::text"
          " FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid"
          " JOIN pg_type bt ON bt.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid "
          "END"
          " LEFT JOIN pg_collation co ON co.oid = a.attcollation"
          " WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
          {oid}));
  for (int i = 0; i < cols.rows(); ++i) {
    ColumnInfo c;
    c.name = cols.text(i, 0);
    c.type = column_type(cols.text(i, 2), cols.text(i, 9), cols.text(i, 1), cols.text(i, 3));
    c.not_null = cols.boolean(i, 4);
    c.has_default = cols.boolean(i, 5);
    c.generated = cols.boolean(i, 6);
    c.identity = cols.boolean(i, 7);
    c.collation = cols.text(i, 8);
    info.columns.push_back(std::move(c));
  }

  BACKFILL_ASSIGN_OR_RETURN(
      PgResult idx,
      conn.query_cached(
          "SELECT i.indisprimary, array_length(i.indkey::int2[], 1),"
          " (SELECT string_agg(quote_ident(a.attname), ',' ORDER BY k.ord)"
          "   FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)"
          "   JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum)"
          " FROM pg_index i WHERE i.indrelid = $1::oid AND i.indisunique AND i.indisvalid"
          " AND i.indpred IS NULL AND i.indexprs IS NULL"
          " ORDER BY i.indisprimary DESC, i.indexrelid",
          {oid}));
  for (int i = 0; i < idx.rows(); ++i) {
    BACKFILL_ASSIGN_OR_RETURN(auto names, parse_identifier_list(idx.text(i, 2)));
    if (idx.boolean(i, 0)) {
      info.primary_key = names;
    } else {
      info.unique_keys.push_back(std::move(names));
    }
  }
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult lead,
      conn.query_cached("SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                        " JOIN pg_am am ON am.oid = c.relam"
                        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                        " WHERE i.indrelid = $1::oid AND am.amname = 'btree' AND i.indkey[0] > 0",
                        {oid}));
  for (int i = 0; i < lead.rows(); ++i) info.btree_leading_columns.push_back(lead.text(i, 0));
  BACKFILL_ASSIGN_OR_RETURN(info.database, database_identity(conn));
  return info;
}

Result<CtypeSpec> database_ctype(PgConnection& conn) {
  // datlocprovider and daticulocale are PostgreSQL 15's; 17 renamed daticulocale to
  // datlocale and added the builtin provider, whose C.UTF-8 maps case like Unicode's tables.
  const int v = conn.server_version();
  const std::string sql = v >= 170000   ? "SELECT datlocprovider::text, datctype, datlocale"
                          : v >= 150000 ? "SELECT datlocprovider::text, datctype, daticulocale"
                                        : "SELECT 'c', datctype, NULL";
  BACKFILL_ASSIGN_OR_RETURN(
      PgResult r,
      conn.query(sql + " FROM pg_catalog.pg_database WHERE datname = current_database()"));
  if (r.rows() != 1) return Status::failed("cannot read the ctype of " + conn.where());
  CtypeSpec spec;
  const std::string provider = r.text(0, 0);
  if (provider == "i") {
    spec.provider = CtypeSpec::Provider::kIcu;
    spec.locale = r.is_null(0, 2) ? "und" : r.text(0, 2);
  } else if (provider == "b") {
    const std::string builtin = r.is_null(0, 2) ? "C" : r.text(0, 2);
    spec.provider = builtin == "C" ? CtypeSpec::Provider::kLibc : CtypeSpec::Provider::kUnicode;
    spec.locale = builtin;
  } else {
    spec.locale = r.text(0, 1);
  }
  return spec;
}

}  // namespace backfill::pg
