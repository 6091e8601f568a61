#!/usr/bin/env bash
# A just-written file read again through a single-brick mount, with the brick's storage/posix drop-behind on and off
# (alternated in the same runs): what drop-behind costs a reader of what was just written. Each run writes SIZE_MB
# with dd (1 MiB writes, fsync), then reads it twice with dd: "warm", right away (the mount's own page cache may answer),
# and "brick", after dropping the mount's pages of that file only (dd iflag=nocache: the read reaches the brick, whose
# page cache holds the file with drop-behind off, and with it on only its last chunks; the rest comes from the disk).
# Medians of RUNS, MB/s.
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
    w="$(dd if=/dev/zero of="$f" bs=1M count="$SIZE_MB" conv=fsync 2>&1 | rate)"
    warm="$(dd if="$f" of=/dev/null bs=1M 2>&1 | rate)"
    dd if="$f" iflag=nocache count=0 status=none
    brick="$(dd if="$f" of=/dev/null bs=1M 2>&1 | rate)"
    echo "drop-behind $mode: write $w warm $warm brick $brick" | tee -a "$results" >&2
    bench_umount
    bricks_stop
  done
done
echo "re-read of a just-written $SIZE_MB MiB file, single brick, median of $RUNS runs (MB/s)"
for mode in on off; do
  grep "^drop-behind $mode:" "$results" | awk "$AWK_MEDIAN"' { w = w " " $4; a = a " " $6; b = b " " $8 }
    END { printf "drop-behind %-3s  write %8.1f  warm %8.1f  brick %8.1f\n", "'"$mode"'", median(w), median(a), median(b) }'
done
