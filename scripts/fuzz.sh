#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/ (the parsers of untrusted bytes), built with clang,
# ASan and UBSan (every undefined behaviour a crash); then map_values, the randomised
# differential of --map against PostgreSQL (MapDifferential in tests/cli/map_test.cpp):
# random values of every type through the built-ins, by `backfill copy` and by the server,
# compared value by value, one seed after another for SECONDS.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    SECONDS per target (default 60); TARGET: one or
#                                            more of the names below (default: all)
#
# Each target starts from its corpus in tests/fuzz/corpus/TARGET (kept in the repository)
# and adds what it finds to build-fuzz/corpus/TARGET (not). A crash leaves its input in
# build-fuzz/artifacts/ and makes the script exit 1; make it a regression test. Prints one
# line a target: executions, seconds, executions per second, crashes.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -gt 0 ]] || { echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2; }
shift || true
all=(copy_reader row_hash map_expr key_text job_file map_values)
targets=("${@:-${all[@]}}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: no target '$t' (${all[*]})" >&2; exit 2; }
done
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found; run scripts/setup.sh" >&2; exit 2; }

# map_values: against a server (the one BACKFILL_TEST_DSN names, as scripts/test.sh sets it,
# else a throwaway one), with the regular build's cli_tests.
map_values() {
  local main=${BUILD_DIR:-build} own=""
  # Built (or brought up to date) here: a cli_tests older than the differential runs nothing.
  { cmake -S . -B "$main" -DCMAKE_BUILD_TYPE=Release -DBACKFILL_BUILD_TESTS=ON >/dev/null &&
    cmake --build "$main" -j"$(nproc)" --target cli_tests backfill >/dev/null; } ||
    { echo "fuzz: map_values: building $main failed" >&2; return 2; }
  if [[ -z "${BACKFILL_TEST_DSN:-}" ]]; then
    own=backfill-fuzz
    BACKFILL_TEST_DSN=$(scripts/pg.sh start "$own" "${BACKFILL_FUZZ_PORT:-55437}") ||
      { echo "fuzz: map_values: no PostgreSQL to compare with" >&2; return 2; }
    export BACKFILL_TEST_DSN
    trap 'scripts/pg.sh destroy backfill-fuzz >/dev/null 2>&1 || true' EXIT
  fi
  # A new seed each run unless FUZZ_SEED fixes it (scripts/test.sh: 1, the same every time).
  local seed=${FUZZ_SEED:-0} rows=2000 runs=0 values=0 rc=0 start n log=$build/fuzz_map_values.log
  [[ "$seed" -ne 0 ]] || seed=$(( (RANDOM << 15 | RANDOM) + 1 ))
  start=$(date +%s)
  while :; do
    if ! BACKFILL_DIFF_SEED=$seed BACKFILL_DIFF_ROWS=$rows "$main/tests/cli_tests" \
        --gtest_filter='MapDifferential.*' >"$log" 2>&1; then
      rc=1
      echo "fuzz: map_values differs from PostgreSQL at seed $seed; again with:" \
        "BACKFILL_DIFF_SEED=$seed BACKFILL_DIFF_ROWS=$rows $main/tests/cli_tests --gtest_filter='MapDifferential.*'" >&2
      grep -E "^row |Which is" "$log" | head -20 >&2
      break
    fi
    runs=$((runs + 1))
    n=$(sed -n 's/.*seed [0-9]*: \([0-9]*\) values compared.*/\1/p' "$log" | tail -1)
    [[ -n "$n" ]] || { rc=2; echo "fuzz: map_values: the differential did not run (see $log)" >&2; break; }
    values=$(( values + n ))
    seed=$((seed + 1))
    (( $(date +%s) - start < seconds )) || break
  done
  [[ -z "$own" ]] || scripts/pg.sh destroy "$own" >/dev/null 2>&1 || true
  MAP_VALUES_RUNS=$runs MAP_VALUES_COUNT=$values
  return $rc
}

build=${FUZZ_BUILD_DIR:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBACKFILL_BUILD_FUZZERS=ON \
  -DBACKFILL_BUILD_TESTS=OFF -DBACKFILL_BUILD_BENCHMARKS=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-sanitize=vptr -fno-omit-frame-pointer" >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzzers

mkdir -p "$build/artifacts"
failed=0
printf '%-12s %12s %8s %10s %8s\n' target executions seconds "execs/s" crashes
for t in "${targets[@]}"; do
  if [[ $t == map_values ]]; then
    start=$(date +%s)
    rc=0
    map_values || rc=$?
    took=$(( $(date +%s) - start ))
    [[ $rc -eq 0 ]] || failed=1
    # Its executions are values compared (over MAP_VALUES_RUNS seeds).
    printf '%-12s %12s %8s %10s %8s\n' "$t" "$MAP_VALUES_COUNT" "$took" \
      "$(( MAP_VALUES_COUNT / (took > 0 ? took : 1) ))" "$(( rc != 0 ))"
    continue
  fi
  seed=tests/fuzz/corpus/$t
  work=$build/corpus/$t
  mkdir -p "$seed" "$work"
  log=$build/fuzz_$t.log
  start=$(date +%s)
  rc=0
  # -rss_limit_mb: ASan's shadow counts against it; 4 GB is far above any input's need.
  # -timeout: an input that takes 30 s is a hang, and a crash. FUZZ_SEED (scripts/test.sh
  # sets 1) makes a short run the same each time, so that a test run does not fail on what a
  # lucky mutation found: the long runs are the place for luck.
  UBSAN_OPTIONS=print_stacktrace=1 "$build/tests/fuzz/${t}_fuzz" -max_total_time="$seconds" \
    -timeout=30 -seed="${FUZZ_SEED:-0}" -print_final_stats=1 -rss_limit_mb=4096 \
    -artifact_prefix="$build/artifacts/$t-" "$work" "$seed" >"$log" 2>&1 || rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  execs=${execs:-0}
  crashes=0
  if [[ $rc -ne 0 ]]; then crashes=1; failed=1; fi
  printf '%-12s %12s %8s %10s %8s\n' "$t" "$execs" "$took" "$(( execs / (took > 0 ? took : 1) ))" "$crashes"
  if [[ $rc -ne 0 ]]; then
    grep -E "ERROR|runtime error|SUMMARY|fuzz.cpp:[0-9]+:|^ +#[0-9]+ .* in backfill" "$log" | head -20 >&2
    echo "fuzz: $t crashed; its input is in $build/artifacts/ (log: $log)" >&2
  fi
done
exit $failed
