#!/usr/bin/env bash
# backfill against the tools and statements it stands in for, side by side in one run, on
# one PostgreSQL cluster with PostgreSQL's durable defaults (scripts/pg.sh's durable
# profile: fsync, full_page_writes, synchronous_commit on, wal_level replica; memory sized
# for the machine), on several table shapes (scripts/sql/shapes/):
#
#   copy    psql pipe       psql "COPY t TO STDOUT (FORMAT binary)" | psql "COPY t FROM STDIN"
#           pgcopydb        pgcopydb copy table-data (when installed)
#           backfill copy   its defaults; the target's primary key in place
#           --defer-indexes into the empty target, indexes rebuilt at the end
#   verify  COPY out        both tables streamed out with binary COPY, in parallel
#           hashtext        count(*) + sum(hashtext(row::text)) on both, in parallel
#           push-down, streamed   backfill verify in each method
#   update  one UPDATE, two UPDATEs of the halves at once, backfill update --set
#   map     backfill copy with three --map functions against the same copy passing through
#   scale   backfill copy of 1M, 5M and 10M rows of the narrow shape; peak RSS at each
#   metrics backfill copy against the same copy with --metrics-listen scraped every second,
#           and with --metrics-file (only with --only metrics)
#   tune    backfill tune on the shape, then a copy with its pick against one with the
#           defaults (only with --only tune; its table, CSV, JSON and plot in --tune-out)
#
# Before every measured run: the target emptied (or the table rebuilt), tables vacuumed, a
# checkpoint. Methods alternate round after round so that drift in the machine hits them all
# alike; each ratio is the median over rounds of method / baseline within the round.
#
#   scripts/bench.sh [--shape NAME|all] [--only copy|verify|update|map|scale|metrics|tune|all]
#                    [--rows N] [--rounds R] [--fast-server] [--baseline-bin PATH] [--micro]
#                    [--tune-out DIR]
#   scripts/bench.sh --throttle [options of scripts/bench_throttle.sh]
#
# --rows N       rows of every shape (default: each shape's own, 500 MB or 5M rows)
# --fast-server  the test suite's settings (durability off), labelled as such
# --baseline-bin another backfill binary, measured beside this one in every backfill method
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ${1:-} == --throttle ]]; then
  shift
  exec "$(dirname "$0")/bench_throttle.sh" "$@"
fi

all_shapes=(users narrow jsonb_docs wide_text numeric_ledger composite_key)
declare -A default_rows=([users]=5000000 [narrow]=5000000 [jsonb_docs]=1000000
                         [wide_text]=600000 [numeric_ledger]=5000000 [composite_key]=5000000)
# update --set per shape: the new column, its type, and what fills it.
declare -A upd_col=([users]=email_address [narrow]=total [jsonb_docs]=kind [wide_text]=title_short
                    [numeric_ledger]=net [composite_key]=status_code)
declare -A upd_type=([users]=text [narrow]=bigint [jsonb_docs]=text [wide_text]=text
                     [numeric_ledger]=numeric [composite_key]=text)
declare -A upd_expr=([users]="lower(email)" [narrow]="account::bigint * 2 + kind"
                     [jsonb_docs]="doc->>'type'" [wide_text]="left(title, 12)"
                     [numeric_ledger]="amount - fee" [composite_key]="upper(status)")
# update --map where the --map language computes what the SQL above does.
declare -A upd_map=([users]="lower(email)" [wide_text]="left(title, 12)"
                    [composite_key]="upper(status)")
# Three --map functions per shape (what issue 5 measured on users), computed here; none for
# jsonb_docs, whose only column besides the key is the document.
declare -A map_args=(
  [users]="email = upper(email)|first_name = lower(first_name)|last_name = concat_ws(' ', first_name, last_name)"
  [narrow]="account = to_int(to_text(account))|kind = length(to_text(kind))|quantity = coalesce(quantity, 0)"
  [jsonb_docs]=""
  [wide_text]="title = upper(title)|author = coalesce(author, 'unknown')|summary = left(summary, 40)"
  [numeric_ledger]="account = to_int(to_text(account))|rate = coalesce(rate, 0)|tax = coalesce(tax, 0)"
  [composite_key]="status = upper(status)|note = concat_ws(' ', status, note)|total = to_numeric(to_text(total))")

