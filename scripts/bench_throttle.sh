#!/usr/bin/env bash
# Throttling, measured in one run on one cluster: a fixed-rate pgbench foreground (tpcb-like,
# -R RATE) for the same length of time in three phases:
#   alone        pgbench only
#   unthrottled  beside `backfill copy --no-throttle`
#   throttled    beside `backfill copy` with the throttle's defaults (or THROTTLE_ARGS)
#   capped 25%   beside `backfill copy --no-throttle --max-rate R`, R a quarter of the
#                unthrottled rows/s: what the foreground sees at exactly the throughput
#                the issue asks the throttle to keep (the hardware's side of the target)
# then, in the throttled phase, pgbench stops for a stretch while the copy goes on, to see it
# speed back up. Prints foreground p50/p99 latency and tps and the copy's rows/s per phase,
# and draws rows/s and foreground latency over time for the throttled phase (gnuplot PNG).
#
# --why adds three phases that tell where the foreground's latency comes from:
#   burner nice 19   beside a busy loop at the lowest CPU priority (CPU time alone)
#   capped, nice 19  the quarter-speed copy with its server backends reniced to 19
#   capped, unlogged the quarter-speed copy into an UNLOGGED target (no WAL)
#
#   scripts/bench_throttle.sh [--seconds S] [--rate TPS] [--rows N] [--png FILE] [--why]
#   (also: scripts/bench.sh --throttle ...)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=15
rate=200
rows=10000000
png=docs/throttle.png
why=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --why) why=1; shift ;;
    --seconds) seconds=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --rows) rows=$2; shift 2 ;;
    --png) png=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds S] [--rate TPS] [--rows N] [--png FILE] [--why]" >&2; exit 2 ;;
  esac
done
rest=$((seconds / 2))  # the stretch without foreground at the end of the throttled phase

# shellcheck source=scripts/bench_setup.sh
source scripts/bench_setup.sh
# Databases of its own, so that scripts/bench.sh's shapes stay as they are.
src="$server dbname=bench_throttle_source"
dst="$server dbname=bench_throttle_target"
fg="$server dbname=bench_fg"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

have=$(psql -X -At "$src" -c "SELECT count(*) FROM users" 2>/dev/null || echo 0)
if [[ $have != "$rows" ]]; then
  echo "bench: generating $rows rows"
  psql -X -q "$server dbname=postgres" -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS bench_throttle_source WITH (FORCE)" -c "CREATE DATABASE bench_throttle_source"
  psql -X -q "$src" -v ON_ERROR_STOP=1 -v rows="$rows" -f scripts/sql/shapes/users.sql
  vacuum "$src" users
fi
psql -X -q "$server dbname=postgres" -v ON_ERROR_STOP=1 \
  -c "DROP DATABASE IF EXISTS bench_throttle_target WITH (FORCE)" -c "CREATE DATABASE bench_throttle_target" \
  -c "DROP DATABASE IF EXISTS bench_fg WITH (FORCE)" -c "CREATE DATABASE bench_fg"
psql -X -q "$dst" -v ON_ERROR_STOP=1 -v rows=0 -f scripts/sql/shapes/users.sql
pgbench -q -i -s 10 "$fg" >/dev/null 2>&1  # vacuums its tables itself
warm_buffers
echo "bench: foreground pgbench -R $rate -c 4 (tpcb-like, scale 10), ${seconds}s per phase; $(nproc) cores"

reset_target() {
  psql -X -q "$dst" -c "TRUNCATE users" -c "DROP SCHEMA IF EXISTS backfill CASCADE" \
    -c "CHECKPOINT" 2>/dev/null
}

# Rows copied so far, from the ledger, with a timestamp: one line every half second.
sample_rows() {
  local t0=$1 out=$2
  while true; do
    local n
    n=$(psql -X -At "$dst" -c "SELECT coalesce(sum(rows), 0) FROM backfill.chunks WHERE status = 'done'" 2>/dev/null || echo 0)
    echo "$(echo "$(date +%s.%N) - $t0" | bc) ${n:-0}" >>"$out"
    sleep 0.5
  done
}

# pgbench for $1 seconds at the fixed rate: per-transaction log and per-second progress.
foreground() {
  local name=$1 secs=$2
  pgbench -n -R "$rate" -c 4 -j 2 -T "$secs" -P 1 --log --log-prefix="$work/$name" "$fg" \
    >"$work/$name.out" 2>"$work/$name.progress"
}

# p50 and p99 latency (ms) of every logged transaction of a phase; tps from pgbench.
latency() {
  cat "$work/$1".[0-9]* | awk '{print $3 / 1000}' | sort -n |
    awk '{v[NR] = $1} END {printf "%.2f %.2f", v[int(NR * 0.50)], v[int(NR * 0.99)]}'
}
tps() { grep -oP 'tps = \K[0-9.]+' "$work/$1.out" | head -1; }

# backfill copy in the background until stopped; rows/s over the phase from the ledger.
start_copy() {
  reset_target
  "$bin" copy --source "$src" --target "$dst" --table users --progress none \
    --report "$work/$1.json" "${@:2}" >"$work/$1.log" 2>&1 &
  copy_pid=$!
}
stop_copy() {
  kill -INT "$copy_pid" 2>/dev/null || true
  wait "$copy_pid" || true
}
copied() { psql -X -At "$dst" -c "SELECT coalesce(sum(rows), 0) FROM backfill.chunks WHERE status = 'done'"; }

declare -A p50 p99 tp rps

