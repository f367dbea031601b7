#!/usr/bin/env bash
# Copy throughput, side by side in one run on the same table and server:
#   psql pipe     psql "COPY ... TO STDOUT (FORMAT binary)" | psql "COPY ... FROM STDIN"
#   INSERT SELECT one INSERT ... SELECT inside the source database
#   pgcopydb      pgcopydb copy table-data (when installed)
#   backfill      backfill copy at its defaults (ledger checkpoint on every chunk)
# Each target has the primary key in place and is emptied before every run; the methods
# alternate, round after round, so drift in the machine hits them all alike.
#
# Then verify, on identical tables: both tables streamed out with binary COPY in parallel
# (the cost of moving every byte), count(*) + sum(hashtext(row::text)) on both servers in
# parallel (pgcopydb's compare), md5(string_agg(row::text ORDER BY key)) on both, and
# backfill verify in each hash method.
#
# Then the cost of transforms: backfill copy with three --map functions against the same
# copy passing every column through; and backfill update against one UPDATE statement.
#
#   scripts/bench.sh [--rows N] [--rounds R] [--only copy|verify|map|update] [--micro]
#   scripts/bench.sh --throttle [options of scripts/bench_throttle.sh]
set -euo pipefail
cd "$(dirname "$0")/.."

rows=5000000
rounds=3
micro=0
only=all
if [[ ${1:-} == --throttle ]]; then
  shift
  exec "$(dirname "$0")/bench_throttle.sh" "$@"
fi
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) only=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --micro) micro=1; shift ;;
    *) echo "usage: $0 [--rows N] [--rounds R] [--only copy|verify|map|update] [--micro] | --throttle [...]" >&2; exit 2 ;;
  esac
done

# shellcheck source=scripts/bench_setup.sh
source scripts/bench_setup.sh
trap 'rm -rf "$work"' EXIT

psql -X -q "$server" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS bench_source WITH (FORCE)" \
  -c "DROP DATABASE IF EXISTS bench_target WITH (FORCE)" -c "CREATE DATABASE bench_source" \
  -c "CREATE DATABASE bench_target"
echo "bench: generating $rows rows"
psql -X -q "$src" -v ON_ERROR_STOP=1 -v rows="$rows" -f scripts/sql/users.sql
# Same shape on the target side (pgcopydb copies by name), primary key in place.
psql -X -q "$dst" -v ON_ERROR_STOP=1 -v rows=0 -f scripts/sql/users.sql
psql -X -q "$src" -v ON_ERROR_STOP=1 -c "CREATE TABLE users_copy (LIKE users INCLUDING ALL)"
bytes=$(psql -X -At "$src" -c "SELECT pg_size_pretty(pg_table_size('users'))")
echo "bench: users is $bytes; $(nproc) cores"

reset_target() {
  psql -X -q "$dst" -c "TRUNCATE users" -c "DROP SCHEMA IF EXISTS backfill CASCADE" -c "CHECKPOINT" 2>/dev/null
  psql -X -q "$src" -c "TRUNCATE users_copy" -c "CHECKPOINT"
}

check_target() {  # every method must have copied every row
  local n
  n=$(psql -X -At "$1" -c "SELECT count(*) FROM $2")
  [[ "$n" == "$rows" ]] || { echo "bench: $3 copied $n rows, expected $rows" >&2; exit 1; }
}

now() { date +%s.%N; }

