#!/usr/bin/env bash
# Where a Graft mount's CPU goes for one phase: `graft up` (a brick process, protocol/client over
# loopback, default mount options), then one bench/Graft.FsBench phase under `perf record` of the brick
# and the mount daemon (cpu-clock samples with call graphs; JIT'd frames named through .NET's perf
# maps). Prints CPU seconds of each process for the phase (user+sys, from /proc), their context
# switches, and each process's hottest symbols; perf.data files stay in OUT for `perf report -i`.
#
#   bench/profile-mount.sh seqwrite            # SIZE_MB=1024
#   bench/profile-mount.sh create              # FILES=2000
#   NOPERF=1 bench/profile-mount.sh seqwrite   # CPU seconds only (no perf overhead)
#   WARMUP=1 bench/profile-mount.sh seqwrite   # run the phase once first, unmeasured (steady state, no JIT warm-up)
#   OPTS=... is passed to graft up as its -o mount options; UP_ARGS=... as more arguments
#   (UP_ARGS="--brick-io-threads 0" serves the brick's fops on the .NET thread pool).
#
# Needs root and perf. cpu-clock sampling works on VMs without hardware counters.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
PHASE="${1:-seqwrite}"
SIZE_MB="${SIZE_MB:-1024}"
FILES="${FILES:-2000}"
OUT="${OUT:-$here/.graft/profile}"
[ "$(id -u)" = 0 ] || { echo "profile-mount: needs root" >&2; exit 1; }
work="$here/.graft/bench/profile-$$"
mkdir -p "$work/brick" "$work/mnt" "$OUT"
dotnet build "$here/bench/Graft.FsBench/Graft.FsBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
fsbench=(dotnet "$here/bench/Graft.FsBench/bin/Release/net10.0/Graft.FsBench.dll")
cleanup() { GRAFT_HOME="$work" "$here/graft" down "$work/mnt" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
# W^X puts JIT code in memfd:doublemapper mappings that perf cannot name from the perf map.
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
up_opts=()
[ -n "${OPTS:-}" ] && up_opts=(-o "$OPTS")
# shellcheck disable=SC2206
[ -n "${UP_ARGS:-}" ] && up_opts+=(${UP_ARGS})
GRAFT_HOME="$work" "$here/graft" up "$work/brick" "$work/mnt" "${up_opts[@]}" >&2
unset DOTNET_PerfMapEnabled DOTNET_EnableWriteXorExecute
brick="$(cat "$work"/var/run/*.brick.pid)"
mount="$(GRAFT_HOME="$work" "$here/graft" state "$work/mnt" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | head -1)"
hz="$(getconf CLK_TCK)"
cpu() { awk -v hz="$hz" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
csw() { awk '/ctxt_switches/ { s += $2 } END { print s }' /proc/"$1"/task/*/status 2>/dev/null; }
mkdir -p "$work/mnt/b"
case "$PHASE" in
  stat|unlink) "${fsbench[@]}" create "$work/mnt/b" --files "$FILES" >/dev/null ;;
  seqread) "${fsbench[@]}" seqwrite "$work/mnt/b" --size-mb "$SIZE_MB" >/dev/null ;;
esac
if [ -n "${WARMUP:-}" ]; then
  mkdir -p "$work/mnt/w"
  "${fsbench[@]}" "$PHASE" "$work/mnt/w" --size-mb "$SIZE_MB" --files "$FILES" >/dev/null
  rm -rf "$work/mnt/w"
fi
sync; case "$PHASE" in seqread|stat) echo 3 > /proc/sys/vm/drop_caches ;; esac
b0="$(cpu "$brick")"; m0="$(cpu "$mount")"; bc0="$(csw "$brick")"; mc0="$(csw "$mount")"
run=("${fsbench[@]}" "$PHASE" "$work/mnt/b" --size-mb "$SIZE_MB" --files "$FILES")
if [ -n "${NOPERF:-}" ]; then
  line="$("${run[@]}")"
else
  perf record -q -e cpu-clock -F 2000 -g -p "$brick" -o "$OUT/brick.data" 2>/dev/null &
  pb=$!
  perf record -q -e cpu-clock -F 2000 -g -p "$mount" -o "$OUT/mount.data" 2>/dev/null &
  pm=$!
  sleep 1
  line="$("${run[@]}")"
  kill -INT "$pb" "$pm"; wait "$pb" "$pm" 2>/dev/null || true
fi
b1="$(cpu "$brick")"; m1="$(cpu "$mount")"; bc1="$(csw "$brick")"; mc1="$(csw "$mount")"
echo "$PHASE: $line (load $(cut -d' ' -f1-3 /proc/loadavg))"
awk -v b="$(awk -v a="$b0" -v c="$b1" 'BEGIN{print c-a}')" -v m="$(awk -v a="$m0" -v c="$m1" 'BEGIN{print c-a}')" \
    -v bc="$((bc1 - bc0))" -v mc="$((mc1 - mc0))" -v size="$SIZE_MB" -v p="$PHASE" 'BEGIN {
  printf "brick CPU %.2f s, mount daemon CPU %.2f s; context switches brick %d, mount %d\n", b, m, bc, mc
  if (p == "seqwrite" || p == "seqread") printf "per GiB: brick %.2f s, mount %.2f s\n", b * 1024 / size, m * 1024 / size
}'
if [ -z "${NOPERF:-}" ]; then
  for who in brick mount; do
    echo "--- $who: hottest symbols (self)"
    perf report -i "$OUT/$who.data" --no-children --sort sym --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -${TOP:-30}
  done
  echo "(perf data: $OUT/brick.data, $OUT/mount.data; perf report -i FILE --children for call chains)"
fi
