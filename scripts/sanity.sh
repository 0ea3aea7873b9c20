#!/usr/bin/env bash
# ansible-test sanity on the collection's plugins. ansible-test insists on running from
# ansible_collections/<namespace>/<name>, so the tracked files are copied there first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/okx_hft/infra"
mkdir -p "$dest"
# Only what git tracks or would track (a clean clone's view), without the ingestor,
# which is its own Python project with its own checks.
(cd "$root" && git ls-files --cached --others --exclude-standard -z) \
  | (cd "$root" && xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' ) \
  | (cd "$root" && tar --null -T - -cf -) | tar -C "$dest" -xf -
# ansible-test bootstraps pip in its venvs with a get-pip.py from a host the test
# platform cannot reach; give it an ensurepip-based stand-in (see the script).
pip_version=$(sed -n "s/.*pip='\([0-9.]*\)'.*/\1/p" "$(python3 -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -n1)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [[ ! -s "$cache" ]]; then
  mkdir -p "$(dirname "$cache")"
  cp "$root/scripts/ansible-test-get-pip.py" "$cache"
fi
cd "$dest"
git init -q . && git add -A >/dev/null 2>&1
ansible-test sanity --requirements --python 3.11 --color no \
  --skip-test shebang \
  plugins/ "$@"
