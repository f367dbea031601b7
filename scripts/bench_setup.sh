# Sourced by scripts/bench.sh and scripts/bench_throttle.sh, from the repository's root:
# installs what is missing, builds backfill (Release), starts the `bench` cluster, and sets
#   bin     the backfill binary
#   server  the cluster's DSN without a database; src and dst: the bench databases in it
#   work    a temporary directory, which the sourcing script removes on exit
scripts/setup.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target backfill >/dev/null
bin=$PWD/build/backfill

server=$(scripts/pg.sh start bench 55434)
src="$server dbname=bench_source"
dst="$server dbname=bench_target"
work=$(mktemp -d)
