#!/usr/bin/env bash
# Network benchmark: the same work through the library front end on a local storage/posix graph
# and through protocol/client → loopback → a `graft brick` process, in one run; with --tls, also
# over TLS 1.3 (certificates made here with the openssl commands of docs/security.md). Prints a
# table of medians. Needs root (it drops the page cache before cold reads). The data lives on this
# clone's own filesystem (never tmpfs).
# Usage: bench/network.sh [--tls] [--size-mb 1024] [--runs 5] [--ops 20000] [--stats 20000]
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
out="$here/.graft/netbench"
data="$here/.graft/bench-data"
fs=$(stat -f -c %T "$here")
if [ "$fs" = "tmpfs" ]; then echo "network.sh: $here is on tmpfs; the benchmark needs a real disk" >&2; exit 1; fi
tls=()
if [ "${1:-}" = "--tls" ]; then shift; tls=(--tls-certs "$data/certs"); fi
dotnet build "$here/bench/Graft.NetBench/Graft.NetBench.csproj" -c Release -o "$out" --nologo -v q -clp:ErrorsOnly >&2
rm -rf "$data"; mkdir -p "$data"
trap 'rm -rf "$data"' EXIT

# A CA, a brick certificate for localhost and a client certificate, as docs/security.md makes them.
make_certs() {
    local d="$1"; mkdir -p "$d"; cd "$d"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 3650 -subj "/CN=Graft CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req "${ec[@]}" -keyout brick.key -out brick.csr -subj "/CN=brick" 2>/dev/null
    openssl x509 -req -in brick.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out brick.pem -days 825 \
        -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n") 2>/dev/null
    openssl req "${ec[@]}" -keyout client.key -out client.csr -subj "/CN=client" 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 825 \
        -extfile <(printf "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n") 2>/dev/null
    chmod 600 ./*.key
    cd - >/dev/null
}
if [ ${#tls[@]} -gt 0 ]; then make_certs "$data/certs"; fi
dotnet "$out/Graft.NetBench.dll" --dir "$data" "${tls[@]}" "$@"
