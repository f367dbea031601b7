#!/usr/bin/env bash
# The faults of the fault suite, at a size and for a time the suite cannot afford (not in
# CI): a copy of 20 million rows on a durable server, beside a pgbench foreground, killed
# with kill -9 every minute and resumed with the same command, and once waiting out a crash
# of the server; then a verify that must match, row for row.
#
#   scripts/soak.sh [--rows N] [--kill-every SECONDS] [--down SECONDS] [--rate TPS]
#     --rows        rows of the source table (default 20,000,000)
#     --kill-every  seconds between kill -9s of the copy (default 60)
#     --down        how long the server stays crashed, once, half way (default 20)
#     --rate        pgbench's fixed rate, transactions/s (default 100)
#
# Prints each fault as it happens, then: the kills survived, the downtime waited out, the
# copy's time in all, pgbench's transactions and latency, and the verify's verdict. Exits 1
# unless the verify matches. Its cluster is `soak` on port 55438, destroyed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

rows=20000000
kill_every=60
down=20
rate=100
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    --kill-every) kill_every=$2; shift 2 ;;
    --down) down=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    *) echo "usage: $0 [--rows N] [--kill-every SECONDS] [--down SECONDS] [--rate TPS]" >&2; exit 2 ;;
  esac
done
for v in "$rows" "$kill_every" "$down" "$rate"; do
  [[ "$v" =~ ^[0-9]+$ && "$v" -gt 0 ]] || { echo "soak: options take positive integers" >&2; exit 2; }
done

scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target backfill >/dev/null
bin=$PWD/build/backfill
work=$(mktemp -d)
cluster=soak
trap 'kill $(jobs -p) 2>/dev/null || true; scripts/pg.sh destroy $cluster >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
scripts/pg.sh destroy $cluster >/dev/null 2>&1 || true
server=$(scripts/pg.sh start $cluster 55438 durable)
db="$server dbname=soak"
psql -X -q "$server dbname=postgres" -c "CREATE DATABASE soak"
echo "soak: $rows rows on a durable server; kill -9 every ${kill_every}s; one crash of ${down}s; pgbench -R $rate"
psql -X -q "$db" -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE src (id bigint PRIMARY KEY, email text NOT NULL, balance numeric(12,2), created_at timestamptz, note text);
INSERT INTO src SELECT g, 'user' || g || '@example.com', g / 7.0, '2020-01-01'::timestamptz + g * interval '1 s',
  CASE WHEN g % 5 = 0 THEN NULL ELSE md5(g::text) END FROM generate_series(1, $rows) g;
CREATE TABLE dst (LIKE src INCLUDING ALL);
VACUUM ANALYZE src;
CHECKPOINT;
SQL
pgbench -q -i -s 10 "$db" >/dev/null 2>&1

pgbench -n -R "$rate" -c 2 -j 1 -T 86400 -P 10 "$db" >"$work/pgbench.log" 2>&1 &
fg=$!
copy=("$bin" copy --source "$db" --target "$db" --table src --to dst --progress log)
# Rows of the chunks the ledger has done: cheap, unlike count(*) of the target.
done_rows() {
  psql -X -Atq "$db" -c "SELECT coalesce(sum(rows), 0) FROM backfill.chunks WHERE status = 'done'" 2>/dev/null || echo 0
}

start=$(date +%s)
kills=0
crashed=0
waited=0
while true; do
  "${copy[@]}" >>"$work/copy.out" 2>>"$work/copy.err" &
  pid=$!
  deadline=$(( $(date +%s) + kill_every ))
  while kill -0 "$pid" 2>/dev/null && [[ $(date +%s) -lt $deadline ]]; do
    # Half way, once: the server crashes under the copy and stays down for --down seconds.
    if [[ $crashed -eq 0 ]] && [[ $(done_rows) -ge $(( rows / 2 )) ]]; then
      crashed=1
      echo "soak: crashing the server under the copy for ${down}s"
      t0=$(date +%s)
      scripts/pg.sh crash $cluster
      sleep "$down"
      scripts/pg.sh start $cluster 55438 durable >/dev/null
      waited=$(( $(date +%s) - t0 ))
      # pgbench is a foreground for the copy, not the subject: start it again.
      kill "$fg" 2>/dev/null || true
      pgbench -n -R "$rate" -c 2 -j 1 -T 86400 -P 10 "$db" >>"$work/pgbench.log" 2>&1 &
      fg=$!
      # The copy that waited it out goes on for a full stretch before the next kill.
      deadline=$(( $(date +%s) + kill_every ))
    fi
    sleep 1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    kills=$((kills + 1))
    echo "soak: kill -9 number $kills, $(done_rows) rows in"
    continue
  fi
  rc=0
  wait "$pid" || rc=$?
  [[ $rc -eq 0 ]] && break
  echo "soak: the copy exited $rc; the same command again (stderr: $work/copy.err)"
done
took=$(( $(date +%s) - start ))
kill "$fg" 2>/dev/null || true
wait "$fg" 2>/dev/null || true

verdict=0
"$bin" verify --source "$db" --target "$db" --table src --to dst --progress none >"$work/verify.out" 2>&1 || verdict=$?
echo "soak: copy of $rows rows done in ${took}s across $kills kill -9s and a ${waited}s outage waited out ($(grep -c 'server unreachable for' "$work/copy.err" || true) retry lines)"
echo "soak: pgbench beside it: $(grep -E '^progress:' "$work/pgbench.log" | awk '{tps += $4; lat += $7; n++} END {if (n) printf "%.0f tps, %.1f ms mean latency over %d ten-second samples", tps / n, lat / n, n}')"
echo "soak: verify: $(grep -E 'match|DIFFERENT' "$work/verify.out" | head -1) (exit $verdict)"
exit $(( verdict == 0 ? 0 : 1 ))
