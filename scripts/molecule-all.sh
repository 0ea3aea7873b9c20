#!/usr/bin/env bash
# Run molecule scenarios and print one line per run with its result and duration.
# Every scenario runs even when one fails, so a CI log shows all failures at once;
# the exit code is non-zero when any failed.
#   scripts/molecule-all.sh "12:common 12:artifact 13:common"
set -uo pipefail
runs=${1:?usage: molecule-all.sh "DISTRO:SCENARIO ..."}
results=()
failed=0
for run in $runs; do
  distro=${run%%:*}
  scenario=${run#*:}
  echo "=== molecule test -s $scenario on Debian $distro"
  start=$(date +%s)
  if MOLECULE_DISTRO=$distro molecule test -s "$scenario"; then
    status=passed
  else
    status=FAILED
    failed=$((failed + 1))
  fi
  results+=("$(printf '%-22s debian-%-3s %-7s %4d s' "$scenario" "$distro" "$status" $(( $(date +%s) - start )))")
done
echo "=== molecule summary"
printf '%s\n' "${results[@]}"
total=${#results[@]}
echo "$((total - failed)) passed, $failed failed"
exit $(( failed > 0 ))
