#!/usr/bin/env bash
# Installs the real servers and tools the unit/integration tests run outside the
# virtualenv, from Debian's packages (the only source reachable here):
#   clickhouse-server  18.16, the only server packaged for this platform
#                      (tests/unit/test_clickhouse_*_server.py, ingestor/tests)
#   promtool, amtool   prometheus / prometheus-alertmanager (tests/unit/test_promtool_*)
#   redis-server       the ingestor's integration tests (also ingestor/scripts/ensure-test-deps.sh)
#   openssl            the test CA of tests/unit/test_redis_tls_server.py
# The tests start and stop private instances; no packaged service is started here
# (policy-rc.d keeps them stopped on a host that runs systemd). A missing tool fails its
# tests: it is never silently skipped, except the ClickHouse server tests with
# OKX_HFT_SKIP_SERVER_TESTS=1.
# Idempotent: installs only the packages whose command is missing.
set -euo pipefail

declare -A package_of=(
  [clickhouse-server]=clickhouse-server
  [promtool]=prometheus
  [amtool]=prometheus-alertmanager
  [redis-server]=redis-server
  [openssl]=openssl
)

missing=()
for cmd in "${!package_of[@]}"; do
  if [[ $cmd == clickhouse-server && ${OKX_HFT_SKIP_SERVER_TESTS:-0} == 1 ]]; then
    continue
  fi
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${package_of[$cmd]}")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "missing test dependencies: run 'sudo bash $0' (installs Debian's ${missing[*]})," \
       "or set OKX_HFT_SKIP_SERVER_TESTS=1 to skip the ClickHouse server tests" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  created_policy=1
fi
trap '[[ $created_policy == 1 ]] && rm -f "$policy"' EXIT

echo "[ensure-test-deps] installing ${missing[*]}"
if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi
