#!/usr/bin/env bash
# Graft against GlusterFS on the same disk, in the same run: the default single-node Graft volume
# (`graft up`: a brick process, protocol/client over loopback, default mount options) and a 1-brick
# GlusterFS volume (glusterd on loopback, its default volume options, a fuse.glusterfs mount), both with
# their bricks in one directory of this clone's filesystem, plus that filesystem natively.
#
# Phases (bench/Graft.FsBench: plain POSIX calls, the same code on every target; fio for random I/O; stat4 and unlink4 work on create4's files):
#   seqwrite   SIZE_MB in 1 MiB writes, then fsync                      MB/s
#   seqread    that file, cold (caches dropped)                          MB/s
#   create1/4  FILES files of 4 KiB, 1 job / 4 jobs (threads)            files/s
#   stat1/4    stat them, cold, 1 job / 4 jobs                           stats/s
#   unlink1/4  unlink them, 1 job / 4 jobs                               files/s
#   randwrite  fio: 4 KiB random writes, O_DIRECT, 4 jobs, RAND_SECONDS  IOPS
#   randread   fio: 4 KiB random reads, O_DIRECT, 4 jobs, RAND_SECONDS   IOPS
# Each round runs every target in turn, the order alternating between rounds (Graft first in odd rounds,
# GlusterFS first in even ones); every phase starts after a sync. The CPU seconds (user+sys) that each
# filesystem's brick and client processes spend in seqwrite are recorded too, as seconds per GiB, and split
# into user and system time (/proc/PID/stat utime, stime), beside the writing program's own (FsBench --cpu:
# its thread's getrusage over the writes and the fsync) on every target, native included, and the final fsync's
# seconds (the data the page cache still held goes to the disk there). Part of a brick's
# system time is the kernel's page-cache and writeback work for the data it writes, charged to whoever
# writes and varying with the kernel's state (0.2–1.8 s/GiB for native ext4's own writer, run to run); the
# native writer's system time in the same round is that cost, so "brick sys − native sys" is the brick's
# own kernel work (receiving from the socket, its syscalls) apart from the page cache's.
# Prints every measurement, then one table of medians with Graft÷GlusterFS (against the targets of
# issue 15) and Graft÷native; the table and the raw lines are saved in bench/results/.
#
#   bench/vs-glusterfs.sh                     # ROUNDS=3 SIZE_MB=512 FILES=4000 RAND_SECONDS=15
#   ROUNDS=1 SIZE_MB=64 FILES=500 RAND_SECONDS=3 bench/vs-glusterfs.sh   # a quick look
#   PHASES="create1 stat1" bench/vs-glusterfs.sh
#   FUSE_COUNTS=1 PHASES="create1 stat1 unlink1" bench/vs-glusterfs.sh   # also the FUSE requests per operation
#   PAGES=settled PHASES=seqwrite bench/vs-glusterfs.sh                  # every seqwrite starts from the same page state
#   READ_PAGES= PHASES="seqwrite seqread" bench/vs-glusterfs.sh           # cold reads as before session 12 (no settling)
#
# PAGES: the state of the machine's free memory when seqwrite starts. These VMs hand free memory back to the host
# (virtio-balloon free page reporting: /sys/module/page_reporting, about 2 s after it is freed), and whoever first
# writes into such a page again pays the host's fault inside the copy into the page cache: native ext4's own writer
# measured 0.21–0.25 s of system time per GiB and 800–900 MB/s right after a file was deleted (its pages still
# held), 1.2–1.4 s/GiB and 180–280 MB/s 15 s later (load ~18, alternated, three pairs each). So a seqwrite's rate and
# its brick's CPU follow whether free memory was freed just before or long ago, for every target alike.
#   (unset)  as before: whatever the phases before left (the ratios then depend on the order within a round);
#   settled  wait until the host has taken back what was freed (the reported count still for 2 s, at most 20 s), so
#            no target starts right after a big free while another starts long after one (it does not make every
#            write slow: with nothing freed shortly before, native's writer measured 0.20–0.28 s/GiB in such a run);
#   fresh    drop the clean page cache right after the sync: the first pages written come from memory just freed.
# Each seqwrite also records the MiB the host took back during it (pages_reported_mib).
#
# READ_PAGES: the same for seqread (session 12). A cold read fills the page cache right after drop_caches; when the host
# takes free memory back while it runs, it slows (Graft alone, one tree, load ~15: 354 MB/s with 384 MiB taken back
# during the read against 515–582 without; native's own, load ~40: 58 MB/s with 816 MiB taken back during the drop and
# the read, against 1,260–1,627 with none). What a drop frees, and
# so whether reporting starts during the read, depends on everything cached on the machine, not on the target.
#   settled  (the default) sync, wait until the host has taken back what earlier phases freed, then drop and read at
#            once: every target's read fills the pages its drop just freed, with no earlier free reported beside it;
#   taken    sync, drop, wait until the host has taken back what the drop freed, then read: every page the read fills
#            must be faulted back in by the host (the slow end);
#   (empty)  READ_PAGES= : as before session 12 (sync, drop, read).
# Each seqread records the MiB the host took back during it (read_pages_reported_mib) and the CPU seconds the other
# filesystem's processes spent meanwhile (read_others_cpu_s: background work of a bystander); the table prints both
# with every round's rate.
#
# WARMUP=1 (the default; 0: none, as before session 11): one untimed seqwrite of SIZE_MB on every target before round 1;
# WARMUP=N: N of them. (Session 12: in the five quiet seqwrite-only runs of session 11 Graft's round 1 still ran at
# 585–774 MB/s against 627–836 in rounds 2–3, brick user time 0.12–0.44 s/GiB against 0.04–0.12; WARMUP=2 did not
# remove that at load ~10 — round 1 262–302 against 344–397, two pairs — so it is not only the JIT.)
# A fresh brick process pays its JIT compilation and the first touch of its buffers in the first round's seqwrite
# (Graft's brick measured 0.72 s/GiB of user time there against 0.16 in round 2, 256 MiB; GlusterFS's brick 0.44 / 0.28).
#
# FUSE_COUNTS=1 counts the requests the kernel sends each mount in every phase (bench/fuse-trace.sh) and prints
# them per file (per MiB for seqwrite/seqread, per I/O for fio's phases not at all) after the table.
# PER_OP=1 prints, per file of every metadata phase (per I/O of randwrite and randread), the CPU (µs, user+sys) and the context switches (voluntary +
# involuntary, all threads) of each filesystem's brick and client processes: figures the machine's load moves little.
# LAYERS=1 prints, per file of every metadata phase and per kind of request, where each request's time went, layer
# by layer, beside FUSE_COUNTS's kernel view (set it too for the whole chain): Graft's mount session (from its entry to
# its leaving the graph: write-behind, md-cache, nl-cache, protocol/client and the wire round trip) and its brick
# (from the start of a request's service to its reply queued: storage/posix and ext4), from the two daemons'
# Prometheus histograms (`graft up -o metrics=… --brick-metrics …`); GlusterFS's brick from `gluster volume profile`
# (io-stats at the top of the brick graph). kernel − mount = the FUSE hop (the device, the reader's wake, the
# bridge); mount − brick = the client graph and the wire. Costs Graft a histogram record per call.
# PERF_TRACE="unlink4 create1" runs `perf trace -s` on the brick process(es) during those phases (syscalls per thread,
# with counts and times) and saves each summary beside the results (bench/results/…-perf-TARGET-PHASE-ROUND.txt).
#
# Needs root (mounts, drop_caches, installing packages). Installs glusterfs-server, glusterfs-client and
# fio from Debian's packages if they are missing (benchmark only: the tests never need GlusterFS). Starts
# glusterd bound to 127.0.0.1 if none runs (and stops it again); tears down both volumes and all files.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"; GRAFT_UP_ARGS="${GRAFT_UP_ARGS:-}"; FUSE_COUNTS="${FUSE_COUNTS:-0}"; PAGES="${PAGES:-}"
PER_OP="${PER_OP:-0}"; PERF_TRACE="${PERF_TRACE:-}"; LAYERS="${LAYERS:-0}"; READ_PAGES="${READ_PAGES-settled}"
. "$here/bench/pages.sh"
pages_check "$PAGES"
read_pages_check "$READ_PAGES"
SIZE_MB="${SIZE_MB:-512}"
FILES="${FILES:-4000}"
RAND_SECONDS="${RAND_SECONDS:-15}"
PHASES="${PHASES:-seqwrite seqread create1 stat1 unlink1 create4 stat4 unlink4 randwrite randread}"
WARMUP="${WARMUP:-1}"
case "$WARMUP" in ''|*[!0-9]*) echo "WARMUP is a number of untimed seqwrites per target, not '$WARMUP'" >&2; exit 1 ;; esac
TARGETS="${TARGETS:-native graft gluster}"
[ "$(id -u)" = 0 ] || { echo "vs-glusterfs: needs root (mounts, drop_caches, packages)" >&2; exit 1; }

