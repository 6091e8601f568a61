#!/usr/bin/env bash
# cluster/replicate against a single brick: sequential write and read (MB/s) and create rate
# (files/s) through a `graft mount`, brick processes on loopback. The single brick is one
# protocol/client mounted directly; the replica is cluster/replicate over three protocol/clients.
# Graft.FsBench does each phase (seqwrite: 1 MiB writes then fsync; seqread after dropping caches;
# create: 4 KiB files, one job). Median of RUNS, and the ratio replica/single.
# Targets (issue 14): seq write >= 0.6x a single brick, create >= 0.5x.
# COUNT=1: also the requests the bricks served per phase, by fop (from their metrics, all bricks
# together, per written MiB / per created file), to see what a fop costs in round trips; in seqwrite, each brick's
# writes, their mean service time, how busy they kept it over the phase and the share queued behind another write.
# CPU=1: also the CPU seconds (user+sys, from /proc) the mount and the bricks spent in each phase, with the
# phase's wall time and FsBench's own seconds of the phase (the idle share of the two cores is over the latter: the wall also
# holds starting FsBench, ~0.3-0.6 s), and their threads' context switches;
# each brick's own CPU, and for seqwrite FsBench's split of the phase into the writes and the final fsync.
# THREADS=1: also the context switches of the mount's threads and of the bricks' threads (all bricks together) during
# each phase, by thread name (voluntary and not), per op: which threads hand work to each other (graft-recv: receive
# threads, .NET TP Worker: the thread pool, fuse readers...).
# PERF=sched:sched_wakeup (or cpu-clock, ...): perf records that event with call chains (managed frames through the
# runtime's perf map) in the mount (PERF_WHO=mount, default) or the bricks (PERF_WHO=bricks) during each measured
# phase: who wakes whom, where the CPU goes. The data is kept in $OUT (default /tmp/replicate-perf) as
# CONFIG-PHASE-WHO.data, for `perf script` / `perf report --children`. PERF_G=0: no call chains (less overhead).
# PHASES="create": only those phases (the table shows 0 for the others).
# PAGES=settled|fresh|filled: the state of free memory before each measured seqwrite (bench/pages.sh): settled waits until the
# host has taken back what was freed, fresh drops the clean page cache first, filled writes and removes a scratch file
# of FILL_MB (512) first (memory just freed whatever the configuration before left cached); unset: whatever came before. The replica
# writes three times the pages a single brick writes, so a seqwrite's figures follow this state (docs/replicate.md,
# "Session 11 on a quiet machine").
# SPLIT=1: a third configuration, replica3-split: the same replica with protocol/client's
# lock-xattrop off (each transaction's lock and pre-op, post-op and unlock as separate requests, as
# with bricks that lack inodelk-xattrop), alternated in the same runs: a before/after of that fop.
# ELOCK0=1: a configuration replica3-elock0: the same replica with replicate's entry-lock-delay 0 (each
# namespace change takes and gives back its own entry lock, as before session 9's eager entry lock),
# alternated in the same runs: a before/after of that lock.
# MERGE0=1: a configuration replica3-merge0: the same replica with protocol/client's lock-create-release off
# (a create without its file's lock and pre-op, a release without the window's post-op and unlock, as with
# bricks before session 10), alternated in the same runs: a before/after of those two fops.
# AFR="entry-lock-delay 100ms": options of cluster/replicate in every replica configuration, ';'-separated
# (replica3-elock0 still has entry-lock-delay 0).
# WARMUP=1 (default): each phase runs once unmeasured first (in mnt/warm, kept), so the figures are of
# running processes, not of the JIT: in their first 128 MiB a fresh brick spends ~1.2 ms of CPU per MiB
# and the mount ~3 compiling the request path (docs/replicate.md, Performance, session 8).
# WARMUP=0: the old cold figures.
# GRAPH=default (default): the client graph a volume's users get (the daemon's volfile and `graft up`):
# performance/write-behind and performance/md-cache above the top (replicate, or the single brick's
# protocol/client). GRAPH=bare: protocol/client(s) and replicate only.
# WB="writes-in-flight 4; cache-size 4MB": options of write-behind (GRAPH=default), ';'-separated.
# WB_BEFORE="writes-in-flight 1; cache-size 1MB": two more configurations, single-before and
# replica3-before, whose write-behind has these options instead, alternated in the same runs (a
# before/after pair of write-behind's settings; the ratio line "(before)" is replica3-before/single-before).
# BRICK_BEFORE="--writeback-chunk 0": two more configurations, single-bbefore and replica3-bbefore, whose bricks are
# started with these `graft brick` arguments, alternated in the same runs (the ratio line "(bricks before)").
# TREE_BEFORE=DIR: two more configurations, single-tbefore and replica3-tbefore, whose bricks and mount are another
# clone's `graft` (DIR/graft, e.g. `git archive main | tar -x -C DIR`), alternated in the same runs: an A/B of two trees
# (the ratio line "(tree before)"). FsBench is this clone's in both.
#
#   bench/replicate.sh               # RUNS=5 SIZE_MB=256 FILES=1000 COUNT=0 SPLIT=0 ELOCK0=0 MERGE0=0 WARMUP=1 GRAPH=default
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"
RUNS="${RUNS:-5}"
SIZE_MB="${SIZE_MB:-256}"
FILES="${FILES:-1000}"
COUNT="${COUNT:-0}"
SPLIT="${SPLIT:-0}"
ELOCK0="${ELOCK0:-0}"
MERGE0="${MERGE0:-0}"
AFR="${AFR:-}"
CPU="${CPU:-0}"
THREADS="${THREADS:-0}"
PERF="${PERF:-}"
PERF_WHO="${PERF_WHO:-mount}"
OUT="${OUT:-/tmp/replicate-perf}"
if [ -n "$PERF" ]; then mkdir -p "$OUT"; export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0; fi
WARMUP="${WARMUP:-1}"
GRAPH="${GRAPH:-default}"
PHASES="${PHASES:-seqwrite seqread create}"
WB="${WB:-}"
WB_BEFORE="${WB_BEFORE:-}"
BRICK_BEFORE="${BRICK_BEFORE:-}"
TREE_BEFORE="${TREE_BEFORE:-}"
if [ -n "$TREE_BEFORE" ]; then "$TREE_BEFORE/graft" --version >/dev/null; fi   # builds that CLI once, before any timing
PAGES="${PAGES:-}"
bench_init replicate
# SPREAD=1: the configurations' brick directories are spread over the filesystem's block groups (ext4's TOPDIR flag on the
# bench's directory), away from inodes freed in the last minutes (docs/replicate.md "Session 13").
if [ "${SPREAD:-0}" = 1 ]; then chattr +T "$work" || echo "SPREAD=1: chattr +T refused here (not ext4?); brick directories placed as usual" >&2; fi
. "$here/bench/pages.sh"
pages_check "$PAGES"
bench_fsbench