run_psql_pipe() {
  psql -X -q "$src" -c "COPY users TO STDOUT (FORMAT binary)" | psql -X -q "$dst" -c "COPY users FROM STDIN (FORMAT binary)"
  check_target "$dst" users "psql pipe"
}
run_insert_select() {
  psql -X -q "$src" -c "INSERT INTO users_copy SELECT * FROM users"
  check_target "$src" users_copy "INSERT SELECT"
}
run_pgcopydb() {
  printf '[include-only-table]\npublic.users\n' >"$work/filters.ini"
  rm -rf "$work/pgcopydb"
  pgcopydb copy table-data --source "$src" --target "$dst" --dir "$work/pgcopydb" \
    --filters "$work/filters.ini" --table-jobs 2 >"$work/pgcopydb.log" 2>&1 \
    || { tail -5 "$work/pgcopydb.log" >&2; return 1; }
  check_target "$dst" users pgcopydb
}
run_backfill() {  # backfill copy
  /usr/bin/time -f "%M" -o "$work/rss" "$bin" copy --source "$src" --target "$dst" --table users \
    --progress none --report "$work/report.json" >/dev/null
  check_target "$dst" users backfill
  cat "$work/rss" >>"$work/rss.all"
}

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# compare TITLE BASELINE METHOD...: runs each method (the function named in fn[]) once a
# round, rotating the order, with `before` (a function) ahead of each; prints the medians.
compare() {
  local title=$1 baseline=$2
  shift 2
  local methods=("$@") r m t0 t1 s
  declare -A times=()
  for ((r = 1; r <= rounds; r++)); do
    local order=("${methods[@]:r % ${#methods[@]}}" "${methods[@]:0:r % ${#methods[@]}}")
    for m in "${order[@]}"; do
      "${before[$m]:-true}"
      t0=$(now)
      "${fn[$m]}"
      t1=$(now)
      s=$(echo "$t1 - $t0" | bc -l)
      times[$m]="${times[$m]:-} $s"
      printf 'bench: round %d  %-22s %6.2f s\n' "$r" "$m" "$s"
    done
  done
  local base
  base=$(echo "${times[$baseline]}" | median)
  echo
  echo "$title: $rows rows ($bytes), median of $rounds rounds"
  printf '%-24s %10s %12s %16s\n' method seconds rows/s "vs $baseline"
  for m in "${methods[@]}"; do
    s=$(echo "${times[$m]}" | median)
    printf '%-24s %10.2f %12.0f %15.2fx\n' "$m" "$s" "$(echo "$rows / $s" | bc -l)" "$(echo "$s / $base" | bc -l)"
  done
  echo
}

declare -A fn before
if [[ $only == all || $only == copy ]]; then
  fn=(["psql pipe"]=run_psql_pipe ["INSERT SELECT"]=run_insert_select
      ["pgcopydb"]=run_pgcopydb ["backfill copy"]=run_backfill)
  before=(["psql pipe"]=reset_target ["INSERT SELECT"]=reset_target ["pgcopydb"]=reset_target
          ["backfill copy"]=reset_target)
  methods=("psql pipe" "INSERT SELECT" "backfill copy")
  command -v pgcopydb >/dev/null && methods+=("pgcopydb")
  compare "copy (target primary key in place)" "psql pipe" "${methods[@]}"
  rss=$(sort -n "$work/rss.all" | tail -1)
  echo "backfill peak RSS: $((rss / 1024)) MB (max of $rounds runs)"
  echo
fi

if [[ $only == all || $only == verify ]]; then
  # Identical tables: the target filled by one backfill copy, then both vacuumed, so that
  # no method pays for setting hint bits or meets autovacuum on the fresh table.
  reset_target
  run_backfill
  psql -X -q "$src" -c "VACUUM ANALYZE users"
  psql -X -q "$dst" -c "VACUUM ANALYZE users"
  both() {  # runs SQL $1 on both sides at once, output discarded
    psql -X -q -At "$src" -c "$1" >/dev/null &
    psql -X -q -At "$dst" -c "$1" >/dev/null &
    wait
  }
  v_copy_out() {
    psql -X -q "$src" -c "COPY users TO STDOUT (FORMAT binary)" >/dev/null &
    psql -X -q "$dst" -c "COPY users TO STDOUT (FORMAT binary)" >/dev/null &
    wait
  }
  v_hashtext() { both "SELECT count(*), sum(hashtext(u::text)) FROM users u"; }
  v_md5() { both "SELECT md5(string_agg(u::text, '' ORDER BY id)) FROM users u"; }
  v_backfill() {
    "$bin" verify --source "$src" --target "$dst" --table users --progress none --method "$1" \
      >"$work/verify.out" 2>&1 || { cat "$work/verify.out" >&2; exit 1; }
  }
  v_push_down() { v_backfill push-down; }
  v_streamed() { v_backfill streamed; }
  fn=(["COPY out both, parallel"]=v_copy_out ["count+sum(hashtext)"]=v_hashtext
      ["md5(string_agg)"]=v_md5 ["verify push-down"]=v_push_down ["verify streamed"]=v_streamed)
  before=()
  compare "verify of identical tables" "count+sum(hashtext)" "COPY out both, parallel" \
    "count+sum(hashtext)" "md5(string_agg)" "verify push-down" "verify streamed"
