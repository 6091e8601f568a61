#!/usr/bin/env bash
# create / stat / unlink rates of a mounted distributed volume with 1, 2 and 4 bricks (brick
# processes on loopback, cluster/distribute over protocol/clients, `graft mount`), JOBS processes
# at once, each in its own directory (Graft.FsBench: create = 4 KiB files). The rate is all jobs'
# files over the wall time of the slowest. Median of RUNS; the load average is printed with it.
#
#   bench/distribute.sh              # RUNS=3 JOBS=4 FILES=1000 (per job) BRICKS="1 2 4"
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"
RUNS="${RUNS:-3}"
JOBS="${JOBS:-4}"
FILES="${FILES:-1000}"
BRICKS="${BRICKS:-1 2 4}"
bench_init distribute
bench_fsbench

# Starts N bricks and mounts a distribute volume over them on $work/mnt.
up() {
  local n="$1" vol="$work/client.vol" i
  : > "$vol"
  for i in $(seq 0 $((n - 1))); do
    brick_start "$work/b$n-$i/b$i" "$work/brick$i.out"
    client_volume "$i" "$port" >> "$vol"
  done
  printf 'volume dht\n    type cluster/distribute\n    subvolumes %s\nend-volume\n' "$(seq -f 'b%g' -s ' ' 0 $((n - 1)))" >> "$vol"
  bench_mount "$vol"
}

down() { bench_umount; bricks_stop; }

now() { date +%s.%N; }
load0="$(cut -d' ' -f1-3 /proc/loadavg)"
for n in $BRICKS; do
  up "$n"
  for run in $(seq 1 "$RUNS"); do
    for phase in create stat unlink; do
      sync
      [ "$phase" = stat ] && echo 3 > /proc/sys/vm/drop_caches
      t0="$(now)"
      jp=()
      for j in $(seq 1 "$JOBS"); do
        mkdir -p "$work/mnt/j$j"
        "${fsbench[@]}" "$phase" "$work/mnt/j$j" --files "$FILES" > /dev/null &
        jp+=("$!")
      done
      for p in "${jp[@]}"; do wait "$p"; done
      t1="$(now)"
      rate="$(awk -v a="$t0" -v b="$t1" -v f="$((FILES * JOBS))" 'BEGIN { printf "%.0f", f / (b - a) }')"
      echo "$n $phase $rate" | tee -a "$results" >&2
    done
  done
  down
done
awk -v load="$load0" -v runs="$RUNS" -v jobs="$JOBS" -v files="$FILES" "$AWK_MEDIAN"'
  { k = $1 "," $2; v[k] = v[k] " " $3; seen[$1] = 1 }
  END {
    printf "distribute, %d jobs x %d files, median of %d runs; load average before: %s\n", jobs, files, runs, load
    printf "%-7s %12s %12s %12s\n", "bricks", "create/s", "stat/s", "unlink/s"
    for (n = 1; n <= 64; n++) if (n in seen)
      printf "%-7d %12.0f %12.0f %12.0f\n", n, median(v[n ",create"]), median(v[n ",stat"]), median(v[n ",unlink"])
  }' "$results"
