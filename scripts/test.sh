#!/usr/bin/env bash
# README command 2: installs what is missing, builds, starts a throwaway PostgreSQL, runs
# every test with ctest, stops the server. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBACKFILL_BUILD_TESTS=ON -DBACKFILL_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

cluster=backfill-test
port=${BACKFILL_TEST_PORT:-55432}
trap 'scripts/pg.sh destroy "$cluster" || true' EXIT
scripts/pg.sh destroy "$cluster" >/dev/null 2>&1 || true
export BACKFILL_TEST_DSN
BACKFILL_TEST_DSN=$(scripts/pg.sh start "$cluster" "$port")
echo "test: PostgreSQL at $BACKFILL_TEST_DSN"

# Unit tests first: they are fast and need no database.
ctest --test-dir "$build" --output-on-failure -L unit
# The database suites create their own databases; one at a time keeps the 2-core box calm.
ctest --test-dir "$build" --output-on-failure -L database --timeout 300