. "$here/bench/glusterfs.sh"
gluster_install

work="$here/.graft/bench/vs-glusterfs-$$"
native="$work/native"
gbrick="$work/gluster-brick"
gmnt="$work/gluster-mnt"
brick="$work/graft-brick"
mnt="$work/graft-mnt"
results="$work/results.txt"
vol="graftbench$$"
mkdir -p "$native" "$gbrick" "$gmnt" "$brick" "$mnt" "$here/bench/results"
fstype="$(df --output=fstype "$work" | tail -1)"
case "$fstype" in tmpfs|ramfs) echo "vs-glusterfs: $work is on $fstype; run it on a disk filesystem" >&2; exit 1 ;; esac

echo "building bench/Graft.FsBench ..." >&2
dotnet build "$here/bench/Graft.FsBench/Graft.FsBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
fsbench=(dotnet "$here/bench/Graft.FsBench/bin/Release/net10.0/Graft.FsBench.dll")
. "$here/bench/fuse-trace.sh"
fuse_counts="$work/fuse-counts.txt"
per_op="$work/per-op.txt"
layers="$work/layers.txt"

gluster_up=""
cleanup() {
  set +e
  GRAFT_HOME="$work" "$here/graft" down "$mnt" >/dev/null 2>&1
  [ -n "$gluster_up" ] && gluster_volume_remove "$vol" "$gmnt"
  gluster_stop
  rm -rf "$work"
}
trap cleanup EXIT

