#!/usr/bin/env bash
# Switching and retirement benchmark: memory per switch over 1,000 switches with 100 idle open
# files, switch → active and switch → old graph destroyed latencies, and 1 MiB sequential write
# MB/s with write-behind on and off, all through the library front end on protocol/client over
# loopback to a `graft brick` process. Prints a table of medians. The data lives on this clone's
# own filesystem (never tmpfs).
# Usage: bench/retirement.sh [--runs 5] [--switches 1000] [--size-mb 256] [--files 100]
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
out="$here/.graft/switchbench"
data="$here/.graft/switchbench-data"
fs=$(stat -f -c %T "$here")
if [ "$fs" = "tmpfs" ]; then echo "retirement.sh: $here is on tmpfs; the benchmark needs a real disk" >&2; exit 1; fi
dotnet build "$here/bench/Graft.SwitchBench/Graft.SwitchBench.csproj" -c Release -o "$out" --nologo -v q -clp:ErrorsOnly >&2
rm -rf "$data"; mkdir -p "$data"
trap 'rm -rf "$data"' EXIT
dotnet "$out/Graft.SwitchBench.dll" --dir "$data" "$@"
