#!/usr/bin/env bash
# Runs `bun test` with the project's bun, keeps its output and exit code, and ends with the
# plain closing line CI reads: "N passed, N failed, N skipped".
set -u -o pipefail
cd "$(dirname "$0")/.."
BUN=${BUN:-node_modules/.bin/bun}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
"$BUN" test "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
p=$(grep -E '^ *[0-9]+ pass$' "$log" | tail -1 | tr -dc 0-9)
f=$(grep -E '^ *[0-9]+ fail$' "$log" | tail -1 | tr -dc 0-9)
s=$(grep -E '^ *[0-9]+ skip$' "$log" | tail -1 | tr -dc 0-9)
if [ -z "$p$f" ]; then
  echo "bun test printed no summary (exit $rc)"
  [ "$rc" -eq 0 ] && rc=1
  exit "$rc"
fi
echo "${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
exit "$rc"
