#!/usr/bin/env bash
# Installs, as root on Debian 12, every package that the build, the tests, the demo and the
# benchmarks need. Skips what is present; says what it does.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format clang libclang-rt-14-dev
  libtbb-dev libpq-dev libxxhash-dev libcli11-dev libgtest-dev libbenchmark-dev
  libpcre2-dev libsimdjson-dev libicu-dev libssl-dev nlohmann-json3-dev libtomlplusplus-dev
  postgresql-15 postgresql-client-15 pgcopydb pgbouncer
  prometheus-cpp-dev
  python3 time gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: every package is installed"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "setup: missing packages: ${missing[*]}" >&2
  echo "setup: run as root (or install them with sudo apt-get install)" >&2
  exit 2
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The postgresql package would create and start a system cluster; we only want binaries.
mkdir -p /etc/postgresql-common
if [[ ! -f /etc/postgresql-common/createcluster.conf ]] || ! grep -q '^create_main_cluster *= *false' /etc/postgresql-common/createcluster.conf; then
  echo "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