shapes=(users)
only=all
rows_override=
rounds=3
micro=0
baseline_bin=
profile=durable
tune_out=$PWD/build/bench-tune
usage() {
  echo "usage: $0 [--shape NAME|all] [--only copy|verify|update|map|scale|metrics|tune|all] [--rows N] [--rounds R] [--fast-server] [--baseline-bin PATH] [--micro] | --throttle [...]" >&2
  exit 2
}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --shape)
      [[ $# -ge 2 ]] || usage
      if [[ $2 == all ]]; then shapes=("${all_shapes[@]}"); else IFS=, read -r -a shapes <<<"$2"; fi
      shift 2 ;;
    --only) only=$2; shift 2 ;;
    --rows) rows_override=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --fast-server) profile=fast; shift ;;
    --baseline-bin) baseline_bin=$(realpath "$2"); shift 2 ;;
    --micro) micro=1; shift ;;
    --tune-out) tune_out=$(realpath -m "$2"); shift 2 ;;
    *) usage ;;
  esac
done
for s in "${shapes[@]}"; do
  [[ -n ${default_rows[$s]:-} ]] || { echo "bench: unknown shape '$s'; shapes: ${all_shapes[*]}" >&2; exit 2; }
done
case "$only" in all|copy|verify|update|map|scale|metrics|tune) ;; *) usage ;; esac

# shellcheck source=scripts/bench_setup.sh
source scripts/bench_setup.sh
trap 'rm -rf "$work"' EXIT
export PGOPTIONS="-c client_min_messages=warning"
[[ -z $baseline_bin || -x $baseline_bin ]] || { echo "bench: --baseline-bin $baseline_bin is not executable" >&2; exit 2; }

for db in bench_source bench_target; do
  if [[ -z $(psql -X -At "$server dbname=postgres" -c "SELECT 1 FROM pg_database WHERE datname = '$db'") ]]; then
    psql -X -q "$server dbname=postgres" -c "CREATE DATABASE $db"
  fi
done
warm_buffers
bench_start=$(date +%s)
results=$work/results.tsv
: >"$results"

