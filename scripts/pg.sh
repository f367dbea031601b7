#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests, demos and benchmarks.
#
#   scripts/pg.sh start NAME [PORT] [PROFILE]
#                                     start (or reuse) cluster NAME; prints its DSN
#       PROFILE fast (default): durability off (fsync, full_page_writes, synchronous_commit
#               off, wal_level minimal); for tests and the demo only
#       PROFILE durable: PostgreSQL's durable defaults (fsync, full_page_writes,
#               synchronous_commit on, wal_level replica), memory and max_wal_size sized for
#               the machine as pgtune sizes them; what the benchmarks run on
#   scripts/pg.sh stop NAME           stop it (its files stay until `destroy`)
#   scripts/pg.sh crash NAME          stop it as a crash would (immediate: no checkpoint, every
#                                     session cut); `start` then runs crash recovery
#   scripts/pg.sh destroy NAME        stop it and remove its directory
#   scripts/pg.sh dsn NAME            print the DSN of a running cluster
#
# The cluster lives in ${BACKFILL_PG_ROOT:-/tmp/backfill-pg}/NAME, runs as the `postgres`
# user (initdb and postgres refuse root) and listens on a unix socket in that directory
# only: nothing on TCP, nothing shared with a system cluster. Both commands are idempotent.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=${BACKFILL_PG_ROOT:-/tmp/backfill-pg}
cmd=${1:-}
name=${2:-}
[[ -n "$cmd" && -n "$name" ]] || { echo "usage: $0 start|stop|crash|destroy|dsn NAME [PORT]" >&2; exit 2; }
[[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] || { echo "pg.sh: cluster name must be [A-Za-z0-9_-]+, got '$name'" >&2; exit 2; }
dir="$ROOT/$name"
data="$dir/data"
sock="$dir"

as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_of() { cat "$dir/port" 2>/dev/null || echo "${1:-5499}"; }

# No dbname: libpq then uses the user name, "postgres"; callers append their own dbname.
dsn() { echo "host=$sock port=$(port_of) user=postgres"; }

running() { [[ -f "$data/postmaster.pid" ]] && as_pg "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

case "$cmd" in
  start)
    port=${3:-$(port_of 5499)}
    profile=${4:-fast}
    [[ "$port" =~ ^[0-9]+$ ]] || { echo "pg.sh: PORT must be a number, got '$port'" >&2; exit 2; }
    [[ -x "$PGBIN/postgres" ]] || { echo "pg.sh: $PGBIN/postgres not found; run scripts/setup.sh" >&2; exit 2; }
    if running; then
      # Reused only when it runs the profile asked for; otherwise restarted with it.
      if [[ "$(cat "$dir/profile" 2>/dev/null)" == "$profile" ]]; then dsn; exit 0; fi
      as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
    mkdir -p "$ROOT"
    chmod 755 "$ROOT"
    if [[ $(id -u) -eq 0 ]]; then mkdir -p "$dir" && chown postgres:postgres "$dir"; else mkdir -p "$dir"; fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
      echo "pg.sh: initdb $data" >&2
      # C.UTF-8: byte order for text, the same on every machine; UTF8 for non-ASCII data.
      as_pg "$PGBIN/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    echo "$port" >"$dir/port.tmp" && mv "$dir/port.tmp" "$dir/port"
    case "$profile" in
      fast)
        # Sized for a 2-core test machine; fsync off because every cluster here is throwaway.
        settings="-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
          -c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=30min \
          -c max_replication_slots=0 -c max_wal_senders=0 -c wal_level=minimal" ;;
      durable)
        # Every durability setting at PostgreSQL's default. Memory as pgtune gives it for this
        # machine's RAM (shared_buffers a quarter, effective_cache_size three quarters,
        # maintenance_work_mem a sixteenth up to 2 GB) and max_wal_size 4 GB (pgtune's too),
        # so that a benchmark's checkpoints come from its own writes, not from a tiny WAL.
        mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
        settings="-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c wal_level=replica \
          -c shared_buffers=$((mem_mb / 4))MB -c effective_cache_size=$((mem_mb * 3 / 4))MB \
          -c maintenance_work_mem=$(( mem_mb / 16 > 2048 ? 2048 : mem_mb / 16 ))MB -c work_mem=32MB \
          -c max_wal_size=4GB -c min_wal_size=1GB" ;;
      *) echo "pg.sh: PROFILE must be fast or durable, got '$profile'" >&2; exit 2 ;;
    esac
    as_pg "$PGBIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start -o \
      "-p $port -k $sock -c listen_addresses='' -c max_connections=200 $settings" >/dev/null \
      || { tail -20 "$dir/server.log" >&2; exit 1; }
    echo "$profile" >"$dir/profile"
    dsn
    ;;
  stop)
    if running; then as_pg "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null; fi
    ;;
  crash)
    if running; then as_pg "$PGBIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null; fi
    ;;
  destroy)
    if running; then as_pg "$PGBIN/pg_ctl" -D "$data" -m immediate -w stop >/dev/null; fi
    rm -rf "$dir"
    ;;
  dsn)
    running || { echo "pg.sh: cluster '$name' is not running" >&2; exit 1; }
    dsn
    ;;
  *) echo "usage: $0 start|stop|crash|destroy|dsn NAME [PORT]" >&2; exit 2 ;;
esac
