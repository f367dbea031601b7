#!/usr/bin/env bash
# README command 1: the main job on a fresh machine. Installs what is missing, builds
# backfill (Release), starts a throwaway PostgreSQL, creates a source database with a
# 1,000,000-row `users` table and a target database whose `users` table has the new
# shape (renamed columns, a wider numeric, a column computed on the way), then copies one
# into the other with live progress, prints the report, and verifies the copy.
#
#   scripts/demo.sh [--rows N]
set -euo pipefail
cd "$(dirname "$0")/.."

rows=1000000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) rows=$2; shift 2 ;;
    *) echo "usage: $0 [--rows N]" >&2; exit 2 ;;
  esac
done

scripts/setup.sh
echo "demo: building (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target backfill >/dev/null
bin=build/backfill

server=$(scripts/pg.sh start demo 55433)
src="$server dbname=demo_source"
dst="$server dbname=demo_target"
echo "demo: PostgreSQL running: $server"

psql -X -P pager=off -q "$server" -v ON_ERROR_STOP=1 <<'SQL'
DROP DATABASE IF EXISTS demo_source WITH (FORCE);
DROP DATABASE IF EXISTS demo_target WITH (FORCE);
CREATE DATABASE demo_source;
CREATE DATABASE demo_target;
SQL

echo "demo: generating $rows users in demo_source"
psql -X -P pager=off -q "$src" -v ON_ERROR_STOP=1 -v rows="$rows" -f scripts/sql/shapes/users.sql

echo "demo: creating the new shape in demo_target"
psql -X -P pager=off -q "$dst" -v ON_ERROR_STOP=1 -f scripts/sql/users_v2.sql

args=(--source "$src" --target "$dst" --table users
      --map "email_address = email" --map "given_name = first_name"
      --map "family_name = last_name" --map "signed_up_at = created_at"
      --map "preferences = settings"
      --map "display_name = concat_ws(' ', first_name, upper(last_name))")

echo
echo "demo: \$ backfill plan $(printf '%q ' "${args[@]}")"
"$bin" plan "${args[@]}"
echo
echo "demo: \$ backfill copy $(printf '%q ' "${args[@]}")--report demo-report.json"
"$bin" copy "${args[@]}" --report demo-report.json
echo
echo "demo: the report (demo-report.json):"
cat demo-report.json
echo
echo "demo: a few copied rows:"
psql -X -P pager=off "$dst" -c "SELECT id, email_address, given_name, family_name, display_name, signed_up_at, balance, preferences FROM users ORDER BY id LIMIT 3"
echo "demo: source and target agree:"
psql -X -P pager=off -At "$src" -c "SELECT 'source: ' || count(*) || ' rows, md5 ' || md5(string_agg(id || email || first_name || last_name || created_at || balance || coalesce(settings::text, ''), ',' ORDER BY id)) FROM users"
psql -X -P pager=off -At "$dst" -c "SELECT 'target: ' || count(*) || ' rows, md5 ' || md5(string_agg(id || email_address || given_name || family_name || signed_up_at || balance || coalesce(preferences::text, ''), ',' ORDER BY id)) FROM users"
echo
echo "demo: \$ backfill verify $(printf '%q ' "${args[@]}")"
"$bin" verify "${args[@]}"
cat <<EOF2

Look at the data:    psql "$dst"
The job's ledger:    $bin status --state "$dst"     (--json for monitoring)
Tune it:             $bin tune $(printf '%q ' "${args[@]}")--out tune-users/
                     (trials into a scratch table; recommends --jobs and --chunk-time)
Run it again:        $bin copy $(printf '%q ' "${args[@]}")
                     (says the job is done; --restart starts over)
Stop the cluster:    scripts/pg.sh stop demo      (scripts/pg.sh destroy demo removes it)
EOF2
