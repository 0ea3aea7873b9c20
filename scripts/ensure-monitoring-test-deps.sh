#!/usr/bin/env bash
# Installs what the monitoring unit tests need outside the virtualenv: promtool and
# amtool, from Debian's prometheus and prometheus-alertmanager packages. Used by
# tests/unit/test_promtool_rules.py (promtool check/test rules), which FAILS when
# promtool is missing. The packaged services are not started here (there is no systemd
# on a CI host; policy-rc.d keeps them stopped on a host that has one).
# Idempotent: does nothing when both tools are already there.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "promtool/amtool are missing: run 'sudo bash $0' (installs Debian's prometheus" \
       "and prometheus-alertmanager packages)" >&2
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

packages=(prometheus prometheus-alertmanager)
if ! apt-get install -y --no-install-recommends "${packages[@]}"; then
  apt-get update
  apt-get install -y --no-install-recommends "${packages[@]}"
fi
