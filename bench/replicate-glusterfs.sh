#!/usr/bin/env bash
# GlusterFS's own replica 3 (AFR) against its single brick on this machine: the reference for issue 14's
# targets (bench/replicate.sh: Graft's replica 3 ≥ 0.6× a single brick in seq write, ≥ 0.5× in creates).
# The same phases as bench/replicate.sh, by the same program (bench/Graft.FsBench): seqwrite (SIZE_MB in
# 1 MiB writes, then fsync), seqread (cold: caches dropped), create (FILES files of 4 KiB, one job).
# Two GlusterFS 10 volumes with their default options — "single" (one brick) and "replica3" (three bricks on
# this host, `replica 3`) — each on a fuse.glusterfs mount, bricks in one directory of this clone's
# filesystem (the same disk as bench/replicate.sh's). Each run measures both, the order alternating between
# runs; each phase runs once unmeasured first (WARMUP=1, as bench/replicate.sh). Medians of RUNS and the
# ratio replica3/single; with CPU=1 also the CPU seconds (user+sys, /proc) of the client and brick
# processes per phase and the phase's wall time.
#
#   bench/replicate-glusterfs.sh        # RUNS=3 SIZE_MB=128 FILES=500 CPU=0 WARMUP=1 PHASES="seqwrite seqread create"
# PAGES=settled|fresh: the state of free memory before each measured seqwrite, as in bench/replicate.sh (bench/pages.sh).
#
# Needs root. Installs glusterfs-server and glusterfs-client if missing (benchmark only), starts glusterd on
# loopback if none runs (and stops it again), deletes both volumes and all files at the end.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
RUNS="${RUNS:-3}"; SIZE_MB="${SIZE_MB:-128}"; FILES="${FILES:-500}"; CPU="${CPU:-0}"; WARMUP="${WARMUP:-1}"
PHASES="${PHASES:-seqwrite seqread create}"; PAGES="${PAGES:-}"
[ "$(id -u)" = 0 ] || { echo "replicate-glusterfs: needs root (mounts, drop_caches, packages)" >&2; exit 1; }
. "$here/bench/glusterfs.sh"
. "$here/bench/pages.sh"
pages_check "$PAGES"
gluster_install

work="$here/.graft/bench/replicate-glusterfs-$$"
results="$work/results.txt"
mkdir -p "$work" "$here/bench/results"
: > "$results"
fstype="$(df --output=fstype "$work" | tail -1)"
case "$fstype" in tmpfs|ramfs) echo "replicate-glusterfs: $work is on $fstype; run it on a disk filesystem" >&2; exit 1 ;; esac
single="grs$$"; replica="grr$$"
cleanup() {
  set +e
  gluster_volume_remove "$single" "$work/mnt-single"
  gluster_volume_remove "$replica" "$work/mnt-replica3"
  gluster_stop
  rm -rf "$work"
}
trap cleanup EXIT

dotnet build "$here/bench/Graft.FsBench/Graft.FsBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
fsbench=(dotnet "$here/bench/Graft.FsBench/bin/Release/net10.0/Graft.FsBench.dll")

gluster_start "$work"
gluster_volume_up "$single" "$work/mnt-single" "$work/single/b0"
gluster_volume_up "$replica" "$work/mnt-replica3" replica 3 "$work/replica3/b0" "$work/replica3/b1" "$work/replica3/b2"

# cpu VOL: "client S bricks S" — CPU seconds so far of the volume's client and brick processes.
cpu() {
  local hz c b
  hz="$(getconf CLK_TCK)"
  c="$(for p in $(pgrep -f "glusterfs .*volfile-id=/$1"); do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ s += $1 } END { print s + 0 }')"
  b="$(for p in $(pgrep -f "glusterfsd .*$1"); do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ s += $1 } END { print s + 0 }')"
  awk -v c="$c" -v b="$b" -v hz="$hz" 'BEGIN { printf "client %.2f bricks %.2f", c / hz, b / hz }'
}

vol_of() { case "$1" in single) echo "$single" ;; replica3) echo "$replica" ;; esac; }
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  if [ $((run % 2)) = 1 ]; then configs="single replica3"; else configs="replica3 single"; fi
  for config in $configs; do
    d="$work/mnt-$config/run$run"
    mkdir -p "$d"
    for phase in $PHASES; do
      if [ "$WARMUP" = 1 ]; then
        mkdir -p "$work/mnt-$config/warm"
        "${fsbench[@]}" "$phase" "$work/mnt-$config/warm" --size-mb "$SIZE_MB" --files "$FILES" >/dev/null || true
      fi
      sync
      [ "$phase" = seqread ] && echo 3 > /proc/sys/vm/drop_caches
      [ "$phase" = seqwrite ] && pages_prepare "$PAGES"
      [ "$CPU" = 1 ] && { cpu0="$(cpu "$(vol_of "$config")")"; t0="$(date +%s.%N)"; }
      v="$("${fsbench[@]}" "$phase" "$d" --size-mb "$SIZE_MB" --files "$FILES" | awk '{ print $2 }')"
      echo "$config $phase $v" | tee -a "$results" >&2
      if [ "$CPU" = 1 ]; then
        echo "$cpu0 $(cpu "$(vol_of "$config")") $t0 $(date +%s.%N)" |
          awk '{ printf "  cpu s: client %.2f bricks %.2f over %.2f s wall\n", $6 - $2, $8 - $4, $10 - $9 }' >&2
      fi
    done
    rm -rf "$d" "$work/mnt-$config/warm"
  done
done

table="$(awk -v load="$load0" -v runs="$RUNS" -v size="$SIZE_MB" -v files="$FILES" '
  function median(s,   x, n, i, j, t) {
    n = split(s, x, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
  }
  function ratio(a, b) { return a == "" || b == "" ? 0 : median(a) / median(b) }
  { v[$1 "," $2] = v[$1 "," $2] " " $3 }
  END {
    printf "GlusterFS replica 3 vs its single brick, %d MiB seq, %d files, median of %d runs; load average before: %s\n", size, files, runs, load
    printf "%-15s %12s %12s %12s\n", "", "write MB/s", "read MB/s", "create/s"
    for (c = 1; c <= 2; c++) {
      cfg = c == 1 ? "single" : "replica3"
      printf "%-15s %12.1f %12.1f %12.1f\n", cfg, median(v[cfg ",seqwrite"]), median(v[cfg ",seqread"]), median(v[cfg ",create"])
    }
    printf "%-15s %12.2f %12.2f %12.2f\n", "ratio", ratio(v["replica3,seqwrite"], v["single,seqwrite"]),
      ratio(v["replica3,seqread"], v["single,seqread"]), ratio(v["replica3,create"], v["single,create"])
  }' "$results")"
echo "$table"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
{ echo "$table"; echo; echo "raw:"; cat "$results"; } > "$here/bench/results/replicate-glusterfs-$stamp.txt"
echo "(saved bench/results/replicate-glusterfs-$stamp.txt)" >&2
