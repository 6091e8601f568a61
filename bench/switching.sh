#!/usr/bin/env bash
# Live graph switching of a real mount (`graft up`: a brick process, protocol/client over
# loopback, the FUSE mount daemon), measured from outside (bench/Graft.MountSwitchBench):
#  1. switch latency: time from writing the volfile (a debug/faults layer inserted or removed)
#     to the mount's new graph being active — COUNT switches a run;
#  2. write latency of WRITERS appenders (fsync every 8 records) for WRITE_SECONDS, once without
#     switches and once during a switch storm; the worst and p99 are compared.
# RUNS runs; prints each run and the medians.
#
#   bench/switching.sh                  # RUNS=5 COUNT=20 WRITERS=16 WRITE_SECONDS=10
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# (The writers' duration is WRITE_SECONDS: bash sets SECONDS itself, to the shell's age, so it is never unset.)
RUNS="${RUNS:-5}"; COUNT="${COUNT:-20}"; WRITERS="${WRITERS:-16}"; SECONDS_="${WRITE_SECONDS:-10}"
[ "$(id -u)" = 0 ] || { echo "switching: needs root (mount)" >&2; exit 1; }
work="$here/.graft/bench/switching-$$"
mkdir -p "$work/brick" "$work/mnt" "$here/bench/results"
dotnet build "$here/bench/Graft.MountSwitchBench/Graft.MountSwitchBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
sb=(dotnet "$here/bench/Graft.MountSwitchBench/bin/Release/net10.0/Graft.MountSwitchBench.dll")
cleanup() { GRAFT_HOME="$work" "$here/graft" down "$work/mnt" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
GRAFT_HOME="$work" "$here/graft" up "$work/brick" "$work/mnt" >&2
vol="$(ls "$work"/var/run/*.vol)"
mkdir -p "$work/mnt/w"
results="$work/results.txt"; : > "$results"
for run in $(seq 1 "$RUNS"); do
  echo "--- run $run of $RUNS" >&2
  echo "latency $("${sb[@]}" latency "$work/mnt" "$vol" "$COUNT")" | tee -a "$results" >&2
  echo "quiet $("${sb[@]}" writers "$work/mnt/w" "$WRITERS" "$SECONDS_")" | tee -a "$results" >&2
  echo "storm $("${sb[@]}" writers "$work/mnt/w" "$WRITERS" "$SECONDS_" "$work/mnt" "$vol")" | tee -a "$results" >&2
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { grep "^$1 " "$results" | awk -v k="$2" '{for (i=1;i<NF;i++) if ($i==k) print $(i+1)}' | median; }
{
  echo "graph switching, medians of $RUNS runs ($(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg))"
  printf '%-44s %10s\n' "switch latency p50 (ms, target <= 50)" "$(col latency p50)"
  printf '%-44s %10s\n' "switch latency p99 (ms)" "$(col latency p99)"
  printf '%-44s %10s\n' "write p99 without switches (us)" "$(col quiet p99)"
  printf '%-44s %10s\n' "write p99 during a switch storm (us)" "$(col storm p99)"
  printf '%-44s %10s\n' "worst write without switches (us)" "$(col quiet max)"
  printf '%-44s %10s\n' "worst write during a switch storm (us)" "$(col storm max)"
  printf '%-44s %10s\n' "switches per storm" "$(col storm switches)"
} | tee "$here/bench/results/switching.txt"
