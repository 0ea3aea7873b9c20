#!/usr/bin/env bash
# Build a systemd-capable Debian base image for the lab host and the molecule
# scenarios, with debootstrap and `docker import` (no registry is reachable here).
#
#   scripts/build-image.sh 12|13     -> image okx-hft/debian:12 or okx-hft/debian:13
#
# The image is rebuilt only when its inputs change: this script, the suite, the
# Debian mirror and the package list are hashed into the label okx_hft.inputs.
# The mirror comes from the host's apt configuration (override: DEBIAN_MIRROR=URL).
set -euo pipefail

log() { printf '[build-image] %s\n' "$*" >&2; }

version=${1:?usage: build-image.sh 12|13}
case "$version" in
  12) suite=bookworm ;;
  13) suite=trixie ;;
  *) log "unsupported Debian version '$version' (use 12 or 13)"; exit 2 ;;
esac
image="okx-hft/debian:${version}"
packages="systemd,systemd-sysv,dbus,python3,python3-apt,procps,iproute2,ca-certificates,gnupg,sudo"

host_mirror() {
  # First Debian archive URI of the host's apt sources (deb822 or one-line format),
  # skipping the security archive, which carries no base suites.
  local uri
  uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | head -n1 || true)
  if [[ -z "$uri" ]]; then
    uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
          | grep -v -- '-security' | awk '{for(i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' \
          | head -n1 || true)
  fi
  printf '%s' "$uri"
}

mirror=${DEBIAN_MIRROR:-$(host_mirror)}
if [[ -z "$mirror" ]]; then
  log "no Debian mirror found in /etc/apt; set DEBIAN_MIRROR=URL"
  exit 1
fi

inputs=$(printf '%s\n%s\n%s\n%s\n' "$(sha256sum "$0" | cut -d' ' -f1)" "$suite" "$mirror" "$packages" \
         | sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "okx_hft.inputs" }}' "$image" 2>/dev/null || true)
if [[ "$current" == "$inputs" ]]; then
  log "$image is up to date ($inputs)"
  exit 0
fi

rootfs=$(mktemp -d "/var/tmp/okx-hft-rootfs-${suite}.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
log "debootstrap $suite from $mirror (about a minute)"
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -n 30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# What a container cannot do, masked as systemd container images usually do:
# no kernel modules, no consoles, no udev-managed devices, no fs remounts.
for unit in systemd-modules-load.service getty.target console-getty.service \
            systemd-udevd.service systemd-udev-trigger.service systemd-remount-fs.service \
            sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
            dev-hugepages.mount systemd-firstboot.service; do
  ln -sf /dev/null "$rootfs/etc/systemd/system/$unit"
done
# An empty machine-id makes systemd generate a fresh one per container.
: >"$rootfs/etc/machine-id"
# (Docker 20.10 import takes no STOPSIGNAL: the lab and molecule set stop_signal.)
# Keep images small and apt fast: no docs, no man pages, no recommends.
cat >"$rootfs/etc/apt/apt.conf.d/90okx-hft-container" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
APT
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/90okx-hft-nodoc" <<'DPKG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
DPKG
# debootstrap leaves no package lists, but a fresh lists directory: age it so apt
# (and Ansible's cache_valid_time) refreshes the lists on first use.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
touch -d '2000-01-01 00:00:00' "$rootfs/var/lib/apt/lists"
rm -f "$rootfs/var/lib/apt/periodic/update-success-stamp"

log "importing $image"
tar -C "$rootfs" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change "LABEL okx_hft.inputs=$inputs" \
  - "$image" >/dev/null
log "built $image ($inputs)"
