#!/usr/bin/env bash
# What this machine allows a replica's write before any filesystem code runs: native ext4, on the filesystem the
# bricks of bench/replicate.sh use, writing SIZE_MB with 1 MiB writes and then fsync to one file, against three such
# writers at once (three files, three processes started together; the rate is SIZE_MB over the slowest writer's
# time, as a replica's write is acknowledged when its last copy is). A replica 3 on one disk and two cores writes
# every byte three times through the same page cache, CPUs and disk, so three native writers' rate over one native
# writer's bounds what replica-3 ÷ single brick can reach here, whatever the replication code does (issue 14's
# target is 0.6; docs/replicate.md "The machine's bound").
# Rounds alternate the two configurations; PAGES (settled|fresh|unset) prepares free memory before each one as in
# bench/replicate.sh (bench/pages.sh). DIRECT=1 writes with O_DIRECT (dd oflag=direct): no page cache, the virtual
# disk's own bandwidth for one writer and for three. Prints each round and the medians.
#
#   bench/copies-bound.sh            # ROUNDS=5 SIZE_MB=128 PAGES= DIRECT=0
set -euo pipefail
. "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"
ROUNDS="${ROUNDS:-5}"
SIZE_MB="${SIZE_MB:-128}"
PAGES="${PAGES:-}"
DIRECT="${DIRECT:-0}"
bench_init copies-bound
. "$here/bench/pages.sh"
pages_check "$PAGES"

# write_copies N: N dd writers of SIZE_MB (1 MiB blocks, fsync at the end) started together; prints MB/s over the
# slowest one's seconds (each dd's own elapsed time, so process start-up is not counted).
write_copies() {
  local n="$1" i secs max=0 flags=(conv=fsync)
  [ "$DIRECT" = 1 ] && flags+=(oflag=direct)
  rm -rf "$work/native"; mkdir -p "$work/native"; sync
  pages_prepare "$PAGES"
  for i in $(seq 1 "$n"); do
    ( dd if=/dev/zero of="$work/native/copy$i" bs=1M count="$SIZE_MB" "${flags[@]}" 2>&1 \
        | awk '/copied/ { for (k = 1; k <= NF; k++) if ($k == "s,") print $(k-1) }' > "$work/native/secs$i" ) &
  done
  wait
  for i in $(seq 1 "$n"); do
    secs="$(cat "$work/native/secs$i")"
    max="$(awk -v a="$max" -v b="$secs" 'BEGIN { print (b > a) ? b : a }')"
  done
  awk -v mb="$SIZE_MB" -v s="$max" 'BEGIN { printf "%.1f\n", mb / s }'
}

one=(); three=()
for r in $(seq 1 "$ROUNDS"); do
  a="$(write_copies 1)"; b="$(write_copies 3)"
  one+=("$a"); three+=("$b")
  printf 'round %d: one writer %s MB/s, three writers %s MB/s each (ratio %s)\n' "$r" "$a" "$b" \
    "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')" | tee -a "$results"
done
m1="$(awk -v s="${one[*]}" "$AWK_MEDIAN"' BEGIN { print median(s) }')"
m3="$(awk -v s="${three[*]}" "$AWK_MEDIAN"' BEGIN { print median(s) }')"
printf 'medians (%d rounds, %d MiB, PAGES=%s, DIRECT=%s): one writer %s MB/s, three at once %s MB/s each: bound %s\n' \
  "$ROUNDS" "$SIZE_MB" "${PAGES:-unset}" "$DIRECT" "$m1" "$m3" "$(awk -v a="$m1" -v b="$m3" 'BEGIN { printf "%.2f", b / a }')"
