#include "drivers/postgres/defer_indexes.hpp"

namespace backfill::pg {
namespace {

// Every object to defer, in rebuild order, with the statements that drop and recreate it.
// The statements come from the catalog's own deparsers (pg_get_indexdef,
// pg_get_constraintdef), so a rebuilt object is the object that was dropped. Columns:
// kind, name, drop statements, create statements (text[]).
constexpr const char* kDeferredSql = R"SQL(
WITH tbl AS (
  SELECT c.oid, format('%I.%I', n.nspname, c.relname) AS qname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid
), marks AS (  -- what an index carries besides its definition
  SELECT i.indexrelid, array_remove(ARRAY[
      CASE WHEN i.indisclustered THEN format('ALTER TABLE %s CLUSTER ON %I', t.qname, ic.relname) END,
      CASE WHEN i.indisreplident
           THEN format('ALTER TABLE %s REPLICA IDENTITY USING INDEX %I', t.qname, ic.relname) END,
      CASE WHEN obj_description(i.indexrelid, 'pg_class') IS NOT NULL
           THEN format('COMMENT ON INDEX %I.%I IS %L', n.nspname, ic.relname,
                       obj_description(i.indexrelid, 'pg_class')) END], NULL) AS sql
  FROM pg_index i JOIN tbl t ON t.oid = i.indrelid
  JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
), objects AS (
  -- The constraints an index backs. A primary key or unique constraint comes back as its
  -- index (pg_get_indexdef keeps its storage parameters and INCLUDE columns, which
  -- pg_get_constraintdef leaves out) made the constraint with USING INDEX; an exclusion
  -- constraint from its own definition, and only when there is nothing of that kind to lose.
  SELECT 1 AS grp, CASE k.contype WHEN 'p' THEN 'primary key' WHEN 'u' THEN 'unique constraint'
                   ELSE 'exclusion constraint' END AS kind, k.conname::text AS name,
         ARRAY[format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', t.qname, k.conname)] AS drops,
         CASE WHEN k.contype = 'x'
              THEN ARRAY[format('ALTER TABLE %s ADD CONSTRAINT %I %s', t.qname, k.conname,
                                pg_get_constraintdef(k.oid))]
              ELSE ARRAY[pg_get_indexdef(k.conindid)
                         || CASE WHEN ic.reltablespace <> 0
                                 THEN ' TABLESPACE ' || quote_ident(ts.spcname) ELSE '' END,
                         format('ALTER TABLE %s ADD CONSTRAINT %I %s USING INDEX %I%s%s', t.qname,
                                k.conname, CASE k.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END,
                                ic.relname,
                                CASE WHEN k.condeferrable THEN ' DEFERRABLE' ELSE '' END,
                                CASE WHEN k.condeferred THEN ' INITIALLY DEFERRED' ELSE '' END)] END
           || CASE WHEN obj_description(k.oid, 'pg_constraint') IS NOT NULL
                   THEN ARRAY[format('COMMENT ON CONSTRAINT %I ON %s IS %L', k.conname, t.qname,
                                     obj_description(k.oid, 'pg_constraint'))]
                   ELSE '{}'::text[] END
           || coalesce(m.sql, '{}') AS creates
  FROM pg_constraint k JOIN tbl t ON t.oid = k.conrelid
  JOIN pg_class ic ON ic.oid = k.conindid LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
  LEFT JOIN marks m ON m.indexrelid = k.conindid
  WHERE k.contype IN ('p', 'u')
     OR (k.contype = 'x' AND ic.reloptions IS NULL AND ic.reltablespace = 0)
  UNION ALL
  -- Indexes of their own (a failed CREATE INDEX CONCURRENTLY's invalid index stays as it is).
  SELECT 2, 'index', ic.relname::text,
         ARRAY[format('DROP INDEX IF EXISTS %I.%I', n.nspname, ic.relname)],
         ARRAY[pg_get_indexdef(i.indexrelid)
               || CASE WHEN ic.reltablespace <> 0
                       THEN ' TABLESPACE ' || quote_ident(ts.spcname) ELSE '' END]
           || coalesce(m.sql, '{}')
  FROM pg_index i JOIN tbl t ON t.oid = i.indrelid
  JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
  LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
  LEFT JOIN marks m ON m.indexrelid = i.indexrelid
  WHERE i.indisvalid AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                       AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
  UNION ALL
  -- Foreign keys: the table's own (self-references too), then other tables' that reference it.
  SELECT CASE WHEN k.conrelid = t.oid THEN 3 ELSE 4 END, 'foreign key',
         k.conname::text || CASE WHEN k.conrelid = t.oid THEN '' ELSE ' on ' || k.conrelid::regclass::text END,
         ARRAY[format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', k.conrelid::regclass, k.conname)],
         ARRAY[format('ALTER TABLE %s ADD CONSTRAINT %I %s', k.conrelid::regclass, k.conname,
                      pg_get_constraintdef(k.oid))]
           || CASE WHEN obj_description(k.oid, 'pg_constraint') IS NOT NULL
                   THEN ARRAY[format('COMMENT ON CONSTRAINT %I ON %s IS %L', k.conname,
                                     k.conrelid::regclass, obj_description(k.oid, 'pg_constraint'))]
                   ELSE '{}'::text[] END
  FROM pg_constraint k JOIN tbl t ON t.oid IN (k.conrelid, k.confrelid)
  WHERE k.contype = 'f'
    AND k.conparentid = 0  -- a partition's copy of a key comes and goes with its parent's
)
SELECT kind, name, drops, creates FROM objects ORDER BY grp, name)SQL";

// With parallel maintenance workers where the server has them to give: at least two, or
// more if the server's own setting says so (measured, 5M-row users table, 2 cores: see the
// README's "Where the time goes").
constexpr int kMinMaintenanceWorkers = 2;

}  // namespace

Result<std::vector<DeferredObject>> describe_deferred(PgConnection& target,
                                                      const TableInfo& table) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult kind,
                            target.query("SELECT c.relkind::text, c.relispartition FROM pg_class c "
                                         "WHERE c.oid = $1::oid",
                                         {std::to_string(table.oid)}));
  if (kind.rows() == 1 && (kind.text(0, 0) == "p" || kind.boolean(0, 1))) {
    return Status::invalid("--defer-indexes: " + table.display() +
                           " is partitioned or a partition, whose indexes belong to the whole "
                           "tree; copy without --defer-indexes");
  }
  // Deparsed with only pg_catalog on the search path, as pg_dump does: every name in the
  // saved statements comes out schema-qualified, so they mean the same in a later session.
  PgResult r;
  const Status described = target.transaction([&]() -> Status {
    BACKFILL_RETURN_IF_ERROR(target.exec("SET LOCAL search_path = pg_catalog"));
    BACKFILL_ASSIGN_OR_RETURN(r, target.query(kDeferredSql, {std::to_string(table.oid)}));
    return Status::ok();
  });
  BACKFILL_RETURN_IF_ERROR(described);
  std::vector<DeferredObject> out;
  for (int i = 0; i < r.rows(); ++i) {
    DeferredObject o;
    o.ord = i + 1;
    o.kind = r.text(i, 0);
    o.name = r.text(i, 1);
    BACKFILL_ASSIGN_OR_RETURN(o.drop_sql, decode_text_array(r.text(i, 2)));
    BACKFILL_ASSIGN_OR_RETURN(o.create_sql, decode_text_array(r.text(i, 3)));
    out.push_back(std::move(o));
  }
  return out;
}

Result<bool> table_has_rows(PgConnection& target, const TableInfo& table) {
  BACKFILL_ASSIGN_OR_RETURN(PgResult r,
                            target.query("SELECT EXISTS (SELECT 1 FROM " + table.quoted() + ")"));
  return r.boolean(0, 0);
}

Status create_deferred(PgConnection& conn, const DeferredObject& object) {
  BACKFILL_RETURN_IF_ERROR(conn.exec("SET LOCAL statement_timeout = 0"));
  BACKFILL_RETURN_IF_ERROR(
      conn.exec("SELECT set_config('max_parallel_maintenance_workers', greatest($1::int, "
                "current_setting('max_parallel_maintenance_workers')::int)::text, true)",
                {std::to_string(kMinMaintenanceWorkers)}));
  for (const auto& sql : object.create_sql) {
    BACKFILL_RETURN_IF_ERROR(
        conn.exec(sql).with_context("rebuilding " + object.kind + " " + object.name));
  }
  return Status::ok();
}

}  // namespace backfill::pg
