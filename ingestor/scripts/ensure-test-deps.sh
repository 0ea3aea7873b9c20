#!/usr/bin/env bash
# Installs what the ingestor's integration tests start for real: redis-server (Debian).
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends redis-server
# Debian's package starts a system instance where systemd runs; the tests start their own.
command -v redis-server
