#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/ (the parsers of untrusted bytes), built with clang,
# ASan and UBSan (every undefined behaviour a crash).
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
all=(copy_reader row_hash map_expr key_text job_file)
targets=("${@:-${all[@]}}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: no target '$t' (${all[*]})" >&2; exit 2; }
done
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found; run scripts/setup.sh" >&2; exit 2; }

build=${FUZZ_BUILD_DIR:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBACKFILL_BUILD_FUZZERS=ON \
  -DBACKFILL_BUILD_TESTS=OFF -DBACKFILL_BUILD_BENCHMARKS=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-sanitize=vptr -fno-omit-frame-pointer" >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzzers

mkdir -p "$build/artifacts"
failed=0
printf '%-12s %12s %8s %10s %8s\n' target executions seconds "execs/s" crashes
for t in "${targets[@]}"; do
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
