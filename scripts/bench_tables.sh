#!/usr/bin/env bash
# Benchmarks of `--tables` on a durable server (PostgreSQL's defaults: fsync,
# full_page_writes, synchronous_commit on), each run after a VACUUM and a CHECKPOINT:
#
#   many:  500 tables of 1,000 rows (`many.*`) against one table of 500,000 rows of the same
#          shape (`one.big`), both copied by backfill: what a table costs besides its rows.
#   shop:  the 17-table schema of scripts/sql/schema/shop.sql (about 10 x --shop-rows rows)
#          copied by `backfill copy --tables`, by `pgcopydb copy table-data` and by
#          `pg_dump --data-only | psql`, side by side, each into the same empty
#          `pg_dump --schema-only` clone with every index and constraint in place. None of
#          them checks foreign keys while it loads: backfill with --disable-triggers (the
#          schema has cycles), pg_dump with its --disable-triggers; pgcopydb 0.10 has no such
#          switch and, with the foreign keys in place, fails every table that references
#          another and still exits 0, so its run goes into the clone with the foreign keys
#          dropped (re-added afterwards, untimed). Each run's row count is checked.
#
#   scripts/bench_tables.sh [--rounds N] [--tables N] [--shop-rows N] [--only many|shop]
#                           [--fast-server]
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=2
ntables=500
shop_rows=400000
only=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --tables) ntables=$2; shift 2 ;;
    --shop-rows) shop_rows=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --fast-server) export profile=fast; shift ;;
    *) echo "usage: $0 [--rounds N] [--tables N] [--shop-rows N] [--only many|shop] [--fast-server]" >&2; exit 2 ;;
  esac
done

source scripts/bench_setup.sh
trap 'rm -rf "$work"' EXIT
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
warm_buffers

fresh_databases() {
  psql -X -q "$server dbname=postgres" -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS bench_source WITH (FORCE)" \
    -c "DROP DATABASE IF EXISTS bench_target WITH (FORCE)" \
    -c "CREATE DATABASE bench_source" -c "CREATE DATABASE bench_target"
}
# clone_schema SCHEMA: the target's tables as pg_dump --schema-only makes them.
clone_schema() {
  "$PGBIN/pg_dump" --schema-only --no-owner -n "$1" -d "$src" | grep -v '^\\\(un\)\?restrict ' |
    psql -X -q -v ON_ERROR_STOP=1 -d "$dst" >/dev/null
}
# empty_target SCHEMA: every table of the schema truncated, the ledger dropped.
empty_target() {
  psql -X -q "$dst" -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS backfill CASCADE" -c "
    DO \$\$ DECLARE t text; BEGIN
      SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') INTO t
        FROM pg_tables WHERE schemaname = '$1';
      EXECUTE 'TRUNCATE ' || t || ' CASCADE';
    END \$\$" 2>&1 | grep -v NOTICE || true
  vacuum "$dst" ""
  checkpoint
}
# timed LABEL CMD...: runs CMD, prints and records its wall time.
timed() {
  local label=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/out.txt" 2>"$work/err.txt" || { echo "bench: $label failed:"; tail -5 "$work/err.txt"; exit 1; }
  t1=$(date +%s.%N)
  printf '%-44s %8.2f s\n' "$label" "$(echo "$t1 - $t0" | bc)" | tee -a "$work/results.txt"
}

echo "bench: $(psql -X -At "$server dbname=postgres" -c "SELECT 'fsync=' || current_setting('fsync') || ' synchronous_commit=' || current_setting('synchronous_commit') || ' full_page_writes=' || current_setting('full_page_writes')")"

