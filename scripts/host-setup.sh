#!/usr/bin/env bash
# Make this machine able to run the lab and the molecule scenarios: Docker Engine and
# debootstrap from Debian's packages, and a running dockerd. Idempotent and quiet when
# everything is already there. CI starts from a clean machine with nothing running.
set -euo pipefail

log() { printf '[host-setup] %s\n' "$*" >&2; }

need_pkgs=()
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || need_pkgs+=(debootstrap)
if ((${#need_pkgs[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "need root to install ${need_pkgs[*]}: run as root or install them yourself"
    exit 1
  fi
  log "installing ${need_pkgs[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

# No init system starts dockerd on the test platform (no systemd as PID 1).
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  log "starting docker.service"
  systemctl start docker
else
  log "starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/dockerd.log"
exit 1
