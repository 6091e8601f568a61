#!/usr/bin/env bash
# Network benchmark: the same work through the library front end on a local storage/posix graph
# and through protocol/client → loopback → a `graft brick` process, in one run; prints a table of
# medians. Needs root (it drops the page cache before cold reads). The data lives on this clone's
# own filesystem (never tmpfs).
# Usage: bench/network.sh [--size-mb 1024] [--runs 5] [--ops 20000] [--stats 20000]
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
out="$here/.graft/netbench"
data="$here/.graft/bench-data"
fs=$(stat -f -c %T "$here")
if [ "$fs" = "tmpfs" ]; then echo "network.sh: $here is on tmpfs; the benchmark needs a real disk" >&2; exit 1; fi
dotnet build "$here/bench/Graft.NetBench/Graft.NetBench.csproj" -c Release -o "$out" --nologo -v q -clp:ErrorsOnly >&2
rm -rf "$data"; mkdir -p "$data"
trap 'rm -rf "$data"' EXIT
dotnet "$out/Graft.NetBench.dll" --dir "$data" "$@"
