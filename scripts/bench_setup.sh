# Sourced by scripts/bench.sh and scripts/bench_throttle.sh, from the repository's root:
# installs what is missing, builds backfill (Release), starts the `bench` cluster, and sets
#   bin       the backfill binary
#   profile   the cluster's settings: durable (PostgreSQL's durable defaults, what every
#             number in the README comes from) or fast (durability off: --fast-server)
#   server    the cluster's DSN without a database; src and dst: the bench databases in it
#   work      a temporary directory, which the sourcing script removes on exit
# and the helpers warm_buffers, checkpoint and vacuum.
scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target backfill >/dev/null
bin=${bin:-$PWD/build/backfill}

profile=${profile:-durable}
server=$(scripts/pg.sh start bench 55434 "$profile")
src="$server dbname=bench_source"
dst="$server dbname=bench_target"
work=$(mktemp -d)
if [[ $profile == fast ]]; then
  echo "bench: FAST SERVER: fsync, synchronous_commit and full_page_writes off; not what production runs"
fi

# Every shared buffer touched once after the server starts, as on a server that has run for
# a while: a fresh server's first touch of each page of its shared memory is a page fault,
# which every chunked writer (a new buffer ring per COPY) pays and one long COPY does not.
warm_buffers() {
  local marker=/tmp/backfill-pg/bench/warmed pid
  pid=$(head -1 /tmp/backfill-pg/bench/data/postmaster.pid)
  [[ "$(cat "$marker" 2>/dev/null)" == "$pid" ]] && return 0
  echo "bench: touching every shared buffer once (a fresh server's first touch is a page fault)"
  psql -X -q "$server dbname=postgres" -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" \
    -c "DROP TABLE IF EXISTS bench_warm" \
    -c "CREATE UNLOGGED TABLE bench_warm AS SELECT repeat('x', 1800) AS pad
          FROM generate_series(1, (SELECT setting::bigint * 4 FROM pg_settings WHERE name = 'shared_buffers'))" \
    -c "SELECT pg_prewarm('bench_warm')" -c "DROP TABLE bench_warm" >/dev/null
  echo "$pid" >"$marker"
}
# Each measured run starts with nothing of the last one left to flush.
checkpoint() { psql -X -q "$server dbname=postgres" -c "CHECKPOINT"; }
# vacuum DSN TABLE: hint bits set and the visibility map built, so that no method pays for
# them and autovacuum finds nothing to do during a run.
vacuum() { psql -X -q "$1" -c "VACUUM (ANALYZE) $2"; }