now() { date +%s.%N; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# A shape's source table, generated once and kept while its rows and SQL stay the same.
ensure_source() {
  local shape=$1 rows=$2 tag
  tag="rows=$rows sql=$(md5sum "scripts/sql/shapes/$shape.sql" | cut -c1-12)"
  if [[ "$(psql -X -At "$src" -c "SELECT obj_description('public.$shape'::regclass)" 2>/dev/null)" != "$tag" ]]; then
    echo "bench: generating $shape ($rows rows)"
    psql -X -q "$src" -c "DROP TABLE IF EXISTS $shape CASCADE"
    psql -X -q "$src" -v ON_ERROR_STOP=1 -v rows="$rows" -f "scripts/sql/shapes/$shape.sql"
    psql -X -q "$src" -c "COMMENT ON TABLE $shape IS '$tag'"
    vacuum "$src" "$shape"
  fi
  # The target's table: the same shape, empty, its primary key in place. Autovacuum is off
  # on it only while it is filled, so that no run meets a vacuum the one before started.
  psql -X -q "$dst" -c "DROP TABLE IF EXISTS $shape CASCADE" -c "DROP SCHEMA IF EXISTS backfill CASCADE"
  psql -X -q "$dst" -v ON_ERROR_STOP=1 -v rows=0 -f "scripts/sql/shapes/$shape.sql"
  psql -X -q "$dst" -c "ALTER TABLE $shape SET (autovacuum_enabled = off)"
}

# The methods of a comparison: label -> function, and a function run before each (untimed).
declare -A fn before
# compare SHAPE SECTION BASELINE METHOD...: each method once a round, the order rotated,
# `before` ahead of each; records medians of seconds and of per-round ratios.
compare() {
  local shape=$1 section=$2 baseline=$3
  shift 3
  local methods=("$@") r m t0 s
  declare -A times=() ratios=() round=()
  for ((r = 1; r <= rounds; r++)); do
    local order=("${methods[@]:r % ${#methods[@]}}" "${methods[@]:0:r % ${#methods[@]}}")
    for m in "${order[@]}"; do
      "${before[$m]:-true}"
      checkpoint
      t0=$(now)
      "${fn[$m]}"
      s=$(echo "$(now) - $t0" | bc -l)
      round[$m]=$s
      printf '%s\t%s\t%d\t%s\t%s\n' "$shape" "$section" "$r" "$m" "$s" >>"$work/rounds.tsv"
      times[$m]="${times[$m]:-} $s"
      printf 'bench: %-15s %-7s round %d  %-28s %7.2f s\n' "$shape" "$section" "$r" "$m" "$s"
    done
    for m in "${methods[@]}"; do ratios[$m]="${ratios[$m]:-} $(echo "${round[$m]} / ${round[$baseline]}" | bc -l)"; done
  done
  for m in "${methods[@]}"; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$shape" "$section" "$m" "$baseline" \
      "$(echo "${times[$m]}" | median)" "$(echo "${ratios[$m]}" | median)" >>"$results"
  done
}

# Runs of the backfill binary, and of the baseline binary beside it when given.
bins=("$bin")
[[ -n $baseline_bin ]] && bins+=("$baseline_bin")
bin_label() { [[ $1 == "$bin" ]] && echo "" || echo " (baseline)"; }
# add_method LABEL BEFORE CMD [ARGS...]: CMD with these ARGS becomes the method LABEL of the
# comparison being built (the caller's fn, before and methods); BEFORE runs ahead of it.
method_seq=0
add_method() {
  local label=$1 pre=$2 name=method_$((++method_seq))
  shift 2
  eval "$name() { $(printf '%q ' "$@"); }"
  fn[$label]=$name
  [[ -n $pre ]] && before[$label]=$pre
  methods+=("$label")
}

# wait_both PID PID: both background jobs, failing when either failed (a bare `wait` does not).
wait_both() {
  local rc=0
  wait "$1" || rc=$?
  wait "$2" || rc=$?
  [[ $rc == 0 ]] || { echo "bench: a background statement failed (exit $rc)" >&2; exit 1; }
}

check_rows() {  # DSN TABLE EXPECTED WHO
  local n
  n=$(psql -X -At "$1" -c "SELECT count(*) FROM $2")
  [[ $n == "$3" ]] || { echo "bench: $4 left $n rows in $2, expected $3" >&2; exit 1; }
}

bench_copy() {
  local shape=$1 rows=$2
  reset_target() { psql -X -q "$dst" -c "TRUNCATE $shape" -c "DROP SCHEMA IF EXISTS backfill CASCADE" 2>/dev/null; }
  run_pipe() {
    psql -X -q "$src" -c "COPY $shape TO STDOUT (FORMAT binary)" | psql -X -q "$dst" -c "COPY $shape FROM STDIN (FORMAT binary)"
    check_rows "$dst" "$shape" "$rows" "psql pipe"
  }
  run_pgcopydb() {
    printf '[include-only-table]\npublic.%s\n' "$shape" >"$work/filters.ini"
    rm -rf "$work/pgcopydb"
    pgcopydb copy table-data --source "$src" --target "$dst" --dir "$work/pgcopydb" \
      --filters "$work/filters.ini" --table-jobs 2 >"$work/pgcopydb.log" 2>&1 \
      || { tail -5 "$work/pgcopydb.log" >&2; return 1; }
    check_rows "$dst" "$shape" "$rows" pgcopydb
  }
  run_backfill_with() {  # BIN [ARGS...]
    /usr/bin/time -f "%M" -o "$work/rss" "$1" copy --source "$src" --target "$dst" --table "$shape" \
      --progress none "${@:2}" >"$work/copy.out" 2>&1 || { cat "$work/copy.out" >&2; exit 1; }
    check_rows "$dst" "$shape" "$rows" "backfill copy"
    echo "$shape $(cat "$work/rss")" >>"$work/rss.all"
  }
  fn=() before=()
  local methods=() b
  add_method "psql pipe" reset_target run_pipe
  command -v pgcopydb >/dev/null && add_method pgcopydb reset_target run_pgcopydb
  for b in "${bins[@]}"; do
    add_method "backfill copy$(bin_label "$b")" reset_target run_backfill_with "$b"
    if "$b" copy --help 2>/dev/null | grep -q -- --defer-indexes; then
      add_method "--defer-indexes$(bin_label "$b")" reset_target run_backfill_with "$b" --defer-indexes
    fi
  done
  compare "$shape" copy "psql pipe" "${methods[@]}"
}

bench_verify() {
  local shape=$1 rows=$2
  # Identical tables: the target filled by one backfill copy, then both vacuumed.
  psql -X -q "$dst" -c "TRUNCATE $shape" -c "DROP SCHEMA IF EXISTS backfill CASCADE"
  "$bin" copy --source "$src" --target "$dst" --table "$shape" --progress none >/dev/null 2>&1
  check_rows "$dst" "$shape" "$rows" "backfill copy"
  vacuum "$dst" "$shape"
  vacuum "$src" "$shape"
  both() {  # runs SQL $1 on both sides at once, output discarded; fails if either does
    psql -X -q -At -v ON_ERROR_STOP=1 "$src" -c "$1" >/dev/null &
    local a=$!
    psql -X -q -At -v ON_ERROR_STOP=1 "$dst" -c "$1" >/dev/null &
    wait_both $a $!
  }
  v_copy_out() { both "COPY $shape TO STDOUT (FORMAT binary)"; }
  v_hashtext() { both "SELECT count(*), sum(hashtext(t::text)) FROM $shape t"; }
  v_backfill() {  # BIN METHOD
    "$1" verify --source "$src" --target "$dst" --table "$shape" --progress none --method "$2" \
      >"$work/verify.out" 2>&1 || { cat "$work/verify.out" >&2; exit 1; }
  }
  psql -X -q "$dst" -c "DROP SCHEMA IF EXISTS backfill CASCADE"
  fn=() before=()
  local methods=() b
  add_method "COPY out, both" "" v_copy_out
  add_method "hashtext, both" "" v_hashtext
  for b in "${bins[@]}"; do
    add_method "verify push-down$(bin_label "$b")" "" v_backfill "$b" push-down
    add_method "verify streamed$(bin_label "$b")" "" v_backfill "$b" streamed
  done
  compare "$shape" verify "hashtext, both" "${methods[@]}"
}

bench_update() {
  local shape=$1 rows=$2 col=${upd_col[$1]} type=${upd_type[$1]} expr=${upd_expr[$1]}
  local key
  key=$(psql -X -At "$src" -c "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord) FROM pg_index i
          CROSS JOIN unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = 'public.$shape'::regclass AND i.indisprimary")
  # A fresh copy of the shape with the new, empty column each time: vacuumed, no free space
  # left in its pages (no HOT update finds room), as after a plain ADD COLUMN.
  reset_update() {
    psql -X -q "$src" -v ON_ERROR_STOP=1 -c "DROP TABLE IF EXISTS bench_u, bench_u_mid" \
      -c "DROP SCHEMA IF EXISTS backfill CASCADE" \
      -c "CREATE TABLE bench_u AS SELECT *, NULL::$type AS $col FROM $shape" \
      -c "ALTER TABLE bench_u ADD PRIMARY KEY ($key)"
    vacuum "$src" bench_u
    # Where the two halves meet, looked up before the clock starts.
    psql -X -q "$src" -c "CREATE TABLE bench_u_mid AS SELECT $key FROM bench_u ORDER BY $key OFFSET $((rows / 2)) LIMIT 1"
  }
  check_update() {
    local n
    n=$(psql -X -At "$src" -c "SELECT count(*) FROM bench_u WHERE $col IS DISTINCT FROM ($expr)")
    [[ $n == 0 ]] || { echo "bench: $1 left $n rows of $shape unfilled" >&2; exit 1; }
  }
  u_single() { psql -X -q "$src" -c "UPDATE bench_u SET $col = $expr"; check_update "one UPDATE"; }
  u_halves() {  # the two halves of the key range, at once
    psql -X -q "$src" -c "UPDATE bench_u SET $col = $expr WHERE ($key) < (SELECT $key FROM bench_u_mid)" &
    local a=$!
    psql -X -q "$src" -c "UPDATE bench_u SET $col = $expr WHERE ($key) >= (SELECT $key FROM bench_u_mid)" &
    wait_both $a $!
    check_update "two UPDATE halves"
  }
  u_backfill() {  # BIN --set|--map EXPRESSION
    "$1" update --target "$src" --table bench_u "$2" "$col = $3" --progress none \
      >"$work/update.out" 2>&1 || { cat "$work/update.out" >&2; exit 1; }
    check_update "backfill update $2"
  }
  fn=() before=()
  local methods=() b
  add_method "one UPDATE" reset_update u_single
  add_method "two UPDATEs, halves" reset_update u_halves
  for b in "${bins[@]}"; do
    add_method "backfill update --set$(bin_label "$b")" reset_update u_backfill "$b" --set "$expr"
    if [[ -n ${upd_map[$shape]:-} ]]; then
      add_method "backfill update --map$(bin_label "$b")" reset_update u_backfill "$b" --map "${upd_map[$shape]}"
    fi
  done
  compare "$shape" update "one UPDATE" "${methods[@]}"
  psql -X -q "$src" -c "DROP TABLE IF EXISTS bench_u" -c "DROP TABLE IF EXISTS bench_u_mid" \
    -c "DROP SCHEMA IF EXISTS backfill CASCADE"
}

bench_map() {
  local shape=$1 rows=$2 maps=() m specs
  [[ -n ${map_args[$shape]} ]] || return 0
  IFS='|' read -r -a specs <<<"${map_args[$shape]}"
  for m in "${specs[@]}"; do maps+=(--map "$m"); done
  reset_target() { psql -X -q "$dst" -c "TRUNCATE $shape" -c "DROP SCHEMA IF EXISTS backfill CASCADE" 2>/dev/null; }
  run_with() {  # BIN [ARGS...]
    "$1" copy --source "$src" --target "$dst" --table "$shape" --progress none "${@:2}" \
      >"$work/map.out" 2>&1 || { cat "$work/map.out" >&2; exit 1; }
    check_rows "$dst" "$shape" "$rows" "backfill copy"
  }
  fn=() before=()
  local methods=() b
  for b in "${bins[@]}"; do
    add_method "pass-through$(bin_label "$b")" reset_target run_with "$b"
    add_method "three --map$(bin_label "$b")" reset_target run_with "$b" "${maps[@]}"
  done
  compare "$shape" map "pass-through" "${methods[@]}"
}

# What the metrics cost: the same copy plain, serving /metrics scraped once a second (as a
# Prometheus would, with a 1 s scrape interval: fifteen times its default rate), and writing
# the textfile every 2 s.
bench_metrics() {
  local shape=$1 rows=$2
  reset_target() { psql -X -q "$dst" -c "TRUNCATE $shape" -c "DROP SCHEMA IF EXISTS backfill CASCADE" 2>/dev/null; }
  m_run() {  # MODE: plain | listen | file
    local extra=() port=$((20000 + RANDOM % 20000))
    case $1 in
      listen) extra=(--metrics-listen "127.0.0.1:$port") ;;
      file) extra=(--metrics-file "$work/metrics.prom") ;;
    esac
    /usr/bin/time -f "%U %S" -o "$work/metrics.cpu" \
      "$bin" copy --source "$src" --target "$dst" --table "$shape" --progress none "${extra[@]}" \
      >"$work/metrics.out" 2>&1 &
    local pid=$! scraper=
    : >"$work/scraped"
    if [[ $1 == listen ]]; then
      # The scraper beside the copy, so that the copy's own end is what is timed.
      while kill -0 "$pid" 2>/dev/null; do
        # bash's /dev/tcp: a plain HTTP/1.0 GET, the connection closed by the server.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 &&
            grep -q '^backfill_rows_total' <&3) 2>/dev/null; then
          echo >>"$work/scraped"
        fi
        sleep 1
      done &
      scraper=$!
    fi
    wait "$pid" || { cat "$work/metrics.out" >&2; exit 1; }
    [[ -z $scraper ]] || { kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true; }
    check_rows "$dst" "$shape" "$rows" "backfill copy"
    # backfill's own CPU seconds (user + system): what the metrics cost it, without the
    # servers' I/O that makes the wall time of a durable copy vary by 10% between rounds.
    echo "$1 $(awk '{print $1 + $2}' "$work/metrics.cpu")" >>"$work/metrics_cpu"
    [[ $1 != listen ]] || wc -l <"$work/scraped" >>"$work/scrapes"
    [[ $1 != file ]] || grep -q '^backfill_rows_total.* '"$rows"'$' "$work/metrics.prom" ||
      { echo "bench: the metrics file does not count $rows rows" >&2; exit 1; }
  }
  fn=() before=()
  local methods=()
  add_method "backfill copy" reset_target m_run plain
  add_method "--metrics-listen, scraped 1/s" reset_target m_run listen
  add_method "--metrics-file" reset_target m_run file
  compare "$shape" metrics "backfill copy" "${methods[@]}"
  [[ $(sort -n "$work/scrapes" | head -1) -gt 0 ]] || { echo "bench: no scrape answered" >&2; exit 1; }
  echo "bench: scrapes answered per listening run: $(tr '\n' ' ' <"$work/scrapes")"
  local mode plain_cpu cpu
  plain_cpu=$(awk '$1 == "plain" {print $2}' "$work/metrics_cpu" | median)
  for mode in plain listen file; do
    cpu=$(awk -v m="$mode" '$1 == m {print $2}' "$work/metrics_cpu" | median)
    printf 'bench: backfill CPU seconds (user + system), median, %-6s %6.2f s  %.3fx\n' "$mode" "$cpu" \
      "$(echo "$cpu / $plain_cpu" | bc -l)" | tee -a "$work/cpu_summary"
  done
}