# The foreground's p50, p99 and tps in phase $1, from its logs.
record() {
  read -r "p50[$1]" "p99[$1]" <<<"$(latency "$1")"
  tp[$1]=$(tps "$1")
}
# A phase beside a copy started with the arguments after the name. $after_start, when set,
# names a function run once the copy is under way.
copy_phase() {
  local name=$1
  start_copy "$@"
  if [[ -n ${after_start:-} ]]; then "$after_start"; fi
  foreground "$name" "$seconds"
  rps[$name]=$(( $(copied) / seconds ))
  stop_copy
  record "$name"
}
# Lowers the running copy's server backends to the lowest CPU priority, once its first chunk
# is done (by then every session of the job is open).
renice_copy() {
  local deadline=$((SECONDS + 60))
  until [[ $(copied 2>/dev/null || echo 0) -gt 0 ]]; do
    [[ $SECONDS -lt $deadline ]] || { echo "bench: the copy never finished a chunk" >&2; exit 1; }
    sleep 0.1
  done
  renice -n 19 -p $(psql -X -At "$dst" -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'backfill'") >/dev/null
}

echo "bench: phase 1/4, alone"
checkpoint
foreground alone "$seconds"
record alone
rps[alone]=-

echo "bench: phase 2/4, beside an unthrottled copy"
copy_phase unthrottled --no-throttle

echo "bench: phase 3/4, beside a throttled copy ${THROTTLE_ARGS:-(defaults)}, then ${rest}s without foreground"
# shellcheck disable=SC2086
start_copy throttled ${THROTTLE_ARGS:-}
t0=$(date +%s.%N)
sample_rows "$t0" "$work/timeline.rows" &
sampler=$!
foreground throttled "$seconds"
rps[throttled]=$(( $(copied) / seconds ))
sleep "$rest"  # the stretch without foreground: the copy runs alone, sampled
stop_copy
kill "$sampler" 2>/dev/null || true
record throttled

cap=$(( rps[unthrottled] / 4 ))
echo "bench: phase 4/4, beside a copy capped at $cap rows/s (a quarter of unthrottled)"
copy_phase capped --no-throttle --max-rate "$cap"

phases=(alone unthrottled throttled capped)
if [[ $why -eq 1 ]]; then
  echo "bench: --why 1/3, beside a busy loop at nice 19"
  checkpoint
  nice -n 19 bash -c 'while :; do :; done' &
  burner=$!
  foreground burner "$seconds"
  kill "$burner"
  record burner
  rps[burner]=-

  echo "bench: --why 2/3, the capped copy with its server backends at nice 19"
  after_start=renice_copy copy_phase reniced --no-throttle --max-rate "$cap"

  echo "bench: --why 3/3, the capped copy into an UNLOGGED target"
  psql -X -q "$dst" -c "ALTER TABLE users SET UNLOGGED"
  copy_phase unlogged --no-throttle --max-rate "$cap"
  psql -X -q "$dst" -c "ALTER TABLE users SET LOGGED"
  phases+=(burner reniced unlogged)
fi

echo
printf '%-28s %10s %10s %10s %12s %10s\n' "phase ($seconds s each)" "fg p50 ms" "fg p99 ms" "fg tps" "copy rows/s" "p99 vs alone"
for ph in "${phases[@]}"; do
  ratio=$(echo "scale=2; ${p99[$ph]} / ${p99[alone]}" | bc)
  printf '%-28s %10s %10s %10s %12s %9sx\n' "$ph" "${p50[$ph]}" "${p99[$ph]}" "${tp[$ph]}" "${rps[$ph]}" "$ratio"
done
pct=$(echo "scale=0; 100 * ${rps[throttled]} / ${rps[unthrottled]}" | bc)
echo "throttled copy keeps ${pct}% of the unthrottled throughput"

# Rows/s of the throttled phase over a sliding 1.5 s window (rows land a chunk at a time);
# recovery after the foreground stops: the first moment the copy is back to 90% of its
# unthrottled rate.
awk '{t[NR] = $1; n[NR] = $2}
     NR > 3 {printf "%.1f %.0f\n", $1, ($2 - n[NR - 3]) / ($1 - t[NR - 3])}' \
  "$work/timeline.rows" >"$work/timeline.rate"
grep -oP 'progress: \K[0-9.]+ s, [0-9.]+ tps, lat [0-9.]+' "$work/throttled.progress" |
  awk '{print $1, $6}' >"$work/timeline.lat"
recovery=$(awk -v stop="$seconds" -v full="${rps[unthrottled]}" \
  '$1 > stop && $2 >= 0.9 * full {printf "%.1f", $1 - stop; exit}' "$work/timeline.rate")
echo "after the foreground stops, back to 90% of full speed in ${recovery:-more than $rest} s"
grep -h "throttled_seconds\|throttled_by" -A3 "$work/throttled.json" | head -8 || true

mkdir -p "$(dirname "$png")"
gnuplot <<EOF
set terminal png size 900,420
set output "$png"
set title "backfill copy beside pgbench -R $rate: throttled phase (foreground stops at ${seconds} s)"
set xlabel "seconds"
set ylabel "copy rows/s"
set y2label "foreground latency, ms (per-second average)"
set ytics nomirror
set y2tics
set key top left
set arrow from $seconds, graph 0 to $seconds, graph 1 nohead dt 2
plot "$work/timeline.rate" using 1:2 with lines lw 2 title "copy rows/s", \
     "$work/timeline.lat" using 1:2 axes x1y2 with lines lw 2 title "foreground latency"
EOF
echo "bench: wrote $png; cluster left running; scripts/pg.sh stop bench"