# ---- GlusterFS: glusterd on loopback, a 1-brick volume, a FUSE mount (notes/glusterfs-peer.md) ----
if [[ " $TARGETS " == *" gluster "* ]]; then
  gluster_start "$work"
  gluster_up=1
  gluster_volume_up "$vol" "$gmnt" "$gbrick"
  [ "$LAYERS" = 1 ] && gluster --mode=script volume profile "$vol" start >/dev/null
fi

# ---- Graft: the README's one command ----
if [[ " $TARGETS " == *" graft "* ]]; then
  # GRAFT_UP_ARGS: extra `graft up` options, e.g. "--brick-inline-fops off" for a before/after pair.
  layer_args=()
  if [ "$LAYERS" = 1 ]; then
    read -r mport bport <<<"$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')"
    layer_args=(-o "metrics=127.0.0.1:$mport" --brick-metrics "127.0.0.1:$bport")
  fi
  # shellcheck disable=SC2086
  GRAFT_HOME="$work" "$here/graft" up $GRAFT_UP_ARGS "${layer_args[@]}" "$brick" "$mnt" >&2
fi

# LAYERS=1: "LAYER FOP CALLS MEAN_US" lines of the requests served since the last call (Graft: both daemons'
# histograms, differenced against the previous snapshot; GlusterFS: the brick's profile, cleared each time).
layer_snap() { # TARGET → cumulative "LAYER FOP SUM_S COUNT" (Graft) or the interval's lines (GlusterFS)
  case "$1" in
    graft)
      { curl -s "http://127.0.0.1:$mport/metrics"; curl -s "http://127.0.0.1:$bport/metrics"; } |
        awk '/^graft_(mount|brick)_fop_duration_seconds_(sum|count)\{/ {
               layer = ($0 ~ /^graft_mount/) ? "mount" : "brick"; kind = ($0 ~ /_sum\{/) ? "sum" : "count"
               match($0, /fop="[^"]*"/); fop = substr($0, RSTART + 5, RLENGTH - 6)
               v[layer " " fop " " kind] = $NF; seen[layer " " fop] = 1 }
             END { for (k in seen) print k, v[k " sum"] + 0, v[k " count"] + 0 }' ;;
    gluster)
      # The cumulative table of the brick's io-stats since the last "info clear": "%-lat Avg ns Min ns Max ns Calls FOP" (10.3: ns).
      gluster --mode=script volume profile "$vol" info 2>/dev/null |
        awk '/Cumulative Stats/ { on = 1 } /Interval/ { on = 0 }
             on && ($3 == "us" || $3 == "ns") && $8 ~ /^[0-9]+$/ { print "brick", tolower($9), $2 / ($3 == "ns" ? 1e9 : 1e6) * $8, $8 }'
      gluster --mode=script volume profile "$vol" info clear >/dev/null 2>&1 ;;
  esac
}