# backfill tune on the shape (its own table, CSV, JSON and plot in $tune_out), then the copy
# with tune's pick against the copy with the defaults.
bench_tune() {
  local shape=$1 rows=$2 pick
  reset_target() { psql -X -q "$dst" -c "TRUNCATE $shape" -c "DROP SCHEMA IF EXISTS backfill CASCADE" 2>/dev/null; }
  reset_target
  checkpoint
  mkdir -p "$tune_out"
  "$bin" tune --source "$src" --target "$dst" --table "$shape" --out "$tune_out" \
    >"$tune_out/tune.txt" 2>"$tune_out/tune.log" || { cat "$tune_out/tune.log" >&2; exit 1; }
  cat "$tune_out/tune.txt"
  pick=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))["recommendation"]
if r: print("--jobs", r["jobs"], "--chunk-time" if r["chunk_time_ms"] else "--chunk-rows", r["chunk_time_ms"] or r["chunk_rows"])' \
    "$tune_out/trials.json")
  [[ -n $pick ]] || { echo "bench: tune made no recommendation" >&2; return 0; }
  t_run() {
    "$bin" copy --source "$src" --target "$dst" --table "$shape" --progress none "$@" \
      >"$work/tune-copy.out" 2>&1 || { cat "$work/tune-copy.out" >&2; exit 1; }
    check_rows "$dst" "$shape" "$rows" "backfill copy"
  }
  fn=() before=()
  local methods=()
  add_method "backfill copy" reset_target t_run
  # shellcheck disable=SC2086 # the pick is four words
  add_method "tune's pick: $pick" reset_target t_run $pick
  compare "$shape" tune "backfill copy" "${methods[@]}"
}

