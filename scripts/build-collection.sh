#!/usr/bin/env bash
# Build the collection tarball, install it into a temporary collections path, and check
# that the installed playbook and plugins resolve by FQCN (what `ansible-galaxy
# collection install` users get).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
ansible-galaxy collection build --force --output-path "$work/dist" . >/dev/null
tarball=$(ls "$work"/dist/okx_hft-infra-*.tar.gz)
echo "built $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
# Dependencies come from the `ansible` package here (Galaxy is not reachable).
# --force: the checkout itself is already visible as okx_hft.infra through .collections.
ansible-galaxy collection install --force --no-deps -p "$work/collections" "$tarball" >/dev/null 2>&1
cd "$work"
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
unset ANSIBLE_CONFIG
ansible-playbook -i localhost, okx_hft.infra.site --syntax-check
ansible-doc -t role okx_hft.infra.common >/dev/null
ansible-doc -t filter okx_hft.infra.group_addresses >/dev/null
echo "installed into a temporary collections path: okx_hft.infra.site resolves"