# The processes whose CPU time a phase costs (none for native): ROLE is brick or client.
procs() { # TARGET ROLE
  case "$1,$2" in
    graft,brick) cat "$work/var/run/"*.brick.pid 2>/dev/null ;;
    graft,client) GRAFT_HOME="$work" "$here/graft" state "$mnt" | sed -n 's/.*"pid": \([0-9]*\).*/\1/p' | head -1 ;;
    gluster,brick) pgrep -f "glusterfsd.*$vol" ;;
    gluster,client) pgrep -f "glusterfs.*volfile-id=/$vol" ;;
  esac | tr '\n' ' '
}
cpu_of() { # PIDS... → "USER SYS" clock ticks, summed (utime and stime of /proc/PID/stat)
  local u=0 s=0 p f
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    f="$(sed 's/.*) //' "/proc/$p/stat")"
    read -r fu fs <<<"$(awk '{print $12, $13}' <<<"$f")"
    u=$((u + fu)); s=$((s + fs))
  done
  echo "$u $s"
}
hz="$(getconf CLK_TCK)"
switches_of() { # PIDS... → voluntary + involuntary context switches of all their threads
  local p
  for p in "$@"; do cat /proc/"$p"/task/*/status 2>/dev/null; done |
    awk '/^(non)?voluntary_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}
stamp0="$(date -u +%Y%m%dT%H%M%SZ)"

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }


dir_of() { case "$1" in native) echo "$native/b" ;; graft) echo "$mnt/b" ;; gluster) echo "$gmnt/b" ;; esac; }

fio_iops() { # TARGET PHASE DIR
  local rw; rw="${2#rand}"; rw="rand$rw"
  fio --name="$2" --directory="$3" --rw="$rw" --bs=4k --direct=1 --ioengine=psync --numjobs=4 \
      --size=64m --time_based --runtime="$RAND_SECONDS" --group_reporting --output-format=json 2>/dev/null |
    python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]; print("%.1f" % (j["read"]["iops"] + j["write"]["iops"]))'
}

phase() { # TARGET PHASE DIR
  local t="$1" p="$2" d="$3" line bp cp b0 b1 c0 c1 wu="" ws="" wf=""
  sync
  case "$p" in seqread) read_pages_prepare "$READ_PAGES" ;; stat1|stat4) drop ;; esac
  if [ "$p" = seqwrite ]; then
    pages_prepare "$PAGES"
  fi
  local rep0; rep0="$(reported_kib)"
  # LAYERS' first snapshot before the CPU counts start: a scrape costs the daemons CPU of their own.
  local l0=""
  if [ "$LAYERS" = 1 ] && [ "$t" != native ]; then l0="$(layer_snap "$t")"; fi
  # The other filesystem's processes during a cold read: what they spend beside it (background work, a heal, a timer).
  local others=() o ob0=""
  if [ "$p" = seqread ]; then
    for o in graft gluster; do [ "$o" = "$t" ] || [[ " $TARGETS " != *" $o "* ]] || read -r -a others <<<"${others[*]} $(procs "$o" brick) $(procs "$o" client)"; done
    ob0="$(cpu_of "${others[@]}")"
  fi
  read -r -a bp <<<"$(procs "$t" brick)"
  read -r -a cp <<<"$(procs "$t" client)"
  b0="$(cpu_of "${bp[@]}")"; c0="$(cpu_of "${cp[@]}")"
  local perf_pid="" perf_out="" bs0 cs0 bs1 cs1
  bs0="$(switches_of "${bp[@]}")"; cs0="$(switches_of "${cp[@]}")"
  if [[ " $PERF_TRACE " == *" $p "* ]] && [ "$t" != native ] && [ ${#bp[@]} -gt 0 ]; then
    perf_out="$here/bench/results/vs-glusterfs-$stamp0-perf-$t-$p-$round.txt"
    perf trace -s -p "$(IFS=,; echo "${bp[*]}")" -o "$perf_out" >/dev/null 2>&1 &
    perf_pid=$!
    sleep 1
  fi
  local counting=""
  if [ "$FUSE_COUNTS" = 1 ] && [ "$t" != native ] && [[ "$p" != rand* ]]; then fuse_trace_begin "$(dirname "$d")"; counting=1; fi
  case "$p" in
    seqwrite)
      # --cpu 1: the writer's own user and system seconds follow the usual four fields.
      line="$("${fsbench[@]}" "$p" "$d" --size-mb "$SIZE_MB" --cpu 1)"
      read -r _ _ _ _ wu ws wf <<<"$line"; line="$(cut -d' ' -f1-4 <<<"$line")" ;;
    seqread) line="$("${fsbench[@]}" "$p" "$d" --size-mb "$SIZE_MB")" ;;
    create1|stat1|unlink1) line="$("${fsbench[@]}" "${p%1}" "$d" --files "$FILES" --jobs 1)"; line="$p ${line#* }" ;;
    create4|stat4|unlink4) line="$("${fsbench[@]}" "${p%4}" "$d" --files "$FILES" --jobs 4)"; line="$p ${line#* }" ;;
    randwrite|randread)
      # fio lays its files out first (untimed); the random reads then find data written.
      line="$p $(fio_iops "$t" "$p" "$d") IOPS $RAND_SECONDS" ;;
  esac
  b1="$(cpu_of "${bp[@]}")"; c1="$(cpu_of "${cp[@]}")"
  bs1="$(switches_of "${bp[@]}")"; cs1="$(switches_of "${cp[@]}")"
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null || true; echo "(perf trace: $perf_out)" >&2; fi
  if [ "$PER_OP" = 1 ] && [ "$t" != native ]; then
    # The random I/O phases count per I/O: IOPS times the phase's seconds.
    local nops="$FILES"
    [[ "$p" == rand* ]] && nops="$(awk -v l="$line" 'BEGIN { split(l, a, " "); printf "%d", a[2] * a[4] }')"
    case "$p" in create*|stat*|unlink*|rand*)
      awk -v t="$t" -v p="$p" -v r="$round" -v n="$nops" -v hz="$hz" -v b="$(( ($(tr ' ' + <<<"$b1")) - ($(tr ' ' + <<<"$b0")) ))" -v c="$(( ($(tr ' ' + <<<"$c1")) - ($(tr ' ' + <<<"$c0")) ))" -v bs="$((bs1 - bs0))" -v cs="$((cs1 - cs0))" \
        'BEGIN { printf "%s %s round %d per %s: brick %.0f µs CPU, %.2f switches; client %.0f µs CPU, %.2f switches\n", t, p, r, (p ~ /^rand/ ? "I/O" : "file"), b / hz * 1e6 / n, bs / n, c / hz * 1e6 / n, cs / n }' >> "$per_op" ;;
    esac
  fi
  if [ "$LAYERS" = 1 ] && [ "$t" != native ]; then
    case "$p" in create*|stat*|unlink*)
      { [ "$t" = graft ] && echo "$l0" | sed 's/^/before /'; layer_snap "$t" | sed 's/^/after /'; } |
        awk -v t="$t" -v p="$p" -v r="$round" -v n="$FILES" '
          $1 == "before" { s0[$2 " " $3] = $4; c0[$2 " " $3] = $5; next }
          { k = $2 " " $3; c = $5 - c0[k]; if (c <= 0) next; us = ($4 - s0[k]) / c * 1e6
            line[$2] = line[$2] sprintf(" %s %.2f (%.0f µs)", toupper($3), c / n, us) }
          END { for (l in line) printf "%s %s round %d %s per file:%s\n", t, p, r, l, line[l] }' >> "$layers" ;;
    esac
  fi
  if [ -n "$counting" ]; then
    case "$p" in seq*) per="$SIZE_MB" ;; *) per="$FILES" ;; esac
    echo "$t $p $(fuse_trace_end "$per")" >> "$fuse_counts"
  fi
  echo "$t $line" | tee -a "$results" >&2
  if [ "$p" = seqread ]; then
    echo "$t read_pages_reported_mib $(( ($(reported_kib) - rep0) / 1024 )) MiB 0" | tee -a "$results" >&2
    local ou os ou0 os0; read -r ou0 os0 <<<"$ob0"; read -r ou os <<<"$(cpu_of "${others[@]}")"
    echo "$t read_others_cpu_s $(awk -v c=$((ou + os - ou0 - os0)) -v hz="$hz" 'BEGIN { printf "%.2f", c / hz }') s 0" | tee -a "$results" >&2
  fi
  if [ "$p" = seqwrite ]; then
    per_gib() { awk -v c="$1" -v hz="$hz" -v mb="$SIZE_MB" 'BEGIN { printf "%.2f", c / hz * 1024 / mb }'; }
    if [ "$t" != native ]; then
      local bu bs cu cs bu0 bs0 cu0 cs0
      read -r bu0 bs0 <<<"$b0"; read -r bu bs <<<"$b1"; read -r cu0 cs0 <<<"$c0"; read -r cu cs <<<"$c1"
      echo "$t brick_cpu_s_per_gib $(per_gib $((bu + bs - bu0 - bs0))) s 0" | tee -a "$results" >&2
      echo "$t client_cpu_s_per_gib $(per_gib $((cu + cs - cu0 - cs0))) s 0" | tee -a "$results" >&2
      echo "$t brick_user_s_per_gib $(per_gib $((bu - bu0))) s 0" | tee -a "$results" >&2
      echo "$t brick_sys_s_per_gib $(per_gib $((bs - bs0))) s 0" | tee -a "$results" >&2
      echo "$t client_user_s_per_gib $(per_gib $((cu - cu0))) s 0" | tee -a "$results" >&2
      echo "$t client_sys_s_per_gib $(per_gib $((cs - cs0))) s 0" | tee -a "$results" >&2
    fi
    echo "$t pages_reported_mib $(( ($(reported_kib) - rep0) / 1024 )) MiB 0" | tee -a "$results" >&2
    if [ -n "$ws" ]; then
      per_gib_s() { awk -v c="$1" -v mb="$SIZE_MB" 'BEGIN { printf "%.2f", c * 1024 / mb }'; }
      echo "$t writer_user_s_per_gib $(per_gib_s "$wu") s 0" | tee -a "$results" >&2
      echo "$t writer_sys_s_per_gib $(per_gib_s "$ws") s 0" | tee -a "$results" >&2
      echo "$t fsync_s $wf s 0" | tee -a "$results" >&2
    fi
  fi
}

: > "$results"
if [ "$WARMUP" -ge 1 ] && [[ " $PHASES " == *" seqwrite "* ]]; then
  echo "--- warm-up: $WARMUP untimed seqwrite(s) per target" >&2
  for t in native graft gluster; do
    [[ " $TARGETS " == *" $t "* ]] || continue
    d="$(dir_of "$t")"
    for _ in $(seq 1 "$WARMUP"); do
      mkdir -p "$d"
      "${fsbench[@]}" seqwrite "$d" --size-mb "$SIZE_MB" >/dev/null
      rm -rf "$d"
    done
  done
fi
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$ROUNDS"); do
  echo "--- round $round of $ROUNDS" >&2
  if [ $((round % 2)) = 1 ]; then order="native graft gluster"; else order="native gluster graft"; fi
  for t in $order; do
    [[ " $TARGETS " == *" $t "* ]] || continue
    d="$(dir_of "$t")"
    mkdir -p "$d"
    for p in $PHASES; do phase "$t" "$p" "$d"; done
    rm -rf "$d"
  done
done

table="$(awk -v load="$load0" -v pages="$PAGES" -v rpages="$READ_PAGES" -v rounds="$ROUNDS" -v size="$SIZE_MB" -v files="$FILES" -v fs="$fstype" '
  { v[$1 "," $2] = v[$1 "," $2] " " $3; unit[$2] = $4 }
  function median(s,   a, n, i, j, t) {
    n = split(s, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    split("seqwrite seqread create1 create4 stat1 stat4 unlink1 unlink4 randwrite randread", ph, " ")
    split("1.5 1.5 2 2 2.5 2.5 2 2 2 2", tg, " ")
    printf "Graft vs GlusterFS vs native %s, medians of %d rounds (%d MiB, %d files); load average before: %s\n", fs, rounds, size, files, load
    printf "%-10s %-8s %10s %10s %10s %9s %7s %-6s %9s\n", "phase", "unit", "native", "graft", "gluster", "gr÷gl", "target", "", "gr÷nat"
    for (i = 1; i <= 10; i++) {
      p = ph[i]; if (!(("graft," p) in v) && !(("gluster," p) in v)) continue
      n = (("native," p) in v) ? median(v["native," p]) : 0
      g = (("graft," p) in v) ? median(v["graft," p]) : 0
      l = (("gluster," p) in v) ? median(v["gluster," p]) : 0
      r = l > 0 ? g / l : 0; rn = n > 0 ? g / n : 0
      printf "%-10s %-8s %10.1f %10.1f %10.1f %9.2f %7.2f %-6s %9.2f\n", p, unit[p], n, g, l, r, tg[i], (l > 0 ? (r >= tg[i] ? "ok" : "MISSED") : ""), rn
    }
    if (("graft,brick_cpu_s_per_gib") in v || ("gluster,brick_cpu_s_per_gib") in v) {
      printf "\nseqwrite CPU, s per GiB written (targets for Graft: brick <= 1.5, client <= 1.0):\n"
      printf "  brick:  graft %.2f  gluster %.2f\n", median(v["graft,brick_cpu_s_per_gib"]), median(v["gluster,brick_cpu_s_per_gib"])
      printf "  client: graft %.2f  gluster %.2f\n", median(v["graft,client_cpu_s_per_gib"]), median(v["gluster,client_cpu_s_per_gib"])
    }
    if (("native,writer_sys_s_per_gib") in v || ("graft,brick_sys_s_per_gib") in v || ("gluster,brick_sys_s_per_gib") in v) {
      # user / sys medians apart (each column its own median: they need not add up to the total above).
      printf "\nseqwrite CPU split, s per GiB, user / sys (medians; writer = the writing program: its writes and fsync):\n"
      printf "  %-8s %15s %15s %15s\n", "", "native", "graft", "gluster"
      split("brick client writer", who, " ")
      split("native graft gluster", tgt, " ")
      for (k = 1; k <= 3; k++) {
        line = sprintf("  %-8s", who[k])
        for (j = 1; j <= 3; j++) {
          ku = tgt[j] "," who[k] "_user_s_per_gib"; ks = tgt[j] "," who[k] "_sys_s_per_gib"
          line = line ((ku in v) ? sprintf(" %6.2f / %6.2f", median(v[ku]), median(v[ks])) : sprintf(" %15s", "-"))
        }
        print line
      }
      if ("native,writer_sys_s_per_gib" in v) {
        nsys = median(v["native,writer_sys_s_per_gib"])
        printf "  brick sys beyond native ext4 writer'"'"'s sys (the brick'"'"'s own kernel work, not the page cache'"'"'s):"
        # Round by round (native ran in the same round), then the median of the differences.
        for (j = 2; j <= 3; j++) if ((tgt[j] ",brick_sys_s_per_gib") in v) {
          nb = split(v[tgt[j] ",brick_sys_s_per_gib"], bsys, " "); nn = split(v["native,writer_sys_s_per_gib"], wsys, " ")
          d = ""; for (r = 1; r <= nb && r <= nn; r++) d = d " " (bsys[r] - wsys[r])
          printf "  %s %.2f", tgt[j], median(d)
        }
        printf "\n  native writer sys by round:%s\n", v["native,writer_sys_s_per_gib"]
      }
      if (("graft,fsync_s") in v || ("native,fsync_s") in v)
        printf "  the final fsync, s by round: native%s; graft%s; gluster%s\n", v["native,fsync_s"], v["graft,fsync_s"], v["gluster,fsync_s"]
      if (("graft,pages_reported_mib") in v || ("native,pages_reported_mib") in v)
        printf "  free memory the host took back during seqwrite, MiB by round: native%s; graft%s; gluster%s (PAGES=%s)\n",
               v["native,pages_reported_mib"], v["graft,pages_reported_mib"], v["gluster,pages_reported_mib"], (pages == "" ? "unset" : pages)
    }
    if (("graft,read_pages_reported_mib") in v || ("native,read_pages_reported_mib") in v)
      printf "\nseqread by round, MB/s: native%s; graft%s; gluster%s\n  free memory the host took back during seqread, MiB by round: native%s; graft%s; gluster%s (READ_PAGES=%s)\n",
             v["native,seqread"], v["graft,seqread"], v["gluster,seqread"],
             v["native,read_pages_reported_mib"], v["graft,read_pages_reported_mib"], v["gluster,read_pages_reported_mib"], (rpages == "" ? "unset" : rpages)
    if (("native,read_others_cpu_s") in v)
      printf "  CPU s the other filesystem'"'"'s processes spent during each seqread, by round: native%s; graft%s; gluster%s\n",
             v["native,read_others_cpu_s"], v["graft,read_others_cpu_s"], v["gluster,read_others_cpu_s"]
  }' "$results")"
[ -s "$fuse_counts" ] && table="$table

FUSE requests per file (per MiB for seqwrite and seqread), by round:
$(cat "$fuse_counts")"
[ -s "$layers" ] && table="$table

Requests per file and their mean time, by layer (mount: the session, from entry to leaving the graph; brick: service):
$(cat "$layers")"
[ -s "$per_op" ] && table="$table

CPU and context switches per file (brick and client processes, all threads):
$(cat "$per_op")"
echo "$table"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
{ echo "$table"; echo; echo "raw:"; cat "$results"; } > "$here/bench/results/vs-glusterfs-$stamp.txt"
echo "(saved bench/results/vs-glusterfs-$stamp.txt)" >&2