# 10x the rows for 10x the time: the narrow shape at 1M, 5M and 10M rows, in tables of their own.
bench_scale() {
  local n
  for n in 1000000 5000000 10000000; do
    local t=narrow_$((n / 1000000))m
    local tag="rows=$n sql=$(md5sum scripts/sql/shapes/narrow.sql | cut -c1-12)"
    if [[ "$(psql -X -At "$src" -c "SELECT obj_description('public.$t'::regclass)" 2>/dev/null)" != "$tag" ]]; then
      echo "bench: generating $t"
      psql -X -q "$src" -c "DROP TABLE IF EXISTS $t" -c "DROP TABLE IF EXISTS narrow_gen"
      sed "s/\bnarrow\b/$t/g" scripts/sql/shapes/narrow.sql | psql -X -q "$src" -v ON_ERROR_STOP=1 -v rows="$n"
      psql -X -q "$src" -c "COMMENT ON TABLE $t IS '$tag'"
      vacuum "$src" "$t"
    fi
    psql -X -q "$dst" -c "DROP TABLE IF EXISTS $t" -c "DROP SCHEMA IF EXISTS backfill CASCADE"
    sed "s/\bnarrow\b/$t/g" scripts/sql/shapes/narrow.sql | psql -X -q "$dst" -v ON_ERROR_STOP=1 -v rows=0
    psql -X -q "$dst" -c "ALTER TABLE $t SET (autovacuum_enabled = off)"
  done
  reset_scale() { psql -X -q "$dst" -c 'TRUNCATE narrow_1m, narrow_5m, narrow_10m' -c 'DROP SCHEMA IF EXISTS backfill CASCADE'; }
  s_run() {  # TABLE ROWS
    /usr/bin/time -f "%M" -o "$work/rss" "$bin" copy --source "$src" --target "$dst" --table "$1" \
      --progress none >"$work/scale.out" 2>&1 || { cat "$work/scale.out" >&2; exit 1; }
    check_rows "$dst" "$1" "$2" "backfill copy"
    echo "$1 $(cat "$work/rss")" >>"$work/rss.scale"
  }
  fn=() before=()
  local methods=()
  add_method "1M rows" reset_scale s_run narrow_1m 1000000
  add_method "5M rows" reset_scale s_run narrow_5m 5000000
  add_method "10M rows" reset_scale s_run narrow_10m 10000000
  compare narrow scale "1M rows" "${methods[@]}"
}

