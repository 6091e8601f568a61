#!/usr/bin/env bash
# cluster/replicate against a single brick: sequential write and read (MB/s) and create rate
# (files/s) through a `graft mount`, brick processes on loopback. The single brick is one
# protocol/client mounted directly; the replica is cluster/replicate over three protocol/clients.
# Graft.FsBench does each phase (seqwrite: 1 MiB writes then fsync; seqread after dropping caches;
# create: 4 KiB files, one job). Median of RUNS, and the ratio replica/single.
# Targets (issue 14): seq write >= 0.6x a single brick, create >= 0.5x.
#
#   bench/replicate.sh               # RUNS=5 SIZE_MB=256 FILES=1000
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
RUNS="${RUNS:-5}"
SIZE_MB="${SIZE_MB:-256}"
FILES="${FILES:-1000}"
[ "$(id -u)" = 0 ] || { echo "replicate bench: needs root" >&2; exit 1; }
work="$here/.graft/bench/replicate-$$"
mkdir -p "$work"
results="$work/results.txt"
dotnet build "$here/bench/Graft.FsBench/Graft.FsBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
"$here/graft" --version >/dev/null   # builds the CLI once, before any timing
fsbench=(dotnet "$here/bench/Graft.FsBench/bin/Release/net10.0/Graft.FsBench.dll")
pids=()
cleanup() {
  GRAFT_HOME="$work" "$here/graft" umount "$work/mnt" >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The bricks' secret: replicate keeps its counters in trusted.* xattrs, which an unauthenticated
# (root-squashed) session never gets.
secret="$work/secret"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret"
chmod 600 "$secret"

# up CONFIG: "single" (one brick) or "replica3" (three bricks under cluster/replicate), mounted on $work/mnt.
up() {
  local config="$1" n=1 vol="$work/client.vol" i port
  [ "$config" = replica3 ] && n=3
  : > "$vol"
  pids=()
  for i in $(seq 0 $((n - 1))); do
    rm -rf "$work/$config-$i"
    mkdir -p "$work/$config-$i/b$i"
    "$here/graft" brick --dir "$work/$config-$i/b$i" --port 0 --secret-file "$secret" > "$work/brick$i.out" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 600); do grep -q '^listening' "$work/brick$i.out" && break; sleep 0.1; done
    port="$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/brick$i.out")"
    [ -n "$port" ] || { echo "brick $i did not start" >&2; cat "$work/brick$i.out" >&2; exit 1; }
    printf 'volume b%d\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port %s\n    option remote-subvolume b%d\n    option secret-file %s\nend-volume\n' \
      "$i" "$port" "$i" "$secret" >> "$vol"
  done
  [ "$n" -gt 1 ] && printf 'volume afr\n    type cluster/replicate\n    subvolumes %s\nend-volume\n' "$(seq -f 'b%g' -s ' ' 0 $((n - 1)))" >> "$vol"
  mkdir -p "$work/mnt"
  GRAFT_HOME="$work" "$here/graft" mount --volfile "$vol" "$work/mnt" >&2
}

down() {
  GRAFT_HOME="$work" "$here/graft" umount "$work/mnt" >&2
  for p in "${pids[@]}"; do kill "$p"; done
  wait 2>/dev/null || true
  pids=()
}

: > "$results"
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  # Alternate the order so a change of load during the run does not favour one configuration.
  configs="single replica3"
  [ $((run % 2)) = 0 ] && configs="replica3 single"
  for config in $configs; do
    up "$config"
    for phase in seqwrite seqread create; do
      sync
      [ "$phase" = seqread ] && echo 3 > /proc/sys/vm/drop_caches
      v="$("${fsbench[@]}" "$phase" "$work/mnt" --size-mb "$SIZE_MB" --files "$FILES" | awk '{ print $2 }')"
      echo "$config $phase $v" | tee -a "$results" >&2
    done
    down
  done
done
awk -v load="$load0" -v runs="$RUNS" -v size="$SIZE_MB" -v files="$FILES" '
  { k = $1 "," $2; v[k] = v[k] " " $3 }
  function median(s,   x, n, i, j, t) {
    n = split(s, x, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
  }
  END {
    printf "replicate vs single brick, %d MiB seq, %d files, median of %d runs; load average before: %s\n", size, files, runs, load
    printf "%-10s %12s %12s %12s\n", "", "write MB/s", "read MB/s", "create/s"
    split("seqwrite seqread create", ph, " ")
    for (c = 1; c <= 2; c++) {
      cfg = c == 1 ? "single" : "replica3"
      printf "%-10s %12.1f %12.1f %12.1f\n", cfg, median(v[cfg ",seqwrite"]), median(v[cfg ",seqread"]), median(v[cfg ",create"])
    }
    printf "%-10s %12.2f %12.2f %12.2f\n", "ratio", median(v["replica3,seqwrite"]) / median(v["single,seqwrite"]),
      median(v["replica3,seqread"]) / median(v["single,seqread"]), median(v["replica3,create"]) / median(v["single,create"])
  }' "$results"
