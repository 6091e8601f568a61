#!/usr/bin/env bash
# Round trips the brick serves per file through `graft up`: FILES files created (4 KiB each), stat'ed cold (caches
# dropped), stat'ed again warm, and unlinked, one job each (bench/Graft.FsBench), with the brick's per-fop counts
# (graft_brick_fop_duration_seconds_count, `graft up --brick-metrics`) read before and after each phase, and the
# requests the kernel sent the mount daemon (bench/fuse-trace.sh).
#
#   bench/fop-counts.sh                                          # the default mount
#   MOUNT_OPTS=attr_timeout=30,entry_timeout=30 bench/fop-counts.sh   # longer kernel timeouts (safe with upcall)
#
#   PAUSE=2 bench/fop-counts.sh                 # wait 2 s between the phases (kernel entries of 1 s expire meanwhile)
#
# Needs root (mount, drop_caches, tracefs). Prints two lines per phase: brick fops per file, in total and by fop, and
# FUSE requests per file, in total and by opcode.
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
FILES="${FILES:-200}"
PAUSE="${PAUSE:-0}"
PORT="${METRICS_PORT:-9477}"
[ "$(id -u)" = 0 ] || { echo "fop-counts: needs root (mount, drop_caches)" >&2; exit 1; }
mkdir -p "$here/.graft"
work="$(mktemp -d "$here/.graft/fop-counts.XXXXXX")"
cleanup() { GRAFT_HOME="$work" "$here/graft" down "$work/mnt" >/dev/null 2>&1 || GRAFT_HOME="$work" "$here/graft" umount "$work/mnt" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
dotnet build "$here/bench/Graft.FsBench/Graft.FsBench.csproj" -c Release --nologo -v q -clp:ErrorsOnly >&2
fsbench=(dotnet "$here/bench/Graft.FsBench/bin/Release/net10.0/Graft.FsBench.dll")
. "$here/bench/fuse-trace.sh"
args=(up "$work/brick" "$work/mnt" --brick-metrics "127.0.0.1:$PORT")
[ -n "${MOUNT_OPTS:-}" ] && args+=(-o "$MOUNT_OPTS")
GRAFT_HOME="$work" "$here/graft" "${args[@]}" >&2

# "fop count" lines of the brick's metrics, one per fop.
counts() {
  curl -sf "http://127.0.0.1:$PORT/metrics" | grep '^graft_brick_fop_duration_seconds_count' \
    | sed -E 's/.*fop="([a-z_]+)".*\} ([0-9]+).*/\1 \2/'
}

phase() {
  local name="$1"; shift
  local before after fuse
  sleep "$PAUSE"
  before="$(counts)"
  fuse_trace_begin "$work/mnt"
  "$@" >/dev/null
  fuse="$(fuse_trace_end "$FILES")"
  after="$(counts)"
  join -a2 -e 0 -o 0,1.2,2.2 <(sort <<<"$before") <(sort <<<"$after") \
    | awk -v files="$FILES" -v name="$name" '
        { d = $3 - $2; if (d > 0) { total += d; by = by sprintf(" %s %.2f", $1, d / files) } }
        END { printf "%-12s %.2f fops/file:%s\n", name, total / files, by }'
  printf '%-12s %s\n' "" "$fuse"
}

d="$work/mnt/fc"
mkdir -p "$d"
phase create "${fsbench[@]}" create "$d" --files "$FILES" --jobs 1
sync; echo 3 > /proc/sys/vm/drop_caches
phase stat-cold "${fsbench[@]}" stat "$d" --files "$FILES" --jobs 1
phase stat-warm "${fsbench[@]}" stat "$d" --files "$FILES" --jobs 1
phase unlink "${fsbench[@]}" unlink "$d" --files "$FILES" --jobs 1
