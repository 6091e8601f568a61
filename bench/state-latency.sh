#!/usr/bin/env bash
# How fast a mount answers `graft state` and a metrics scrape while FILES files are open on it: before a
# graph switch, during it (while the sweep moves the open files to the new graph) and after it.
# Measured from outside against a real `graft up` mount (-o metrics=127.0.0.1:0):
#  - socket: one "state" request on the mount's control socket (what `graft state` asks), round trip;
#  - cli:    the whole `graft state MOUNTPOINT` command (adds .NET start-up of the CLI process);
#  - scrape: GET of the Prometheus endpoint (curl).
# The switch inserts a debug/faults layer at the top of the volfile (a new graph, as bench/switching.sh).
# Prints medians and maxima (ms) of each phase (the first request of each kind on a row of its own); target <= 50 ms (issue 16).
#
#   bench/state-latency.sh                # FILES=10000 SAMPLES=20; VERBOSE=1 also prints every sample
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
FILES="${FILES:-10000}"; SAMPLES="${SAMPLES:-20}"
[ "$(id -u)" = 0 ] || { echo "state-latency: needs root (mount)" >&2; exit 1; }
work="$here/.graft/bench/state-latency-$$"
mkdir -p "$work/brick" "$work/mnt" "$here/bench/results"
holder=""
cleanup() {
  [ -n "$holder" ] && kill "$holder" 2>/dev/null || true
  GRAFT_HOME="$work" "$here/graft" down "$work/mnt" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
GRAFT_HOME="$work" "$here/graft" up "$work/brick" "$work/mnt" -o metrics=127.0.0.1:0 >&2
cli=(dotnet "$here/.graft/cli/graft.dll")   # built by ./graft above; run directly so its staleness check is not timed
vol="$(ls "$work"/var/run/*.vol)"
sock="$(python3 -c 'import hashlib,os,sys; p=os.path.realpath(sys.argv[1]); print(os.environ.get("GRAFT_RUN_DIR","/run/graft")+"/mount-"+hashlib.sha256(p.encode()).hexdigest()[:16]+".sock")' "$work/mnt")"
url="$("${cli[@]}" state "$work/mnt" | python3 -c 'import json,sys; print(json.load(sys.stdin)["metricsUrl"])')"

# Holds FILES files open on the mount until its stdin closes.
ulimit -n $((FILES + 1024))
mkdir -p "$work/mnt/open"
coproc HOLD { python3 -u -c '
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
fds = [os.open(os.path.join(d, "f%d" % i), os.O_RDWR | os.O_CREAT, 0o644) for i in range(n)]
print("ready", len(fds), flush=True)
sys.stdin.read()
' "$work/mnt/open" "$FILES"; }
holder=$HOLD_PID
read -r ready count <&"${HOLD[0]}"
echo "holding $count open files" >&2

python3 - "$sock" "$url" "$vol" "$work/mnt" "$SAMPLES" "${cli[@]}" <<'EOF' | tee "$here/bench/results/state-latency.txt"
import json, os, socket, statistics, subprocess, sys, time, urllib.request
sock, url, vol, mnt, samples, cli = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:]

def ask(command):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.settimeout(30); s.connect(sock)
    s.sendall((command + "\n").encode()); chunks = []
    while True:
        b = s.recv(65536)
        if not b: break
        chunks.append(b)
    s.close(); return b"".join(chunks)

def timed(f):
    t = time.perf_counter(); r = f(); return (time.perf_counter() - t) * 1000, r

def socket_state(): return timed(lambda: json.loads(ask("state")))
def cli_state(): return timed(lambda: subprocess.run(cli + ["state", mnt], check=True, capture_output=True))
def scrape(): return timed(lambda: urllib.request.urlopen(url, timeout=30).read())

def phase(name, rounds):
    ms = {"socket": [], "cli": [], "scrape": []}
    for _ in range(rounds):
        ms["socket"].append(socket_state()[0]); ms["cli"].append(cli_state()[0]); ms["scrape"].append(scrape()[0])
    return name, ms

def on_old(state):
    active = state["activeGeneration"]
    return sum(n for gen, n in state["openFiles"].items() if int(gen) != active)

# The first request of each kind runs code the mount has not run yet (JIT, the exporter's first collection):
# shown as a row of its own so that it does not pass for a slow answer under load.
results = [phase("first request of each kind (cold)", 1), phase("before the switch", samples)]

# The switch: a debug/faults layer on top makes a new graph; the open files move to it lazily (sweep).
text = open(vol).read()
top = [l.split()[1] for l in text.splitlines() if l.startswith("volume ")][-1]
gen0 = json.loads(ask("state"))["activeGeneration"]
with open(vol + ".new", "w") as f: f.write(text.rstrip() + "\n\nvolume bench-faults\n    type debug/faults\n    subvolumes %s\nend-volume\n" % top)
os.chmod(vol + ".new", 0o644); os.rename(vol + ".new", vol)
deadline = time.time() + 60
while json.loads(ask("state"))["activeGeneration"] == gen0:
    if time.time() > deadline: sys.exit("the switch did not happen within 60 s")
    time.sleep(0.01)
during = {"socket": [], "cli": [], "scrape": []}
left = []
while time.time() < deadline:
    ms, st = socket_state(); during["socket"].append(ms); left.append(on_old(st))
    if left[-1] == 0 and len(during["socket"]) >= 3: break
    during["cli"].append(cli_state()[0]); during["scrape"].append(scrape()[0])
results.append(("during the switch (open files on the old graph: %d -> %d)" % (left[0], left[-1]), during))
results.append(phase("after the switch", samples))

st = json.loads(ask("state"))
print("graft state and metrics scrape latency, %d open files (%s, load %s)" % (st["openFileCount"], time.strftime("%Y-%m-%d", time.gmtime()), " ".join(open("/proc/loadavg").read().split()[:3])))
print("%-62s %8s %8s %8s" % ("ms (median / max of n)", "socket", "cli", "scrape"))
if os.environ.get("VERBOSE") == "1":
    for name, ms in results:
        for k in ("socket", "cli", "scrape"): print("%s %s: %s" % (name, k, " ".join("%.1f" % v for v in ms[k])), file=sys.stderr)
for name, ms in results:
    cell = lambda k: "%.1f/%.0f" % (statistics.median(ms[k]), max(ms[k])) if ms[k] else "-"
    print("%-62s %8s %8s %8s   n=%d" % (name, cell("socket"), cell("cli"), cell("scrape"), len(ms["socket"])))
EOF
