#!/usr/bin/env bash
# Runs the BenchmarkDotNet micro-benchmarks (inode table, readv/writev through the graph, the
# mount session's hit path) with a short job so the whole set finishes in a few minutes.
# Results (markdown tables, csv, logs) go to bench/results/micro-<UTC time>/ (gitignored).
# Usage: bench/run-micro.sh [BenchmarkDotNet filter, default '*'] [more filters or BenchmarkDotNet options]
# e.g. bench/run-micro.sh '*WireCodec*' '*ProtocolRoundTrip*' --buildTimeout 900 (a loaded machine can
# need more than BenchmarkDotNet's 120 s to build the benchmark project).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
out="bench/results/micro-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
if ! dotnet run -c Release --project bench/Graft.Benchmarks -- \
     --filter "${1:-*}" "${@:2}" --job short --exporters github --artifacts "$out" >"$out/console.log" 2>&1; then
  tail -40 "$out/console.log"
  echo "benchmarks failed; full log: $out/console.log" >&2
  exit 1
fi
echo
for f in "$out"/results/*-report-github.md; do
  [ -f "$f" ] || continue
  echo "## $(basename "$f" -report-github.md)"
  sed -n '/^|/,$p' "$f" | sed "s/&#39;/'/g; s/\*\*//g"
  echo
done | tee "$out/summary.md"
echo "results: $out"
