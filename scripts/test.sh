#!/usr/bin/env bash
# README command 2: installs what is missing, builds, starts a throwaway PostgreSQL, runs
# every test with ctest and each fuzz target for a few seconds, stops the server. Exits
# non-zero on any failure.
#
#   scripts/test.sh [--sanitize]   --sanitize: then again, built with ASan and UBSan
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=0
case "${1:-}" in
  --sanitize) sanitize=1 ;;
  "") ;;
  *) echo "usage: $0 [--sanitize]" >&2; exit 2 ;;
esac

scripts/setup.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBACKFILL_BUILD_TESTS=ON -DBACKFILL_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

cluster=backfill-test
port=${BACKFILL_TEST_PORT:-55432}
# The fault suite's own cluster, which its tests crash and start again (tests/cli/faults_test.cpp);
# durable, so that what it acknowledged survives the crash as on a production server.
fault_cluster=backfill-fault
fault_port=${BACKFILL_FAULT_PORT:-55436}
trap 'scripts/pg.sh destroy "$cluster" || true; scripts/pg.sh destroy "$fault_cluster" || true' EXIT
scripts/pg.sh destroy "$cluster" >/dev/null 2>&1 || true
scripts/pg.sh destroy "$fault_cluster" >/dev/null 2>&1 || true
export BACKFILL_TEST_DSN BACKFILL_FAULT_DSN BACKFILL_FAULT_CLUSTER=$fault_cluster
BACKFILL_TEST_DSN=$(scripts/pg.sh start "$cluster" "$port")
BACKFILL_FAULT_DSN=$(scripts/pg.sh start "$fault_cluster" "$fault_port" durable)
echo "test: PostgreSQL at $BACKFILL_TEST_DSN; the fault suite's at $BACKFILL_FAULT_DSN"

# Unit tests first: they are fast and need no database.
ctest --test-dir "$build" --output-on-failure -L unit
# The database suites create their own databases, so two run at once: they wait on the
# server as much as on the CPU (measured on 2 cores: the 134 took 321 s one at a time; all
# 271 took 203-206 s two at a time; the ASan build's 271, 474 s against 323 s).
ctest --test-dir "$build" --output-on-failure -L database --timeout 300 -j2

# The fuzz targets (tests/fuzz/), briefly: each from its corpus, with ASan and UBSan. The
# ten-minute runs are scripts/fuzz.sh 600.
FUZZ_SEED=1 scripts/fuzz.sh "${BACKFILL_FUZZ_SECONDS:-10}"

if [[ $sanitize -eq 1 ]]; then
  # vptr checks are off: oneTBB's flow graph downcasts its own task types in a way UBSan
  # reports (inside oneTBB's headers, not ours).
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DBACKFILL_BUILD_BENCHMARKS=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize=vptr -fno-omit-frame-pointer" >/dev/null
  cmake --build build-asan -j"$(nproc)"
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure --timeout 300 -j2
fi
