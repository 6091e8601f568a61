#!/usr/bin/env bash
# cluster/replicate against a single brick: sequential write and read (MB/s) and create rate
# (files/s) through a `graft mount`, brick processes on loopback. The single brick is one
# protocol/client mounted directly; the replica is cluster/replicate over three protocol/clients.
# Graft.FsBench does each phase (seqwrite: 1 MiB writes then fsync; seqread after dropping caches;
# create: 4 KiB files, one job). Median of RUNS, and the ratio replica/single.
# Targets (issue 14): seq write >= 0.6x a single brick, create >= 0.5x.
# COUNT=1: also the requests the bricks served per phase, by fop (from their metrics, all bricks
# together, per written MiB / per created file), to see what a fop costs in round trips.
#
#   bench/replicate.sh               # RUNS=5 SIZE_MB=256 FILES=1000 COUNT=0
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"
RUNS="${RUNS:-5}"
SIZE_MB="${SIZE_MB:-256}"
FILES="${FILES:-1000}"
COUNT="${COUNT:-0}"
bench_init replicate
bench_fsbench

urls=()
# up CONFIG: "single" (one brick) or "replica3" (three bricks under cluster/replicate), mounted on $work/mnt.
up() {
  local config="$1" n=1 vol="$work/client.vol" i
  [ "$config" = replica3 ] && n=3
  : > "$vol"
  urls=()
  for i in $(seq 0 $((n - 1))); do
    rm -rf "$work/$config-$i"
    if [ "$COUNT" = 1 ]; then
      brick_start "$work/$config-$i/b$i" "$work/brick$i.out" --metrics 127.0.0.1:0
      urls+=("$(sed -n 's/^metrics on //p' "$work/brick$i.out")")
    else
      brick_start "$work/$config-$i/b$i" "$work/brick$i.out"
    fi
    client_volume "$i" "$port" >> "$vol"
  done
  [ "$n" -gt 1 ] && printf 'volume afr\n    type cluster/replicate\n    subvolumes %s\nend-volume\n' "$(seq -f 'b%g' -s ' ' 0 $((n - 1)))" >> "$vol"
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
      [ "$COUNT" = 1 ] && requests > "$work/before"
      v="$("${fsbench[@]}" "$phase" "$work/mnt" --size-mb "$SIZE_MB" --files "$FILES" | awk '{ print $2 }')"
      echo "$config $phase $v" | tee -a "$results" >&2
      if [ "$COUNT" = 1 ]; then
        per="$SIZE_MB"; unit="MiB"
        [ "$phase" = create ] && { per="$FILES"; unit="file"; }
        requests | join -a 1 - "$work/before" |
          awk -v per="$per" -v unit="$unit" -v c="$config" -v p="$phase" \
            '{ d = $2 - ($3 == "" ? 0 : $3); if (d > 0) { s = s sprintf(" %s %.2f", $1, d / per); t += d } }
             END { printf "  %s %s: %.2f requests per %s:%s\n", c, p, t / per, unit, s }' >&2
      fi
    done
    down
  done
done
awk -v load="$load0" -v runs="$RUNS" -v size="$SIZE_MB" -v files="$FILES" "$AWK_MEDIAN"'
  { k = $1 "," $2; v[k] = v[k] " " $3 }
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
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