for shape in "${shapes[@]}"; do
  rows=${rows_override:-${default_rows[$shape]}}
  ensure_source "$shape" "$rows"
  bytes=$(psql -X -At "$src" -c "SELECT pg_size_pretty(pg_total_relation_size('$shape'))")
  echo "bench: $shape: $rows rows, $bytes with its index and TOAST; $(nproc) cores; server profile $profile"
  echo "$shape $rows $bytes" >>"$work/shapes"
  [[ $only == all || $only == copy ]] && bench_copy "$shape" "$rows"
  [[ $only == all || $only == verify ]] && bench_verify "$shape" "$rows"
  [[ $only == all || $only == update ]] && bench_update "$shape" "$rows"
  [[ $only == all || $only == map ]] && bench_map "$shape" "$rows"
  [[ $only == metrics ]] && bench_metrics "$shape" "$rows"
  [[ $only == tune ]] && bench_tune "$shape" "$rows"
  psql -X -q "$dst" -c "DROP TABLE IF EXISTS $shape" -c "DROP SCHEMA IF EXISTS backfill CASCADE"
done
if [[ $only == scale || ( $only == all && ${#shapes[@]} -eq ${#all_shapes[@]} ) ]]; then bench_scale; fi

# The targets each ratio is held to (the performance issue), by section and method.
target_of() {
  case "$1/$2" in
    copy/backfill\ copy) echo "<= 0.90" ;;
    copy/--defer-indexes) echo "<= 0.70" ;;
    verify/verify\ push-down) echo "<= 0.80" ;;
    update/backfill\ update\ --set) echo "<= 1.00" ;;
    map/three\ --map) echo "<= 1.15" ;;
    scale/10M\ rows) echo "<= 10.50" ;;
    metrics/--metrics-listen,\ scraped\ 1/s) echo "<= 1.01" ;;
    *) echo "" ;;
  esac
}

echo
echo "bench: $(nproc) cores, PostgreSQL $(psql -X -At "$src" -c "SHOW server_version"), server profile $profile"
psql -X -At "$src" -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings
  WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'shared_buffers', 'max_wal_size', 'autovacuum')" |
  sed 's/^/bench: /'
if [[ -s $work/shapes ]]; then
  echo "bench: shapes: $(awk '{printf "%s%s %s rows (%s %s)", (NR > 1 ? "; " : ""), $1, $2, $3, $4}' "$work/shapes")"
fi
echo "bench: medians of $rounds rounds; ratio: median of method / baseline within a round"
echo
printf '%-15s %-7s %-34s %9s %9s  %-18s %-8s\n' shape work method seconds ratio "vs" target
awk -F'\t' '{print}' "$results" | while IFS=$'\t' read -r shape section method baseline secs ratio; do
  target=$(target_of "$section" "${method% (baseline)}")
  met=""
  if [[ -n $target && $method != *"(baseline)" ]]; then
    met=$(awk -v r="$ratio" -v t="${target#<= }" 'BEGIN {print (r <= t) ? "met" : "missed"}')
  fi
  [[ $method == "$baseline" ]] && ratio_text="" || ratio_text=$(printf '%.2fx' "$ratio")
  printf '%-15s %-7s %-34s %9.2f %9s  %-18s %-8s %s\n' "$shape" "$section" "$method" "$secs" "$ratio_text" \
    "$([[ $method == "$baseline" ]] || echo "$baseline")" "$target" "$met"
