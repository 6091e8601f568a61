#!/usr/bin/env bash
# create / stat / unlink rates of a mounted distributed volume with 1, 2 and 4 bricks (brick
# processes on loopback, cluster/distribute over protocol/clients, `graft mount`), JOBS processes
# at once, each in its own directory (Graft.FsBench: create = 4 KiB files). The rate is all jobs'
# files over the wall time of the slowest. Median of RUNS; the load average is printed with it.
#
#   bench/distribute.sh              # RUNS=3 JOBS=4 FILES=1000 (per job) BRICKS="1 2 4"
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
RUNS="${RUNS:-3}"
JOBS="${JOBS:-4}"
FILES="${FILES:-1000}"
BRICKS="${BRICKS:-1 2 4}"
[ "$(id -u)" = 0 ] || { echo "distribute bench: needs root" >&2; exit 1; }
work="$here/.graft/bench/distribute-$$"
mkdir -p "$work"
results="$work/results.txt"
dotnet build "$here/bench/Graft.FsBench/Graft.FsBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
"$here/graft" --version >/dev/null   # builds the CLI once, before any timing
fsbench=(dotnet "$here/bench/Graft.FsBench/bin/Release/net10.0/Graft.FsBench.dll")
pids=()
cleanup() {
  GRAFT_HOME="$work" "$here/graft" umount "$work/mnt" >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The bricks' secret: a session without it is root-squashed and never gets trusted.* xattrs,
# which distribute keeps its layouts in.
secret="$work/secret"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret"
chmod 600 "$secret"

# Starts N bricks and mounts a distribute volume over them on $work/mnt.
up() {
  local n="$1" vol="$work/client.vol" i port
  : > "$vol"
  pids=()
  for i in $(seq 0 $((n - 1))); do
    mkdir -p "$work/b$n-$i/b$i"
    "$here/graft" brick --dir "$work/b$n-$i/b$i" --port 0 --secret-file "$secret" > "$work/brick$i.out" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 600); do grep -q '^listening' "$work/brick$i.out" && break; sleep 0.1; done
    port="$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$work/brick$i.out")"
    [ -n "$port" ] || { echo "brick $i did not start" >&2; cat "$work/brick$i.out" >&2; exit 1; }
    printf 'volume b%d\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port %s\n    option remote-subvolume b%d\n    option secret-file %s\nend-volume\n' \
      "$i" "$port" "$i" "$secret" >> "$vol"
  done
  printf 'volume dht\n    type cluster/distribute\n    subvolumes %s\nend-volume\n' "$(seq -f 'b%g' -s ' ' 0 $((n - 1)))" >> "$vol"
  mkdir -p "$work/mnt"
  GRAFT_HOME="$work" "$here/graft" mount --volfile "$vol" "$work/mnt" >&2
}

down() {
  GRAFT_HOME="$work" "$here/graft" umount "$work/mnt" >&2
  for p in "${pids[@]}"; do kill "$p"; done
  wait 2>/dev/null || true
  pids=()
}

now() { date +%s.%N; }
: > "$results"
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
awk -v load="$load0" -v runs="$RUNS" -v jobs="$JOBS" -v files="$FILES" '
  { k = $1 "," $2; v[k] = v[k] " " $3; seen[$1] = 1 }
  function median(s,   x, n, i, j, t) {
    n = split(s, x, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
  }
  END {
    printf "distribute, %d jobs x %d files, median of %d runs; load average before: %s\n", jobs, files, runs, load
    printf "%-7s %12s %12s %12s\n", "bricks", "create/s", "stat/s", "unlink/s"
    for (n = 1; n <= 64; n++) if (n in seen)
      printf "%-7d %12.0f %12.0f %12.0f\n", n, median(v[n ",create"]), median(v[n ",stat"]), median(v[n ",unlink"])
  }' "$results"
