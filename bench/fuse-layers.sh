#!/usr/bin/env bash
# Where the time of a Graft mount goes, layer by layer, with the phases of fuse-vs-native.sh:
#   native   the brick's own filesystem
#   local    FUSE kernel + bridge + mount session + storage/posix, in one process (no network)
#   net      as `graft up`: the above with protocol/client → loopback TCP → brick process → storage/posix
# For each phase it prints the wall time and the CPU time (user+sys) of the benchmark process (its sys
# time is the kernel's side of FUSE), of the mount daemon (bridge + session + client, or + posix for
# local) and of the brick process (server + posix). Wall time not covered by CPU is waiting: thread
# wake-ups, loopback round trips, disk — on a busy machine, mostly the scheduler. Median of RUNS.
#
#   bench/fuse-layers.sh             # RUNS=3 SIZE_MB=256 FILES=2000
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
RUNS="${RUNS:-3}"
SIZE_MB="${SIZE_MB:-256}"
FILES="${FILES:-2000}"
[ "$(id -u)" = 0 ] || { echo "fuse-layers: needs root" >&2; exit 1; }
work="$here/.graft/bench/fuse-layers-$$"
mkdir -p "$work/native" "$work/local-brick" "$work/local" "$work/brick" "$work/net"
results="$work/results.txt"
dotnet build "$here/bench/Graft.FsBench/Graft.FsBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
fsbench=(dotnet "$here/bench/Graft.FsBench/bin/Release/net10.0/Graft.FsBench.dll")

cat > "$work/local.vol" <<EOF
volume posix
    type storage/posix
    option directory $work/local-brick
end-volume
EOF
cleanup() {
  GRAFT_HOME="$work" "$here/graft" umount "$work/local" >/dev/null 2>&1 || true
  GRAFT_HOME="$work" "$here/graft" down "$work/net" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
GRAFT_HOME="$work" "$here/graft" mount --volfile "$work/local.vol" "$work/local" >&2
GRAFT_HOME="$work" "$here/graft" up "$work/brick" "$work/net" >&2
pid_of() { GRAFT_HOME="$work" "$here/graft" state "$1" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'; }
local_pid="$(pid_of "$work/local")"
net_pid="$(pid_of "$work/net")"
brick_pid="$(cat "$work"/var/run/*.brick.pid)"
# CPU seconds (user+sys) a process has used so far; 0 for "none".
cpu() { [ "$1" = 0 ] && { echo 0; return; }; awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }

: > "$results"
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  for target in native local net; do
    case "$target" in native) d=0; b=0 ;; local) d="$local_pid"; b=0 ;; net) d="$net_pid"; b="$brick_pid" ;; esac
    dir="$work/$target/b"
    mkdir -p "$dir"
    for p in seqwrite seqread create stat unlink; do
      sync
      case "$p" in seqread|stat) echo 3 > /proc/sys/vm/drop_caches ;; esac
      d0="$(cpu "$d")"; b0="$(cpu "$b")"
      out="$(/usr/bin/time -f '%U %S' -o "$work/time" "${fsbench[@]}" "$p" "$dir" --size-mb "$SIZE_MB" --files "$FILES")"
      d1="$(cpu "$d")"; b1="$(cpu "$b")"
      app="$(awk '{ print $1 + $2 }' "$work/time")"
      line="$target $out $app $(awk -v a="$d0" -v b="$d1" 'BEGIN { print b - a }') $(awk -v a="$b0" -v b="$b1" 'BEGIN { print b - a }')"
      echo "$line" | tee -a "$results" >&2
    done
    rm -rf "$dir"
  done
done
# results: TARGET PHASE VALUE UNIT WALL APPCPU DAEMONCPU BRICKCPU
awk -v load="$load0" -v runs="$RUNS" -v files="$FILES" -v size="$SIZE_MB" '
  { k = $1 "," $2; v[k] = v[k] " " $3; w[k] = w[k] " " $5; a[k] = a[k] " " $6; d[k] = d[k] " " $7; b[k] = b[k] " " $8; unit[$2] = $4 }
  function median(s,   x, n, i, j, t) {
    n = split(s, x, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
  }
  END {
    printf "layers, median of %d runs (%d MiB, %d files); load average before: %s\n", runs, size, files, load
    printf "%-9s %-7s %10s %-8s %8s %8s %8s %8s %8s\n", "phase", "target", "value", "unit", "wall s", "app cpu", "daemon", "brick", "waiting"
    split("seqwrite seqread create stat unlink", ph, " "); split("native local net", tg, " ")
    for (i = 1; i <= 5; i++) for (j = 1; j <= 3; j++) {
      k = tg[j] "," ph[i]
      W = median(w[k]); A = median(a[k]); D = median(d[k]); B = median(b[k]); rest = W - A - D - B
      printf "%-9s %-7s %10.1f %-8s %8.2f %8.2f %8.2f %8.2f %8.2f\n", ph[i], tg[j], median(v[k]), unit[ph[i]], W, A, D, B, (rest > 0 ? rest : 0)
    }
  }' "$results"