done
# Targets against other baselines (beat pgcopydb by 25%, streamed within 1.5x of COPY out,
# update within 1.3x of two halves at once), as every ratio above: the median over rounds of
# method / other within the round.
pair_ratio() {  # SECTION METHOD OTHER TARGET LABEL
  [[ -s $work/rounds.tsv ]] || return 0
  local shape ratio
  for shape in $(cut -f1 "$work/rounds.tsv" | sort -u); do
    ratio=$(awk -F'\t' -v s="$shape" -v w="$1" -v a="$2" -v b="$3" '
      $1 == s && $2 == w && $4 == a {x[$3] = $5}
      $1 == s && $2 == w && $4 == b {y[$3] = $5}
      END {for (r in x) if (r in y) print x[r] / y[r]}' "$work/rounds.tsv" | median) || ratio=
    [[ -n $ratio ]] || continue  # not measured on this shape (median's grep found no line)
    printf '%-15s %s: %s %.2fx (target <= %s) %s\n' "$shape" "$1" "$5" "$ratio" "$4" \
      "$(awk -v r="$ratio" -v t="$4" 'BEGIN {print (r <= t) ? "met" : "missed"}')"
  done
}
pair_ratio copy "backfill copy" pgcopydb 0.75 "backfill copy / pgcopydb"
pair_ratio verify "verify streamed" "COPY out, both" 1.50 "streamed / COPY out"
pair_ratio update "backfill update --set" "two UPDATEs, halves" 1.30 "backfill / two halves"
if [[ -s $work/rss.all ]]; then
  echo "backfill copy peak RSS: $(sort -k2 -n "$work/rss.all" | tail -1 | awk '{printf "%d MB (%s)", $2 / 1024, $1}') (max over every run)"
fi
if [[ -s $work/rss.scale ]]; then
  echo "backfill copy peak RSS by size: $(awk '{m[$1] = ($2 > m[$1]) ? $2 : m[$1]} END {for (t in m) printf "%s %d MB  ", t, m[t] / 1024}' "$work/rss.scale")"
fi
[[ -s $work/cpu_summary ]] && cat "$work/cpu_summary"
echo "bench: $(( ($(date +%s) - bench_start) / 60 )) min $(( ($(date +%s) - bench_start) % 60 )) s"

if [[ $micro -eq 1 ]]; then
  cmake -S . -B build -DBACKFILL_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build build -j"$(nproc)" --target backfill_bench >/dev/null
  build/bench/backfill_bench
fi
echo "bench: cluster left running; scripts/pg.sh stop bench"
