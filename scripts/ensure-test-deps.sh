#!/usr/bin/env bash
# Installs what the unit/integration tests need outside the virtualenv:
# Debian's clickhouse-server (18.16, the only server packaged for this platform),
# used by tests/unit/test_clickhouse_migrate_server.py. The tests start and stop
# their own private server instance; this script does not start the packaged service.
# Idempotent: does nothing when the binary is already there.
set -euo pipefail

if command -v clickhouse-server >/dev/null 2>&1; then
  exit 0
fi

if [[ ${OKX_HFT_SKIP_SERVER_TESTS:-0} == 1 ]]; then
  echo "clickhouse-server missing; server tests skipped (OKX_HFT_SKIP_SERVER_TESTS=1)" >&2
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "clickhouse-server is missing: run 'sudo bash $0' (or install Debian's" \
       "clickhouse-server), or set OKX_HFT_SKIP_SERVER_TESTS=1 to skip the server tests" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends clickhouse-server; then
  apt-get update
  apt-get install -y --no-install-recommends clickhouse-server
fi
