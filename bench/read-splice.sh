#!/usr/bin/env bash
# protocol/server's read-splice, on against off, alternated in one run (docs/performance.md "Reads spliced to the
# socket"). Two `graft up` volumes side by side, one brick started with `--brick-read-splice 0` (copied: pread, then
# sendmsg), one with the default (spliced from the page cache to the socket); each round writes a SIZE_MB file on
# each (dd bs=1M from a file in the page cache, then fsync) and reads it cold (sync, settle the host's page
# reporting, drop caches: bench/pages.sh's `settled`) with dd bs=1M, the two targets in alternating order.
# Per read: MB/s, and the CPU seconds per GiB read of the brick and of the mount (utime+stime of /proc/PID/stat), the
# MiB the host took back meanwhile, and the mount's receive threads' CPU per GiB (the serial part of its read path). The machine's load moves the rate; the CPU per GiB much less.
# PERF=1 also records `perf record -g` of each brick over one extra cold read per target at the end and prints the
# shares of the copies (copy_to_iter / copy_from_iter / splice) in its samples.
#
#   ROUNDS=6 SIZE_MB=256 bench/read-splice.sh
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
. "$(dirname "$(readlink -f "$0")")/pages.sh"
ROUNDS="${ROUNDS:-6}"; SIZE_MB="${SIZE_MB:-256}"; PERF="${PERF:-0}"
bench_init read-splice
hz="$(getconf CLK_TCK)"
src="$work/src"
head -c "$((SIZE_MB << 20))" /dev/urandom > "$src"

onoff_volumes --brick-read-splice 0

cpu() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# recv_cpu PID: clock ticks of the process's receive threads (graft-recv), the mount's serial part of a read.
recv_cpu() {
  local n=0 t
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = graft-recv ] || continue
    n=$((n + $(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "$t/stat" 2>/dev/null || echo 0)))
  done
  echo "$n"
}

one_read() { # TARGET → "MB/s brick_s_per_GiB mount_s_per_GiB reported_mib recv_s_per_GiB"
  local t="$1" b0 m0 b1 m1 r0 r1 t0 t1 v0 v1
  read_pages_prepare settled
  b0="$(cpu "${brick_pid[$t]}")"; m0="$(cpu "${mount_pid[$t]}")"; r0="$(reported_kib)"; v0="$(recv_cpu "${mount_pid[$t]}")"
  t0="$(date +%s.%N)"
  dd if="${mp[$t]}/f" of=/dev/null bs=1M 2>/dev/null
  t1="$(date +%s.%N)"
  b1="$(cpu "${brick_pid[$t]}")"; m1="$(cpu "${mount_pid[$t]}")"; r1="$(reported_kib)"; v1="$(recv_cpu "${mount_pid[$t]}")"
  awk -v mb="$SIZE_MB" -v t0="$t0" -v t1="$t1" -v b="$((b1 - b0))" -v m="$((m1 - m0))" -v hz="$hz" -v r="$((r1 - r0))" -v v="$((v1 - v0))" \
    'BEGIN { g = mb / 1024; printf "%.0f %.2f %.2f %d %.2f\n", mb * 1048576 / 1e6 / (t1 - t0), b / hz / g, m / hz / g, r / 1024, v / hz / g }'
}

# One untimed write and read per target first: a fresh brick and mount pay their JIT compilation there.
for t in on off; do dd if="$src" of="${mp[$t]}/f" bs=1M conv=fsync 2>/dev/null; one_read "$t" >/dev/null; done

for round in $(seq 1 "$ROUNDS"); do
  order="on off"; [ $((round % 2)) = 0 ] && order="off on"
  for t in $order; do
    dd if="$src" of="${mp[$t]}/f" bs=1M conv=fsync 2>/dev/null
    line="$(one_read "$t")"
    echo "round $round read-splice $t: MB/s brick_s/GiB mount_s/GiB reported_MiB mount_recv_s/GiB = $line" | tee -a "$results"
  done
done

echo
echo "medians over $ROUNDS rounds (MB/s, brick s/GiB, mount s/GiB, the mount's receive threads s/GiB):"
for t in on off; do
  grep " read-splice $t:" "$results" | awk -v t="$t" '{ r[NR] = $(NF-4); b[NR] = $(NF-3); m[NR] = $(NF-2); v[NR] = $NF }
    function med(a, n,   i, j, x) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
                                     return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END { printf "  read-splice %-3s %6.0f MB/s  brick %.2f  mount %.2f (receive threads %.2f)\n", t, med(r, NR), med(b, NR), med(m, NR), med(v, NR) }'
done

if [ "$PERF" = 1 ]; then
  for t in on off; do
    read_pages_prepare settled
    perf record -q -g -o "$work/perf-$t.data" -p "${brick_pid[$t]}" -- dd if="${mp[$t]}/f" of=/dev/null bs=1M 2>/dev/null
    echo "brick perf, read-splice $t (share of the brick's samples, children included):"
    perf report -q -i "$work/perf-$t.data" --children --sort symbol -g none 2>/dev/null \
      | grep -E "\] (_copy_to_iter|_copy_from_iter|filemap_read|filemap_splice_read|splice_to_socket|__x64_sys_splice|__x64_sys_pread64|__x64_sys_sendmsg|tcp_sendmsg_locked|__memmove_avx_unaligned_erms) " \
      | awk '{ printf "    %-28s %s\n", $4, $1 }' || true
  done
fi
