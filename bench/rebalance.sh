#!/usr/bin/env bash
# Rebalance throughput: FILES files of SIZE_KB KiB (random bytes) written through a `graft mount` of
# distribute over 2 brick processes (loopback, with a secret: the rebalance is the trusted client), then a
# third brick and a full `graft rebalance --json` over the 3-brick volfile. Reported from its last JSON
# object: files moved and MB moved per second of its run (fix-layout walk and moves; not process start),
# and files scanned per second. Median of RUNS; the load average is printed with it.
#
#   bench/rebalance.sh               # RUNS=3 FILES=1000 SIZE_KB=128
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"
RUNS="${RUNS:-3}"
FILES="${FILES:-1000}"
SIZE_KB="${SIZE_KB:-128}"
bench_init rebalance

ports=()
# Starts brick $1 of run $2.
brick() {
  brick_start "$work/r$2/b$1" "$work/brick$1.out"
  ports[$1]="$port"
}

volfile() {
  local n="$1" i
  for i in $(seq 0 $((n - 1))); do client_volume "$i" "${ports[$i]}"; done
  printf 'volume dht\n    type cluster/distribute\n    subvolumes %s\nend-volume\n' "$(seq -f 'b%g' -s ' ' 0 $((n - 1)))"
}

head -c $((SIZE_KB * 1024)) /dev/urandom > "$work/data"
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  pids=()
  brick 0 "$run"; brick 1 "$run"
  volfile 2 > "$work/two.vol"
  bench_mount "$work/two.vol"
  mkdir -p "$work/mnt/d"
  for i in $(seq 1 "$FILES"); do cp "$work/data" "$work/mnt/d/f$i"; done
  bench_umount
  brick 2 "$run"
  volfile 3 > "$work/three.vol"
  sync
  GRAFT_HOME="$work" "$here/graft" rebalance --volfile "$work/three.vol" --json > "$work/out.json"
  last="$(grep '^{' "$work/out.json" | tail -1)"
  # elapsed, moved, bytesMoved, filesScanned from the last JSON object
  line="$(printf '%s' "$last" | sed -E 's/.*"elapsed":([0-9.]+).*"filesScanned":([0-9]+).*"moved":([0-9]+).*"bytesMoved":([0-9]+).*/\1 \2 \3 \4/')"
  read -r secs scanned moved bytes <<< "$line"
  awk -v s="$secs" -v f="$scanned" -v m="$moved" -v b="$bytes" \
    'BEGIN { printf "%d %.0f %.1f %.0f %.1f\n", m, m / s, b / s / 1048576, f / s, s }' | tee -a "$results" >&2
  bricks_stop
  rm -rf "$work/r$run"
done
awk -v load="$load0" -v runs="$RUNS" -v files="$FILES" -v kb="$SIZE_KB" "$AWK_MEDIAN"'
  { moved = moved " " $1; fps = fps " " $2; mbps = mbps " " $3; sps = sps " " $4; secs = secs " " $5 }
  END {
    printf "rebalance 2 -> 3 bricks, %d files of %d KiB, median of %d runs; load average before: %s\n", files, kb, runs, load
    printf "moved %s files; moved files/s %s; MB/s moved %s; files scanned/s %s; seconds %s\n", median(moved), median(fps), median(mbps), median(sps), median(secs)
    printf "runs (files/s):%s  (MB/s):%s\n", fps, mbps
  }' "$results"