urls=()
# wb_options "a 1; b 2": the lines "    option a 1" and "    option b 2".
wb_options() { echo "$1" | tr ';' '\n' | sed -n 's/^ *\([^ ].*[^ ]\) *$/    option \1/p'; }

# up CONFIG: "single" (one brick), "replica3" (three bricks under cluster/replicate) or "replica3-split"
# (the same, lock-xattrop off); "single-before" and "replica3-before" with write-behind's WB_BEFORE;
# mounted on $work/mnt.
up() {
  local config="$1" n=1 vol="$work/client.vol" i wb="$WB" bargs=()
  case "$config" in single*) ;; *) n=3 ;; esac
  case "$config" in *-before) wb="$WB_BEFORE" ;; esac
  # shellcheck disable=SC2206 # the arguments are split on purpose
  case "$config" in *-bbefore) bargs=($BRICK_BEFORE) ;; esac
  # The graft of the bricks and the mount (brick_start and bench_mount run "$graft").
  graft="$here/graft"; case "$config" in *-tbefore) graft="$TREE_BEFORE/graft" ;; esac
  : > "$vol"
  urls=()
  for i in $(seq 0 $((n - 1))); do
    rm -rf "$work/$config-$i"
    if [ "$COUNT" = 1 ]; then
      brick_start "$work/$config-$i/b$i" "$work/brick$i.out" --metrics 127.0.0.1:0 "${bargs[@]}"
      urls+=("$(sed -n 's/^metrics on //p' "$work/brick$i.out")")
    else
      brick_start "$work/$config-$i/b$i" "$work/brick$i.out" "${bargs[@]}"
    fi
    if [ "$config" = replica3-split ]; then
      client_volume "$i" "$port" | sed 's/^end-volume$/    option lock-xattrop off\nend-volume/' >> "$vol"
    elif [ "$config" = replica3-merge0 ]; then
      client_volume "$i" "$port" | sed 's/^end-volume$/    option lock-create-release off\nend-volume/' >> "$vol"
    else
      client_volume "$i" "$port" >> "$vol"
    fi
  done
  local top=b0
  if [ "$n" -gt 1 ]; then
    local afropt
    afropt="$(wb_options "$AFR")"
    [ "$config" = replica3-elock0 ] && afropt="$(echo "$afropt" | grep -v 'entry-lock-delay'; echo '    option entry-lock-delay 0')"
    { printf "volume afr\n    type cluster/replicate\n"; [ -n "$afropt" ] && echo "$afropt"
      printf "    subvolumes %s\nend-volume\n" "$(seq -f 'b%g' -s ' ' 0 $((n - 1)))"; } >> "$vol"
    top=afr
  fi
  if [ "$GRAPH" = default ]; then
    { printf 'volume wb\n    type performance/write-behind\n'; wb_options "$wb"
      printf '    subvolumes %s\nend-volume\nvolume md\n    type performance/md-cache\n    subvolumes wb\nend-volume\n' "$top"; } >> "$vol"
  fi
  bench_mount "$vol"
}

