#!/usr/bin/env bash
# A just-written file read again through a single-brick mount, with the brick's storage/posix drop-behind on and off
# (alternated in the same runs): what drop-behind costs a reader of what was just written. Each run writes SIZE_MB
# with dd (1 MiB writes, fsync), then reads it twice with dd: "first", right away (the mount keeps no pages of a file
# written through it, so the read reaches the brick, whose page cache holds the file with drop-behind off and only its
# last chunk or two with it on: the rest comes from the disk), and "again", after dropping the mount's pages of that
# file only (dd iflag=nocache): from the brick's page cache, which the first read filled.
# Medians of RUNS, MB/s, and the brick's CPU seconds during the write.
#
#   bench/reread.sh                 # RUNS=5 SIZE_MB=128
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"
RUNS="${RUNS:-5}"
SIZE_MB="${SIZE_MB:-128}"
bench_init reread

# rate LINE: dd's MB/s from its last status line ("... copied, 0.123 s, 1.1 GB/s"), in MB/s.
rate() { awk '/copied/ { v = $(NF - 1); u = $NF; if (u == "GB/s") v *= 1000; if (u == "kB/s") v /= 1000; printf "%.1f", v }'; }

for run in $(seq 1 "$RUNS"); do
  modes="on off"; [ $((run % 2)) = 0 ] && modes="off on"
  for mode in $modes; do
    rm -rf "$work/b1"
    brick_start "$work/b1" "$work/brick-$run-$mode.out" --drop-behind "$mode"
    client_volume 1 "$port" > "$work/client.vol"
    bench_mount "$work/client.vol"
    f="$work/mnt/f"
    c0="$(awk '{ print $14 + $15 }' "/proc/${pids[0]}/stat")"
    w="$(dd if=/dev/zero of="$f" bs=1M count="$SIZE_MB" conv=fsync 2>&1 | rate)"
    cpu="$(awk -v c0="$c0" -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15 - c0) / hz }' "/proc/${pids[0]}/stat")"
    first="$(dd if="$f" of=/dev/null bs=1M 2>&1 | rate)"
    dd if="$f" iflag=nocache count=0 status=none
    again="$(dd if="$f" of=/dev/null bs=1M 2>&1 | rate)"
    echo "drop-behind $mode: write $w first $first again $again brick-cpu $cpu" | tee -a "$results" >&2
    bench_umount
    bricks_stop
  done
done
echo "re-read of a just-written $SIZE_MB MiB file, single brick, median of $RUNS runs (MB/s)"
for mode in on off; do
  grep "^drop-behind $mode:" "$results" | awk "$AWK_MEDIAN"' { w = w " " $4; a = a " " $6; b = b " " $8; c = c " " $10 }
    END { printf "drop-behind %-3s  write %8.1f  first %8.1f  again %8.1f  brick cpu s (write) %.2f\n", "'"$mode"'", median(w), median(a), median(b), median(c) }'
done
