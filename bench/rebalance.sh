#!/usr/bin/env bash
# Rebalance throughput: FILES files of SIZE_KB KiB (random bytes) written through a `graft mount` of
# distribute over 2 brick processes (loopback, with a secret: the rebalance is the trusted client), then a
# third brick and a full `graft rebalance --json` over the 3-brick volfile. Reported from its last JSON
# object: files moved and MB moved per second of its run (fix-layout walk and moves; not process start),
# and files scanned per second. Median of RUNS; the load average is printed with it.
#
#   bench/rebalance.sh               # RUNS=3 FILES=1000 SIZE_KB=128
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
RUNS="${RUNS:-3}"
FILES="${FILES:-1000}"
SIZE_KB="${SIZE_KB:-128}"
[ "$(id -u)" = 0 ] || { echo "rebalance bench: needs root" >&2; exit 1; }
work="$here/.graft/bench/rebalance-$$"
mkdir -p "$work"
results="$work/results.txt"
secret="$work/secret"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret"
chmod 600 "$secret"
"$here/graft" --version >/dev/null   # builds the CLI once, before any timing
pids=()
cleanup() {
  GRAFT_HOME="$work" "$here/graft" umount "$work/mnt" >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ports=()
# Starts brick $1 of run $2 and appends its protocol/client to volfile $3.
brick() {
  local i="$1" run="$2" port
  mkdir -p "$work/r$run/b$i"
  "$here/graft" brick --dir "$work/r$run/b$i" --port 0 --secret-file "$secret" > "$work/brick$i.out" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 600); do grep -q '^listening' "$work/brick$i.out" && break; sleep 0.1; done
  port="$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/brick$i.out")"
  [ -n "$port" ] || { echo "brick $i did not start" >&2; cat "$work/brick$i.out" >&2; exit 1; }
  ports[$i]="$port"
}

volfile() {
  local n="$1" i
  for i in $(seq 0 $((n - 1))); do
    printf 'volume b%d\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port %s\n    option remote-subvolume b%d\n    option secret-file %s\nend-volume\n' \
      "$i" "${ports[$i]}" "$i" "$secret"
  done
  printf 'volume dht\n    type cluster/distribute\n    subvolumes %s\nend-volume\n' "$(seq -f 'b%g' -s ' ' 0 $((n - 1)))"
}

head -c $((SIZE_KB * 1024)) /dev/urandom > "$work/data"
: > "$results"
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  pids=()
  brick 0 "$run"; brick 1 "$run"
  volfile 2 > "$work/two.vol"
  mkdir -p "$work/mnt"
  GRAFT_HOME="$work" "$here/graft" mount --volfile "$work/two.vol" "$work/mnt" >&2
  mkdir -p "$work/mnt/d"
  for i in $(seq 1 "$FILES"); do cp "$work/data" "$work/mnt/d/f$i"; done
  GRAFT_HOME="$work" "$here/graft" umount "$work/mnt" >&2
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
  for p in "${pids[@]}"; do kill "$p"; done
  wait 2>/dev/null || true
  rm -rf "$work/r$run"
done
awk -v load="$load0" -v runs="$RUNS" -v files="$FILES" -v kb="$SIZE_KB" '
  { moved = moved " " $1; fps = fps " " $2; mbps = mbps " " $3; sps = sps " " $4; secs = secs " " $5 }
  function median(s,   x, n, i, j, t) {
    n = split(s, x, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
  }
  END {
    printf "rebalance 2 -> 3 bricks, %d files of %d KiB, median of %d runs; load average before: %s\n", files, kb, runs, load
    printf "moved %s files; moved files/s %s; MB/s moved %s; files scanned/s %s; seconds %s\n", median(moved), median(fps), median(mbps), median(sps), median(secs)
    printf "runs (files/s):%s  (MB/s):%s\n", fps, mbps
  }' "$results"