down() { bench_umount; bricks_stop; }

# requests: "fop count" lines, every brick's requests served so far, summed by fop.
requests() {
  local u
  for u in "${urls[@]}"; do curl -fsS "$u"; done |
    sed -n 's/^graft_brick_fop_duration_seconds_count{.*fop="\([a-z_]*\)".*} \([0-9.e+]*\)$/\1 \2/p' |
    awk '{ n[$1] += $2 } END { for (f in n) printf "%s %d\n", f, n[f] }' | sort
}

# write_service: per brick "writes SECONDS LANED", its writev requests served so far, the seconds their service took (from
# the start of a request's service to its reply queued) and how many queued behind another write of their fd (the lane).
write_service() {
  local u
  for u in "${urls[@]}"; do
    curl -fsS "$u" | awk '/^graft_brick_fop_duration_seconds_count\{.*fop="writev"/ { n = $NF } /^graft_brick_fop_duration_seconds_sum\{.*fop="writev"/ { s = $NF }
      /^graft_brick_writes_laned_total/ { l = $NF } END { printf "%d %.6f %d\n", n, s, l }'
  done
}

# cpu: "mount S bricks S app S mcs N bcs N", CPU seconds so far of this run's processes (found by $work in
# their command line), and the context switches (voluntary and not) of the mount's and the bricks' live threads.
cpu() {
  local p cmd role t cs hz
  hz="$(getconf CLK_TCK)"
  for p in /proc/[0-9]*; do
    cmd="$(tr '\0' ' ' 2>/dev/null < "$p/cmdline")" || continue
    case "$cmd" in *"$work"*) ;; *) continue ;; esac
    case "$cmd" in *" brick "*) role=bricks ;; *" mount "*) role=mount ;; *FsBench*) role=app ;; *) continue ;; esac
    t="$(awk '{ print $14 + $15 }' "$p/stat" 2>/dev/null)" || continue
    cs="$(cat "$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { n += $2 } END { print n + 0 }')"
    echo "$role $t $cs"
  done | awk -v hz="$hz" '{ s[$1] += $2; c[$1] += $3 }
    END { printf "mount %.2f bricks %.2f app %.2f mcs %d bcs %d\n", s["mount"] / hz, s["bricks"] / hz, s["app"] / hz, c["mount"], c["bricks"] }'
}

# brick_cpu: each brick's CPU ticks so far (user+sys), one line per brick in start order.
brick_cpu() { local b; for b in "${pids[@]}"; do awk '{ print $14 + $15 }' "/proc/$b/stat" 2>/dev/null || echo 0; done; }

