#!/usr/bin/env bash
# `graft state` under many open files: a real mount (`graft up`: brick process, protocol/client over
# loopback, the FUSE mount daemon) with FILES files held open by one process; the time the mount
# daemon takes to answer a `state` request on its control socket (what `graft state` sends; the
# CLI's .NET start-up is timed separately), before a graph switch, all through one (until the sweep
# has moved every file and the old graph is destroyed) and after it (bench/Graft.MountSwitchBench
# `state`). RUNS runs; prints each run and the medians. Target: <= 50 ms with 10,000 open files.
#
#   bench/state-latency.sh              # RUNS=5 FILES=10000 SAMPLES=200
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
RUNS="${RUNS:-5}"; FILES="${FILES:-10000}"; SAMPLES="${SAMPLES:-200}"
[ "$(id -u)" = 0 ] || { echo "state-latency: needs root (mount)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((FILES + 100)) ] || { echo "state-latency: needs more than $((FILES + 100)) fds (ulimit -Hn is $(ulimit -Hn))" >&2; exit 1; }
work="$here/.graft/bench/state-latency-$$"
mkdir -p "$work/brick" "$work/mnt" "$here/bench/results"
dotnet build "$here/bench/Graft.MountSwitchBench/Graft.MountSwitchBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
sb=(dotnet "$here/bench/Graft.MountSwitchBench/bin/Release/net10.0/Graft.MountSwitchBench.dll")
cleanup() { GRAFT_HOME="$work" "$here/graft" down "$work/mnt" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
GRAFT_HOME="$work" "$here/graft" up "$work/brick" "$work/mnt" >&2
vol="$(ls "$work"/var/run/*.vol)"
results="$work/results.txt"; : > "$results"
for run in $(seq 1 "$RUNS"); do
  echo "--- run $run of $RUNS" >&2
  "${sb[@]}" state "$work/mnt" "$vol" "$FILES" "$SAMPLES" | tee -a "$results" >&2
  # The whole CLI once per run, for comparison (mostly .NET start-up), with nothing open.
  t0=$(date +%s%N); GRAFT_HOME="$work" "$here/graft" state "$work/mnt" >/dev/null; t1=$(date +%s%N)
  echo "cli ms $(( (t1 - t0) / 1000000 ))" | tee -a "$results" >&2
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
col() { grep "^$1 " "$results" | awk -v k="$2" '{for (i=1;i<NF;i++) if ($i==k) print $(i+1)}' | median; }
{
  echo "graft state with $FILES open files, medians of $RUNS runs ($(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg))"
  printf '%-52s %10s\n' "answer size (bytes)" "$(col state-ms bytes)"
  printf '%-52s %10s\n' "switch until the old graph is destroyed (s)" "$(col state-ms switch-s)"
  for phase in before during after; do
    printf '%-52s %10s\n' "state p50 $phase a switch (ms, target <= 50)" "$(col $phase p50)"
    printf '%-52s %10s\n' "state p99 $phase a switch (ms)" "$(col $phase p99)"
    printf '%-52s %10s\n' "state max $phase a switch (ms)" "$(col $phase max)"
  done
  printf '%-52s %10s\n' "graft state, the whole CLI process (ms)" "$(col cli ms)"
} | tee "$here/bench/results/state-latency.txt"
