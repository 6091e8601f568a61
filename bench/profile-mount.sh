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
#   THREADS=1 ...                              # and context switches per thread name (who wakes)
#   JOBS=4 bench/profile-mount.sh unlink       # create/stat/unlink with 4 threads (as vs-glusterfs.sh's unlink4)
#   WARMUP=1 bench/profile-mount.sh seqwrite   # run the phase once first, unmeasured (steady state, no JIT warm-up)
#   EVENT=sched:sched_wakeup ...             # record that event instead of cpu-clock samples: who wakes a thread, and
#                                            # from where (perf report --children names the callers of each wake)
#   OPTS=... is passed to graft up as its -o mount options; UP_ARGS=... as more arguments
#   (UP_ARGS="--brick-io-threads 16" serves the brick's fops on 16 threads of its own,
#   UP_ARGS="--brick-receive-threads off --brick-inline-fops off" receives and serves on the .NET thread pool).
#   VOLFILE_EDIT='sed expression' edits the mount's volfile after up (the mount follows it: a new graph, or
#   the option changed in place) and waits for the switch, e.g.
#   VOLFILE_EDIT='/type protocol\/client/a\    option receive-thread off' (the mount's replies on the pool) or
#   VOLFILE_EDIT='/type performance\/nl-cache/a\    option enable off'.
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
if [ -n "${VOLFILE_EDIT:-}" ]; then
  sed -i "$VOLFILE_EDIT" "$work"/var/run/*.vol
  # A new graph shows as a second generation; an option changed in place does not, so the wait is bounded.
  for _ in $(seq 50); do
    GRAFT_HOME="$work" "$here/graft" state "$work/mnt" | grep -Eq '"activeGeneration": *([2-9]|[1-9][0-9])' && break
    sleep 0.1
  done
fi
mount="$(GRAFT_HOME="$work" "$here/graft" state "$work/mnt" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | head -1)"
hz="$(getconf CLK_TCK)"
cpu() { awk -v hz="$hz" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }
csw() { awk '/ctxt_switches/ { s += $2 } END { print s }' /proc/"$1"/task/*/status 2>/dev/null; }
# Per thread: "tid name voluntary involuntary" (THREADS=1 prints which threads switched during the phase).
tasks() {
  for t in /proc/"$1"/task/*; do
    awk -v tid="${t##*/}" '/^Name:/ { sub(/^Name:[ \t]*/, ""); gsub(/ /, "_"); n = $0 } /^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { i = $2 }
      END { print tid, n, v, i }' "$t/status" 2>/dev/null
  done | sort
}
by_thread() {  # $1 before, $2 after: switches per thread name during the phase
  join -a2 -e 0 -o 0,2.2,1.3,2.3,1.4,2.4 <(echo "$1") <(echo "$2") \
    | awk '{ v[$2] += $4 - $3; i[$2] += $6 - $5; n[$2]++ } END { for (k in v) if (v[k] + i[k] > 0) printf "  %-18s threads %3d  voluntary %8d  involuntary %7d\n", k, n[k], v[k], i[k] }' | sort -k5 -nr
}
mkdir -p "$work/mnt/b"
case "$PHASE" in
  stat|unlink) "${fsbench[@]}" create "$work/mnt/b" --files "$FILES" --jobs "${JOBS:-1}" >/dev/null ;;
  seqread) "${fsbench[@]}" seqwrite "$work/mnt/b" --size-mb "$SIZE_MB" >/dev/null ;;
esac
if [ -n "${WARMUP:-}" ]; then
  mkdir -p "$work/mnt/w"
  case "$PHASE" in stat|unlink) "${fsbench[@]}" create "$work/mnt/w" --files "$FILES" --jobs "${JOBS:-1}" >/dev/null ;; esac
  "${fsbench[@]}" "$PHASE" "$work/mnt/w" --size-mb "$SIZE_MB" --files "$FILES" --jobs "${JOBS:-1}" >/dev/null
  rm -rf "$work/mnt/w"
fi
sync; case "$PHASE" in seqread|stat) echo 3 > /proc/sys/vm/drop_caches ;; esac
b0="$(cpu "$brick")"; m0="$(cpu "$mount")"; bc0="$(csw "$brick")"; mc0="$(csw "$mount")"
[ -n "${THREADS:-}" ] && { bt0="$(tasks "$brick")"; mt0="$(tasks "$mount")"; }
run=("${fsbench[@]}" "$PHASE" "$work/mnt/b" --size-mb "$SIZE_MB" --files "$FILES" --jobs "${JOBS:-1}")
if [ -n "${NOPERF:-}" ]; then
  line="$("${run[@]}")"
else
  ev=(-e cpu-clock -F 2000)
  [ -n "${EVENT:-}" ] && ev=(-e "$EVENT")
  perf record -q "${ev[@]}" -g -p "$brick" -o "$OUT/brick.data" 2>/dev/null &
  pb=$!
  perf record -q "${ev[@]}" -g -p "$mount" -o "$OUT/mount.data" 2>/dev/null &
  pm=$!
  sleep 1
  line="$("${run[@]}")"
  kill -INT "$pb" "$pm"; wait "$pb" "$pm" 2>/dev/null || true
fi
b1="$(cpu "$brick")"; m1="$(cpu "$mount")"; bc1="$(csw "$brick")"; mc1="$(csw "$mount")"
[ -n "${THREADS:-}" ] && { bt1="$(tasks "$brick")"; mt1="$(tasks "$mount")"; }
echo "$PHASE: $line (load $(cut -d' ' -f1-3 /proc/loadavg))"
awk -v b="$(awk -v a="$b0" -v c="$b1" 'BEGIN{print c-a}')" -v m="$(awk -v a="$m0" -v c="$m1" 'BEGIN{print c-a}')" \
    -v bc="$((bc1 - bc0))" -v mc="$((mc1 - mc0))" -v size="$SIZE_MB" -v p="$PHASE" 'BEGIN {
  printf "brick CPU %.2f s, mount daemon CPU %.2f s; context switches brick %d, mount %d\n", b, m, bc, mc
  if (p == "seqwrite" || p == "seqread") printf "per GiB: brick %.2f s, mount %.2f s\n", b * 1024 / size, m * 1024 / size
}'
if [ -n "${THREADS:-}" ]; then
  echo "--- brick: context switches by thread name"; by_thread "$bt0" "$bt1"
  echo "--- mount daemon: context switches by thread name"; by_thread "$mt0" "$mt1"
fi
if [ -z "${NOPERF:-}" ]; then
  for who in brick mount; do
    echo "--- $who: hottest symbols (self)"
    perf report -i "$OUT/$who.data" --no-children --sort sym --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -${TOP:-30}
  done
  echo "(perf data: $OUT/brick.data, $OUT/mount.data; perf report -i FILE --children for call chains)"
fi