# mount_pid: the mount daemon of this run (found by $work in its command line).
mount_pid() {
  local p
  for p in /proc/[0-9]*; do
    case "$(tr '\0' ' ' 2>/dev/null < "$p/cmdline")" in *"$work"*" mount "*|*" mount "*"$work"*) echo "${p##*/}"; return ;; esac
  done
}
# tasks PID: "tid name voluntary involuntary" per live thread.
tasks() {
  local t
  for t in /proc/"$1"/task/*; do
    awk -v tid="${t##*/}" '/^Name:/ { sub(/^Name:[ \t]*/, ""); gsub(/ /, "_"); n = $0 } /^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { i = $2 }
      END { print tid, n, v, i }' "$t/status" 2>/dev/null
  done | sort
}
# by_thread BEFORE AFTER PER: switches per thread name during the phase, per op (PER ops).
by_thread() {
  join -a2 -e 0 -o 0,2.2,1.3,2.3,1.4,2.4 <(echo "$1") <(echo "$2") \
    | awk -v per="$3" '{ v[$2] += $4 - $3; i[$2] += $6 - $5; n[$2]++ } END { for (k in v) if (v[k] + i[k] > 0) printf "    %-18s threads %3d  voluntary %8.2f  involuntary %7.2f per op\n", k, n[k], v[k] / per, i[k] / per }' | sort -k5 -nr
}

load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  # Alternate the order so a change of load during the run does not favour one configuration.
  configs="single replica3"
  [ "$SPLIT" = 1 ] && configs="$configs replica3-split"
  [ "$ELOCK0" = 1 ] && configs="$configs replica3-elock0"
  [ "$MERGE0" = 1 ] && configs="$configs replica3-merge0"
  [ -n "$WB_BEFORE" ] && configs="$configs single-before replica3-before"
  [ -n "$BRICK_BEFORE" ] && configs="$configs single-bbefore replica3-bbefore"
  [ -n "$TREE_BEFORE" ] && configs="$configs single-tbefore replica3-tbefore"
  [ $((run % 2)) = 0 ] && configs="$(echo "$configs" | awk '{ for (i = NF; i > 0; i--) printf "%s%s", $i, (i > 1 ? " " : "") }')"
  for config in $configs; do
    up "$config"
    for phase in $PHASES; do
      if [ "$WARMUP" = 1 ]; then
        mkdir -p "$work/mnt/warm"
        "${fsbench[@]}" "$phase" "$work/mnt/warm" --size-mb "$SIZE_MB" --files "$FILES" >/dev/null || true
      fi
      sync
      [ "$phase" = seqread ] && echo 3 > /proc/sys/vm/drop_caches
      [ "$phase" = seqwrite ] && pages_prepare "$PAGES" "$work"
      [ "$COUNT" = 1 ] && { requests > "$work/before"; write_service > "$work/wbefore"; }
      [ "$CPU" = 1 ] && { cpu0="$(cpu)"; t0="$(date +%s.%N)"; }
      mp="$(mount_pid)"
      if [ "$THREADS" = 1 ]; then mt0="$(tasks "$mp")"; bt0="$(for b in "${pids[@]}"; do tasks "$b"; done | sort)"; fi
      if [ -n "$PERF" ]; then
        who="$mp"
        [ "$PERF_WHO" = bricks ] && who="$(IFS=,; echo "${pids[*]}")"
        perf record -q -e "$PERF" $([ "${PERF_G:-1}" = 1 ] && echo -g) -p "$who" -o "$OUT/$config-$phase-$PERF_WHO.data" 2>/dev/null &
        perfpid=$!
        sleep 1
      fi
      cpuarg=(); [ "$CPU" = 1 ] && [ "$phase" = seqwrite ] && cpuarg=(--cpu 1)
      [ "$CPU" = 1 ] && bcpu0="$(brick_cpu)"
      line="$("${fsbench[@]}" "$phase" "$work/mnt" --size-mb "$SIZE_MB" --files "$FILES" "${cpuarg[@]}")"
      v="$(echo "$line" | awk '{ print $2 }')"
      if [ -n "$PERF" ]; then kill -INT "$perfpid"; wait "$perfpid" 2>/dev/null || true; fi
      echo "$config $phase $v" | tee -a "$results" >&2
      if [ "$CPU" = 1 ]; then
        # The app's own CPU is read before it exits: its process is gone by now, so it is left out here.
        # The idle share is over FsBench's own seconds (the phase), not the wall, which also holds starting FsBench.
        echo "$cpu0 $(cpu) $t0 $(date +%s.%N) $(echo "$line" | awk '{ print $4 }')" | awk '{ w = $22 - $21; c = $12 - $2 + $14 - $4
          printf "  cpu s: mount %.2f bricks %.2f over %.2f s wall, %.3f s of phase (%.2f of 2 cores idle in it); context switches: mount %d bricks %d\n", $12 - $2, $14 - $4, w, $23, 1 - c / (2 * $23), $18 - $8, $20 - $10 }' >&2
        echo "  each brick's cpu s: $(paste -d' ' <(echo "$bcpu0") <(brick_cpu) | awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f ", ($2 - $1) / hz }')" >&2
        # seqwrite: FsBench's own split of its wall time, the writes and the final fsync (the bricks' dirty pages).
        [ "$phase" = seqwrite ] && echo "$line" | awk '{ printf "  seqwrite %.3f s: writes %.3f, fsync %.3f\n", $4, $4 - $7, $7 }' >&2
      fi
      if [ "$THREADS" = 1 ]; then
        per="$SIZE_MB"; [ "$phase" = create ] && per="$FILES"
        echo "  mount threads' context switches ($config $phase, per $([ "$phase" = create ] && echo file || echo MiB)):" >&2
        by_thread "$mt0" "$(tasks "$mp")" "$per" >&2
        echo "  bricks' threads' context switches (all bricks):" >&2
        by_thread "$bt0" "$(for b in "${pids[@]}"; do tasks "$b"; done | sort)" "$per" >&2
      fi
      if [ "$COUNT" = 1 ]; then
        per="$SIZE_MB"; unit="MiB"
        [ "$phase" = create ] && { per="$FILES"; unit="file"; }
        requests | join -a 1 - "$work/before" |
          awk -v per="$per" -v unit="$unit" -v c="$config" -v p="$phase" \
            '{ d = $2 - ($3 == "" ? 0 : $3); if (d > 0) { s = s sprintf(" %s %.2f", $1, d / per); t += d } }
             END { printf "  %s %s: %.2f requests per %s:%s\n", c, p, t / per, unit, s }' >&2
        # seqwrite: each brick's writes, the mean time one took to serve, how busy that kept the brick's write path over
        # the phase (FsBench's seconds), and the share that found another write of the file in service (queued behind it).
        [ "$phase" = seqwrite ] && paste -d' ' "$work/wbefore" <(write_service) | awk -v t="$(echo "$line" | awk '{ print $4 }')" \
          '{ n = $4 - $1; s = $5 - $2; printf "  brick %d: %d writes, %.2f ms each, busy %.0f%% of the phase, %.0f%% queued behind another\n", NR - 1, n, n ? 1000 * s / n : 0, t ? 100 * s / t : 0, n ? 100 * ($6 - $3) / n : 0 }' >&2
      fi
    done
    down
  done
