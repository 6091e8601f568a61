# The prelude the brick benches share (bench/distribute.sh, rebalance.sh, replicate.sh): sourced, never run.
#
#   . "$(dirname "$(readlink -f "$0")")/lib.sh"
#   bench_init NAME          # root check, $here, $work (.graft/bench/NAME-PID), $results, $secret, cleanup trap
#   bench_fsbench            # builds Graft.FsBench once; $fsbench is the command
#   brick_start DIR LOG      # a brick process on DIR with the secret; its pid in $pids, its port in $port
#                            # ($graft, when set, is the graft command of bricks and mounts; default this clone's)
#   client_volume N PORT     # the protocol/client stanza "bN" for a brick on PORT
#   bench_mount VOLFILE / bench_umount / bricks_stop
#   onoff_volumes ARGS...    # two `graft up` volumes side by side: "on" with the defaults, "off" with ARGS (the option
#                            # under test switched off); mp, brick_pid, mount_pid by "on"/"off"; taken down on exit
#   awk "$AWK_MEDIAN ..."    # median(s): the median of a space-separated list of numbers

bench_init() {
  local name="$1"
  here="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
  [ "$(id -u)" = 0 ] || { echo "$name bench: needs root" >&2; exit 1; }
  work="$here/.graft/bench/$name-$$"
  mkdir -p "$work"
  results="$work/results.txt"
  : > "$results"
  pids=()
  trap bench_cleanup EXIT
  # The bricks' secret: a session without it is root-squashed and never gets trusted.* xattrs, which
  # distribute keeps its layouts in and replicate its pending counters.
  secret="$work/secret"
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$secret"
  chmod 600 "$secret"
  "$here/graft" --version >/dev/null   # builds the CLI once, before any timing
}

bench_cleanup() {
  GRAFT_HOME="$work" "$here/graft" umount "$work/mnt" >/dev/null 2>&1 || true
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

bench_fsbench() {
  dotnet build "$here/bench/Graft.FsBench/Graft.FsBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
  fsbench=(dotnet "$here/bench/Graft.FsBench/bin/Release/net10.0/Graft.FsBench.dll")
}

# brick_start DIR LOG [ARGS...]: starts a brick on DIR (created) logging to LOG, waits (at most 60 s)
# for its "listening" line; sets $port and adds the process to $pids.
brick_start() {
  local dir="$1" log="$2"
  shift 2
  mkdir -p "$dir"
  "${graft:-$here/graft}" brick --dir "$dir" --port 0 --secret-file "$secret" "$@" > "$log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 1 600); do grep -q '^listening' "$log" && break; sleep 0.1; done
  port="$(sed -n 's/^listening .*:\([0-9]*\)$/\1/p' "$log")"
  [ -n "$port" ] || { echo "brick on $dir did not start" >&2; cat "$log" >&2; exit 1; }
}

# client_volume N PORT: volume bN, a protocol/client of brick bN (its directory's name) on PORT.
client_volume() {
  printf 'volume b%d\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port %s\n    option remote-subvolume b%d\n    option secret-file %s\nend-volume\n' \
    "$1" "$2" "$1" "$secret"
}

bench_mount() {
  mkdir -p "$work/mnt"
  GRAFT_HOME="$work" "${graft:-$here/graft}" mount --volfile "$1" "$work/mnt" >&2
}

bench_umount() { GRAFT_HOME="$work" "${graft:-$here/graft}" umount "$work/mnt" >&2; }

bricks_stop() {
  local p
  for p in "${pids[@]}"; do kill "$p"; done
  wait 2>/dev/null || true
  pids=()
}

# shellcheck disable=SC2034 # used by the sourcing scripts' awk programs
AWK_MEDIAN='
  function median(s,   x, n, i, j, t) {
    n = split(s, x, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] + 0 < x[i] + 0) { t = x[i]; x[i] = x[j]; x[j] = t }
    return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
  }'

onoff_volumes() {
  declare -gA mp brick_pid mount_pid
  trap 'onoff_down; bench_cleanup' EXIT
  local t out args
  for t in on off; do
    mp[$t]="$work/mnt-$t"
    args=(); [ "$t" = off ] && args=("$@")
    out="$(GRAFT_HOME="$work" "$here/graft" up "${args[@]}" "$work/brick-$t" "${mp[$t]}")"
    echo "$out" >&2
    brick_pid[$t]="$(sed -n 's/^up: brick .* (pid \([0-9]*\),.*/\1/p' <<<"$out")"
    mount_pid[$t]="$(sed -n 's/.* mounted on .* (pid \([0-9]*\))$/\1/p' <<<"$out")"
  done
}

onoff_down() {
  local t
  for t in on off; do [ -n "${mp[$t]:-}" ] && GRAFT_HOME="$work" "$here/graft" down "${mp[$t]}" >/dev/null 2>&1 || true; done
}
