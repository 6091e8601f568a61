#!/usr/bin/env bash
# protocol/server's write-splice, on against off, alternated in one run (docs/performance.md "Writes spliced from the
# socket"). Two `graft up` volumes side by side, one brick started with `--brick-write-splice 0` (copied: recv into the
# receive buffer, then pwrite), one with the default (the data spliced socket → pipe → file); each round writes a
# SIZE_MB file on each with dd bs=1M conv=fsync from a file in the page cache, the two targets in alternating order.
# MODE=overwrite (default): the file is written once untimed and then rewritten in place each round (its pages stay in
# the page cache: the figures do not follow the VM's free-memory state, docs/fuse-benchmark.md "Session 11");
# MODE=fresh: the file is removed before each write (new pages, as a seqwrite).
# Per write: MB/s, the CPU seconds per GiB written of the brick (user and system apart) and of the mount
# (utime+stime of /proc/PID/stat), and the brick's syscalls per MiB (perf stat raw_syscalls:sys_enter).
# The machine's load moves the rate; the CPU and the syscalls per GiB much less.
#
#   ROUNDS=6 SIZE_MB=256 MODE=overwrite bench/write-splice.sh
set -euo pipefail
. "$(dirname "$(readlink -f "$0")")/lib.sh"
ROUNDS="${ROUNDS:-6}"; SIZE_MB="${SIZE_MB:-256}"; MODE="${MODE:-overwrite}"
case "$MODE" in overwrite|fresh) ;; *) echo "MODE must be overwrite or fresh" >&2; exit 2 ;; esac
bench_init write-splice
hz="$(getconf CLK_TCK)"
src="$work/src"
head -c "$((SIZE_MB << 20))" /dev/urandom > "$src"

onoff_volumes --brick-write-splice 0

ticks() { awk -v f="$2" '{ sub(/.*\) /, ""); print (f == "u" ? $12 : f == "s" ? $13 : $12 + $13) }' "/proc/$1/stat"; }

one_write() { # TARGET → "MB/s brick_user_s/GiB brick_sys_s/GiB mount_s/GiB brick_syscalls/MiB"
  local t="$1" bu0 bs0 m0 bu1 bs1 m1 t0 t1 calls
  [ "$MODE" = fresh ] && rm -f "${mp[$t]}/f"
  bu0="$(ticks "${brick_pid[$t]}" u)"; bs0="$(ticks "${brick_pid[$t]}" s)"; m0="$(ticks "${mount_pid[$t]}" a)"
  t0="$(date +%s.%N)"
  perf stat -x, -e raw_syscalls:sys_enter -p "${brick_pid[$t]}" -o "$work/stat" -- \
    dd if="$src" of="${mp[$t]}/f" bs=1M conv=fsync,notrunc 2>/dev/null
  t1="$(date +%s.%N)"
  bu1="$(ticks "${brick_pid[$t]}" u)"; bs1="$(ticks "${brick_pid[$t]}" s)"; m1="$(ticks "${mount_pid[$t]}" a)"
  calls="$(awk -F, '/raw_syscalls:sys_enter/ { print $1 }' "$work/stat")"
  awk -v mb="$SIZE_MB" -v t0="$t0" -v t1="$t1" -v bu="$((bu1 - bu0))" -v bs="$((bs1 - bs0))" -v m="$((m1 - m0))" -v hz="$hz" -v c="${calls:-0}" \
    'BEGIN { g = mb / 1024; printf "%.0f %.2f %.2f %.2f %.1f\n", mb * 1048576 / 1e6 / (t1 - t0), bu / hz / g, bs / hz / g, m / hz / g, c / mb }'
}

# One untimed write per target first: a fresh brick and mount pay their JIT compilation there (and overwrite has its file).
for t in on off; do dd if="$src" of="${mp[$t]}/f" bs=1M conv=fsync 2>/dev/null; done

for round in $(seq 1 "$ROUNDS"); do
  order="on off"; [ $((round % 2)) = 0 ] && order="off on"
  for t in $order; do
    line="$(one_write "$t")"
    echo "round $round write-splice $t: MB/s brick_user_s/GiB brick_sys_s/GiB mount_s/GiB brick_syscalls/MiB = $line" | tee -a "$results"
  done
done

echo
echo "medians over $ROUNDS rounds, MODE=$MODE $SIZE_MB MiB (MB/s, brick user+sys s/GiB, brick sys, mount s/GiB, brick syscalls/MiB):"
for t in on off; do
  grep " write-splice $t:" "$results" | awk -v t="$t" '{ r[NR] = $(NF-4); u[NR] = $(NF-3); s[NR] = $(NF-2); m[NR] = $(NF-1); c[NR] = $NF; b[NR] = $(NF-3) + $(NF-2) }
    function med(a, n,   i, j, x) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { x = a[i]; a[i] = a[j]; a[j] = x }
                                     return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END { printf "  write-splice %-3s %6.0f MB/s  brick %.2f (sys %.2f)  mount %.2f  brick syscalls/MiB %.1f\n", t, med(r, NR), med(b, NR), med(s, NR), med(m, NR), med(c, NR) }'
done