done
awk -v load="$load0" -v graph="$GRAPH" -v warm="$WARMUP" -v runs="$RUNS" -v size="$SIZE_MB" -v files="$FILES" "$AWK_MEDIAN"'
  function ratio(a, b) { return a == "" || b == "" ? 0 : median(a) / median(b) }
  { k = $1 "," $2; v[k] = v[k] " " $3; seen[$1] = 1 }
  END {
    printf "replicate vs single brick, %d MiB seq, %d files, median of %d runs, graph %s, warm-up %s; load average before: %s\n", size, files, runs, graph, warm, load
    printf "%-15s %12s %12s %12s\n", "", "write MB/s", "read MB/s", "create/s"
    split("seqwrite seqread create", ph, " ")
    n = split("single replica3 replica3-split replica3-elock0 replica3-merge0 single-before replica3-before single-bbefore replica3-bbefore single-tbefore replica3-tbefore", cfgs, " ")
    for (c = 1; c <= n; c++) {
      cfg = cfgs[c]
      if (!(cfg in seen)) continue
      printf "%-15s %12.1f %12.1f %12.1f\n", cfg, median(v[cfg ",seqwrite"]), median(v[cfg ",seqread"]), median(v[cfg ",create"])
    }
    split("replica3 single;replica3-split single;replica3-elock0 single;replica3-merge0 single;replica3-before single-before;replica3-bbefore single-bbefore;replica3-tbefore single-tbefore", pairs, ";")
    split(" (split); (elock0); (merge0); (before); (bricks before); (tree before)", labels, ";")
    for (c = 1; c <= 7; c++) {
      split(pairs[c], pr, " ")
      if (!(pr[1] in seen)) continue
      printf "%-15s %12.2f %12.2f %12.2f\n", "ratio" (c == 1 ? "" : labels[c - 1]), ratio(v[pr[1] ",seqwrite"], v[pr[2] ",seqwrite"]),
        ratio(v[pr[1] ",seqread"], v[pr[2] ",seqread"]), ratio(v[pr[1] ",create"], v[pr[2] ",create"])
    }
  }' "$results"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