if [[ -z $only || $only == many ]]; then
  fresh_databases
  echo "bench: $ntables tables of 1,000 rows in schema many, one table of $((ntables * 1000)) rows in schema one"
  shape="(id bigint PRIMARY KEY, name text NOT NULL, qty int NOT NULL, at timestamptz NOT NULL)"
  rows="SELECT i, 'name ' || i, i % 97, timestamptz '2024-01-01 00:00:00+00' + i * interval '1 minute'"
  for db in "$src" "$dst"; do
    {
      echo "CREATE SCHEMA many; CREATE SCHEMA one; CREATE TABLE one.big $shape;"
      for i in $(seq -w 1 "$ntables"); do echo "CREATE TABLE many.t$i $shape;"; done
    } | psql -X -q -v ON_ERROR_STOP=1 "$db"
  done
  {
    echo "INSERT INTO one.big $rows FROM generate_series(1, $((ntables * 1000))) i;"
    for i in $(seq -w 1 "$ntables"); do echo "INSERT INTO many.t$i $rows FROM generate_series(1, 1000) i;"; done
  } | psql -X -q -v ON_ERROR_STOP=1 "$src"
  vacuum "$src" ""
  printf '[include-only-schema]\nmany\n' >"$work/many.filters"
  for r in $(seq 1 "$rounds"); do
    # Alternating order, so that neither always runs on the warmer server.
    # pg_dump | psql and pgcopydb load the same 500 tables: what loading a table costs
    # the server, the floor under backfill's own cost per table.
    cases="one many pg_dump pgcopydb"
    [[ $((r % 2)) == 0 ]] && cases="pgcopydb pg_dump many one"
    for what in $cases; do
      case $what in
        one)
          empty_target one
          timed "round $r: backfill copy --table one.big" \
            "$bin" copy --source "$src" --target "$dst" --table one.big --progress none ;;
        many)
          empty_target many
          timed "round $r: backfill copy --tables 'many.*'" \
            "$bin" copy --source "$src" --target "$dst" --tables 'many.*' --progress none ;;
        pg_dump)
          empty_target many
          timed "round $r: pg_dump --data-only -n many | psql" bash -c \
            "'$PGBIN/pg_dump' --data-only -n many -d '$src' | psql -X -q -v ON_ERROR_STOP=1 -d '$dst'" ;;
        pgcopydb)
          empty_target many
          rm -rf "$work/pgcopydb"
          timed "round $r: pgcopydb copy table-data (--table-jobs 2)" \
            pgcopydb copy table-data --source "$src" --target "$dst" --table-jobs 2 \
            --dir "$work/pgcopydb" --filters "$work/many.filters" ;;
      esac
      if [[ $what != one ]]; then
        got=$(psql -X -At "$dst" -c "SELECT sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text::bigint) FROM pg_tables WHERE schemaname = 'many'")
        [[ $got == $((ntables * 1000)) ]] || { echo "bench: $what left $got rows in many.*, not $((ntables * 1000))"; exit 1; }
      fi
    done
  done
fi

if [[ -z $only || $only == shop ]]; then
  fresh_databases
  echo "bench: the shop schema with $shop_rows orders"
  psql -X -q -v ON_ERROR_STOP=1 -v rows="$shop_rows" -d "$src" -f scripts/sql/schema/shop.sql
  psql -X -At "$src" -c "SELECT 'bench: ' || sum(n_live_tup) || ' rows, ' || pg_size_pretty(sum(pg_total_relation_size(relid))) FROM pg_stat_user_tables WHERE schemaname = 'shop'"
  clone_schema shop
  vacuum "$src" ""
  count_rows() {
    psql -X -At "$1" -c "SELECT sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text::bigint) FROM pg_tables t JOIN pg_class c ON c.oid = format('%I.%I', schemaname, tablename)::regclass WHERE schemaname = 'shop' AND NOT c.relispartition"
  }
  want=$(count_rows "$src")
  echo "bench: $want rows in the source's shop tables"
  for r in $(seq 1 "$rounds"); do
    methods="backfill pgcopydb pg_dump"
    [[ $((r % 2)) == 0 ]] && methods="pg_dump pgcopydb backfill"
    for m in $methods; do
      empty_target shop
      case $m in
        backfill)
          timed "round $r: backfill copy --tables 'shop.*'" \
            "$bin" copy --source "$src" --target "$dst" --tables 'shop.*' --disable-triggers \
            --progress none ;;
        pgcopydb)
          rm -rf "$work/pgcopydb"
          psql -X -At "$dst" -c "SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s;', conrelid::regclass, conname, pg_get_constraintdef(oid)) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 AND connamespace = 'shop'::regnamespace" >"$work/fks.sql"
          psql -X -At "$dst" -c "SELECT format('ALTER TABLE %s DROP CONSTRAINT %I;', conrelid::regclass, conname) FROM pg_constraint WHERE contype = 'f' AND conparentid = 0 AND connamespace = 'shop'::regnamespace" | psql -X -q -v ON_ERROR_STOP=1 "$dst"
          checkpoint
          timed "round $r: pgcopydb copy table-data (--table-jobs 2)" \
            pgcopydb copy table-data --source "$src" --target "$dst" --table-jobs 2 \
            --dir "$work/pgcopydb"
          if grep -q ERROR "$work/err.txt"; then echo "bench: pgcopydb reported errors:"; grep ERROR "$work/err.txt" | head -3; exit 1; fi
          psql -X -q -v ON_ERROR_STOP=1 "$dst" -f "$work/fks.sql" ;;
        pg_dump)
          timed "round $r: pg_dump --data-only | psql" bash -c \
            "'$PGBIN/pg_dump' --data-only --disable-triggers -n shop -d '$src' | psql -X -q -v ON_ERROR_STOP=1 -d '$dst'" ;;
      esac
      got=$(count_rows "$dst")
      [[ $got == "$want" ]] || { echo "bench: $m left $got rows in the target, not $want"; exit 1; }
    done
  done
fi

echo "bench: results"
cat "$work/results.txt"
echo "bench: the server keeps running: scripts/pg.sh stop bench"
