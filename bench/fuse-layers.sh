#!/usr/bin/env bash
# Where the time of a Graft mount goes, layer by layer, with the phases of fuse-vs-native.sh:
#   native   the brick's own filesystem
#   local    FUSE kernel + bridge + mount session + storage/posix, in one process (no network)
#   network  as `graft up`: the above with protocol/client → loopback TCP → brick process → storage/posix
# local − native is the kernel round trips, the bridge and storage/posix's own work (GFID xattr, handle
# links); network − local is the client, the wire and the brick process. Median of RUNS (default 3).
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

: > "$results"
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  for target in native local net; do
    dir="$work/$target/b"
    mkdir -p "$dir"
    for p in seqwrite seqread create stat unlink; do
      sync
      case "$p" in seqread|stat) echo 3 > /proc/sys/vm/drop_caches ;; esac
      echo "$target $("${fsbench[@]}" "$p" "$dir" --size-mb "$SIZE_MB" --files "$FILES")" | tee -a "$results" >&2
    done
    rm -rf "$dir"
  done
done
awk -v load="$load0" -v runs="$RUNS" '
  { v[$1 "," $2] = v[$1 "," $2] " " $3; t[$1 "," $2] = t[$1 "," $2] " " $5; unit[$2] = $4 }
  function median(s,   a, n, i, j, x) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { x = a[i]; a[i] = a[j]; a[j] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "layers, median of %d runs; load average before: %s\n", runs, load
    printf "%-9s %10s %10s %10s %-8s %9s %9s\n", "phase", "native", "local", "network", "unit", "local/nat", "net/local"
    split("seqwrite seqread create stat unlink", ph, " ")
    for (i = 1; i <= 5; i++) {
      p = ph[i]; n = median(v["native," p]); l = median(v["local," p]); w = median(v["net," p])
      printf "%-9s %10.1f %10.1f %10.1f %-8s %9.2f %9.2f\n", p, n, l, w, unit[p], (n > 0 ? l / n : 0), (l > 0 ? w / l : 0)
    }
  }' "$results"
