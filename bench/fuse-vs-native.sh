#!/usr/bin/env bash
# A Graft mount (a `graft brick` process + protocol/client over loopback, default mount options, set up
# by `graft up`) against a native directory on the same filesystem, in the same run, interleaved.
# Phases (bench/Graft.FsBench, plain POSIX calls): sequential write of SIZE_MB with fsync, cold
# sequential read, create FILES files of 4 KiB, cold stat of them, unlink them; then lock latency:
# LOCK_ITERATIONS × (fcntl F_SETLK write lock + unlock of one file) and the same with flock, each call
# timed (p50/p99 µs). Every phase starts after a sync; the cold ones (read, stat) after dropping the
# page, dentry and inode caches too. Prints each run and tables of medians (mount÷native ratios against
# the targets; lock latencies side by side).
#
#   bench/fuse-vs-native.sh            # RUNS=5 SIZE_MB=1024 FILES=5000 LOCK_ITERATIONS=2000
#   RUNS=3 bench/fuse-vs-native.sh
#   RUNS=3 PHASES="fcntl flock" bench/fuse-vs-native.sh   # only the lock latencies
#
# Needs root (mount, drop_caches). Work files live under .graft/bench in the clone (never tmpfs).
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
RUNS="${RUNS:-5}"
SIZE_MB="${SIZE_MB:-1024}"
FILES="${FILES:-5000}"
LOCK_ITERATIONS="${LOCK_ITERATIONS:-2000}"
PHASES="${PHASES:-seqwrite seqread create stat unlink fcntl flock}"
[ "$(id -u)" = 0 ] || { echo "fuse-vs-native: needs root (mount, drop_caches)" >&2; exit 1; }

work="$here/.graft/bench/fuse-vs-native-$$"
native="$work/native"
brick="$work/brick"
mnt="$work/mnt"
results="$work/results.txt"
mkdir -p "$native" "$brick" "$mnt" "$here/bench/results"
fstype="$(df --output=fstype "$work" | tail -1)"
case "$fstype" in tmpfs|ramfs) echo "fuse-vs-native: $work is on $fstype; run it on a disk filesystem" >&2; exit 1 ;; esac

echo "building bench/Graft.FsBench ..." >&2
dotnet build "$here/bench/Graft.FsBench/Graft.FsBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
fsbench=(dotnet "$here/bench/Graft.FsBench/bin/Release/net10.0/Graft.FsBench.dll")

cleanup() {
  GRAFT_HOME="$work" "$here/graft" down "$mnt" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
GRAFT_HOME="$work" "$here/graft" up "$brick" "$mnt" >&2

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }

phase() { # TARGET PHASE DIR
  # Every phase starts with nothing dirty; the cold ones (read, stat) also with empty caches.
  sync
  case "$2" in seqread|stat) drop ;; esac
  local line
  line="$("${fsbench[@]}" "$2" "$3" --size-mb "$SIZE_MB" --files "$FILES" --iterations "$LOCK_ITERATIONS")"
  echo "$1 $line" | tee -a "$results" >&2
}

: > "$results"
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  echo "--- run $run of $RUNS" >&2
  for target in native mount; do
    if [ "$target" = native ]; then dir="$native/b"; else dir="$mnt/b"; fi
    mkdir -p "$dir"
    for p in $PHASES; do phase "$target" "$p" "$dir"; done
    rm -rf "$dir"
  done
done

table="$(awk -v load="$load0" -v runs="$RUNS" -v size="$SIZE_MB" -v files="$FILES" -v fs="$fstype" '
  { v[$1 "," $2] = v[$1 "," $2] " " $3; unit[$2] = $4 }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  $2 == "fcntl" || $2 == "flock" {
    for (k = 0; k < 4; k++) lk[$1 "," $2 "," k] = lk[$1 "," $2 "," k] " " (k == 0 ? $3 : $(k + 5))
    haslk[$2] = 1; nlk = 1
  }
  END {
    split("seqwrite seqread create stat unlink", ph, " ")
    split("0.45 0.40 0.50 0.10 0.35", tg, " ")
    printf "Graft mount vs native %s, median of %d runs (%d MiB, %d files); load average before: %s\n", fs, runs, size, files, load
    for (i = 1; i <= 5; i++) {
      p = ph[i]; if (!(("native," p) in v)) continue
      if (!head++) printf "%-9s %12s %12s %-8s %7s %7s %s\n", "phase", "native", "mount", "unit", "ratio", "target", ""
      n = median(v["native," p]); m = median(v["mount," p]); r = n > 0 ? m / n : 0
      printf "%-9s %12.1f %12.1f %-8s %7.2f %7.2f %s\n", p, n, m, unit[p], r, tg[i], (r >= tg[i] ? "ok" : "MISSED")
    }
    if (nlk) {
      printf "\nlock latency, µs per call (median over runs of each run'"'"'s p50 / p99):\n"
      printf "%-6s %-7s %10s %10s %10s %10s\n", "kind", "target", "lock p50", "lock p99", "unlk p50", "unlk p99"
      split("fcntl flock", lp, " "); split("native mount", tt, " ")
      for (i = 1; i <= 2; i++) for (j = 1; j <= 2; j++) {
        if (!(lp[i] in haslk)) continue
        key = tt[j] "," lp[i]
        printf "%-6s %-7s %10.1f %10.1f %10.1f %10.1f\n", lp[i], tt[j], median(lk[key ",0"]), median(lk[key ",1"]), median(lk[key ",2"]), median(lk[key ",3"])
      }
    }
  }' "$results")"
echo "$table"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
{ echo "$table"; echo; echo "raw:"; cat "$results"; } > "$here/bench/results/fuse-vs-native-$stamp.txt"
echo "(saved bench/results/fuse-vs-native-$stamp.txt)" >&2
