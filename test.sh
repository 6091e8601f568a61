#!/usr/bin/env bash
# Builds and runs the whole test suite; ends with one line "N passed, M failed" (skipped tests, if any, counted on the line before).
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")"
results="$PWD/.graft/test-results"
rm -rf "$results"; mkdir -p "$results"
dotnet build Graft.slnx --nologo -v q -clp:ErrorsOnly || { echo "0 passed, 1 failed"; exit 1; }
dotnet test Graft.slnx --no-build --nologo --logger "trx" --results-directory "$results" "$@" 2>&1 | tee "$results/console.log"
status=${PIPESTATUS[0]}
passed=0; failed=0; skipped=0
for f in "$results"/*.trx; do
  [ -f "$f" ] || continue
  c=$(grep -o '<Counters [^>]*>' "$f" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$c"); x=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$c")
  n=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$c")
  passed=$((passed + ${p:-0})); failed=$((failed + ${x:-0})); skipped=$((skipped + ${n:-0}))
done
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
[ "$skipped" -eq 0 ] || echo "$skipped skipped"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