fi

if [[ $only == all || $only == map ]]; then
  # Three functions over three text columns, computed in the transform stage; the other
  # four columns pass through as bytes.
  run_backfill_map() {
    "$bin" copy --source "$src" --target "$dst" --table users --progress none \
      --map "email = upper(email)" --map "first_name = lower(first_name)" \
      --map "last_name = concat_ws(' ', first_name, last_name)" >/dev/null 2>"$work/map.err" \
      || { cat "$work/map.err" >&2; exit 1; }
    check_target "$dst" users "backfill copy --map"
  }
  fn=(["backfill copy"]=run_backfill ["backfill copy --map x3"]=run_backfill_map)
  before=(["backfill copy"]=reset_target ["backfill copy --map x3"]=reset_target)
  compare "copy with three --map functions against pass-through" "backfill copy" \
    "backfill copy" "backfill copy --map x3"
  # Outside the timings: the maps did transform every row.
  reset_target
  run_backfill_map
  bad=$(psql -X -At "$dst" -c "SELECT count(*) FROM users WHERE email <> upper(email) OR first_name <> lower(first_name) OR last_name NOT LIKE '% %'")
  [[ $bad == 0 ]] || { echo "bench: --map left $bad rows untransformed" >&2; exit 1; }
  echo "bench: --map transformed every row"
fi

if [[ $only == all || $only == update ]]; then
  # The expand/contract backfill of a new column, on a fresh copy of users each time.
  reset_update() {
    psql -X -q "$src" -v ON_ERROR_STOP=1 -c "DROP TABLE IF EXISTS users_u" \
      -c "DROP SCHEMA IF EXISTS backfill CASCADE" \
      -c "CREATE TABLE users_u AS SELECT *, NULL::text AS email_address FROM users" \
      -c "ALTER TABLE users_u ADD PRIMARY KEY (id)" -c "VACUUM ANALYZE users_u" -c "CHECKPOINT" 2>/dev/null
  }
  check_update() {
    local n
    n=$(psql -X -At "$src" -c "SELECT count(*) FROM users_u WHERE email_address IS DISTINCT FROM lower(email)")
    [[ $n == 0 ]] || { echo "bench: $1 left $n rows unfilled" >&2; exit 1; }
  }
  u_single() {
    psql -X -q "$src" -c "UPDATE users_u SET email_address = lower(email)"
    check_update "one UPDATE"
  }
  u_backfill() {
    "$bin" update --target "$src" --table users_u --set "email_address = lower(email)" \
      --progress none >"$work/update.out" 2>&1 || { cat "$work/update.out" >&2; exit 1; }
    check_update "backfill update"
  }
  u_backfill_map() {  # the same, computed here instead of by the server
    "$bin" update --target "$src" --table users_u --map "email_address = lower(email)" \
      --progress none >"$work/update.out" 2>&1 || { cat "$work/update.out" >&2; exit 1; }
    check_update "backfill update --map"
  }
  fn=(["one UPDATE statement"]=u_single ["backfill update"]=u_backfill ["backfill update --map"]=u_backfill_map)
  before=(["one UPDATE statement"]=reset_update ["backfill update"]=reset_update
          ["backfill update --map"]=reset_update)
  compare "update of a new column (email_address = lower(email))" "one UPDATE statement" \
    "one UPDATE statement" "backfill update" "backfill update --map"
fi

if [[ $micro -eq 1 ]]; then
  cmake -S . -B build -DBACKFILL_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build build -j"$(nproc)" --target backfill_bench >/dev/null
  build/bench/backfill_bench
fi
echo "bench: cluster left running; scripts/pg.sh stop bench"
